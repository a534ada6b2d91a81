"""Prometheus metrics of the session runner (lease and fencing), served on its metrics port.

The snapshot layer's metrics (session_runner/session/snapshot/metrics.py) share the
same default registry, so one scrape of the pod's `metrics` port shows both.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, generate_latest

LEASE_HELD = Gauge("wafleet_runner_lease_held", "1 while this runner holds its account's lease.")
FENCING_TOKEN = Gauge(
    "wafleet_runner_fencing_token", "Fencing token of the lease this runner holds (-1: none)."
)
LEASE_LOST = Counter(
    "wafleet_runner_lease_lost_total",
    "Engine stops because renewal failed for the renew deadline or storage refused the token"
    " (the latter also releases the lease).",
)
START_FAILED = Counter(
    "wafleet_runner_start_failures_total",
    "Session starts (restore or engine start) that raised; each releases the lease.",
)
FENCED = Counter(
    "wafleet_runner_fenced_total",
    "Fencing events: a WhatsApp conflict or the wafleet.io/fenced annotation.",
)
FENCING_TOKEN.set(-1)


def holding(token: int | None) -> None:
    """The lease is held with `token`, or (None) not held any more."""
    LEASE_HELD.set(0 if token is None else 1)
    FENCING_TOKEN.set(-1 if token is None else token)


def exposition() -> tuple[bytes, str]:
    """The default registry in Prometheus' text format, and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST
