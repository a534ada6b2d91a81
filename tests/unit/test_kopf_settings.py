"""kopf's settings as the operator configures them: bounded wherever kopf's defaults are not."""

from __future__ import annotations

import kopf

from wafleet_operator.config import OperatorSettings
from wafleet_operator.handlers.startup import configure_kopf


def configured() -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    configure_kopf(settings, OperatorSettings())
    return settings


def test_event_posting_is_bounded_and_its_idle_workers_leave_quickly() -> None:
    """Unbounded, a burst of Events opened a TLS connection (~0.3 MB, kept open) per poster."""
    posting = configured().posting
    assert posting.worker_limit is not None
    # An idle poster holds its slot: throughput is about worker_limit / idle_timeout per second.
    assert posting.worker_limit / posting.idle_timeout >= 100


def test_per_object_workers_are_bounded() -> None:
    assert configured().queueing.worker_limit is not None
