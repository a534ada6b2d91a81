"""Keep the garbage collector's full collections off a latency-sensitive loop.

A full (generation 2) collection walks every tracked object in the process:
the imported modules' classes and functions, botocore's service models,
pydantic's validators. In the dispatcher that was a 96 ms pause at start-up
(measured with `gc.callbacks` in the webhooks bench), every delivery in flight
held up behind it. Those objects live as long as the process, so after start-up
`gc.freeze()` moves them to a permanent generation the collector no longer
walks (what CPython documents it for); cycles made later are collected as
before, only faster.
"""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Collect once, then freeze what survives: call when start-up is done, before serving."""
    gc.collect()
    gc.freeze()
