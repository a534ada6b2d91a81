"""Structured JSON logs for every wafleet process (operator, runner), library records included.

Nothing here ever receives a Secret value: the operator reads Secret key names
for validation and credentials only for snapshot deletion, and logs neither.

A standard-library record's `extra` (e.g. `log.info("lease acquired",
extra={"identity": ..., "token": ...})`) becomes fields of its JSON line:
those fields are what an incident is searched by (which process held the
lease, with which fencing token), and without them a JSON line says less than
the plain-text line would.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog

#: Attributes every LogRecord has (plus those Formatter.format and Python 3.12 add):
#: anything else on a record came from `extra`.
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}
#: `extra` keys never copied: kopf's per-object logger attaches its whole `settings`
#: object (a page of repr in every line) and `k8s_skip`, a flag for its event poster.
_DROPPED_EXTRA = frozenset({"settings", "k8s_skip"})


def add_extra(_: Any, __: str, event_dict: structlog.types.EventDict) -> structlog.types.EventDict:
    """Copy a stdlib record's `extra` into the event, never over a field already there.

    Underscored keys are private (structlog's own `_record`, `_from_structlog`);
    a key that collides with one the chain set (`event`, `level`, `timestamp`,
    `logger`) is dropped rather than let an `extra` forge it.
    """
    record = event_dict.get("_record")
    if not isinstance(record, logging.LogRecord):
        return event_dict
    for key, value in record.__dict__.items():
        if (
            key in _RECORD_ATTRIBUTES
            or key in _DROPPED_EXTRA
            or key.startswith("_")
            or key in event_dict
        ):
            continue
        event_dict[key] = value
    return event_dict


def configure(level: str = "info", fmt: str = "json") -> None:
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[structlog.types.Processor] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    handler = logging.StreamHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, add_extra],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiohttp.access", "botocore", "urllib3", "kubernetes_asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
