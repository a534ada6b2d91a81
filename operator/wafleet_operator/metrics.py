"""Prometheus metrics of the operator, served on the metrics port."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RECONCILES = Counter(
    "wafleet_reconciles_total",
    "Account reconciliations by trigger and result.",
    ["trigger", "result"],
)
RECONCILE_SECONDS = Histogram(
    "wafleet_reconcile_seconds", "Time to reconcile one account.", ["trigger"]
)
ACCOUNTS_BY_PHASE = Gauge("wafleet_accounts", "WhatsAppAccounts by phase.", ["phase"])
INVALID_SPECS = Counter(
    "wafleet_invalid_specs_total",
    "Reconciliations stopped by an invalid spec, by field.",
    ["field"],
)


class PhaseBook:
    """Remembers each account's last phase so the by-phase gauge stays exact."""

    def __init__(self) -> None:
        self._phases: dict[tuple[str, str], str] = {}

    def set(self, namespace: str, name: str, phase: str) -> None:
        old = self._phases.get((namespace, name))
        if old == phase:
            return
        if old is not None:
            ACCOUNTS_BY_PHASE.labels(phase=old).dec()
        ACCOUNTS_BY_PHASE.labels(phase=phase).inc()
        self._phases[(namespace, name)] = phase

    def forget(self, namespace: str, name: str) -> None:
        old = self._phases.pop((namespace, name), None)
        if old is not None:
            ACCOUNTS_BY_PHASE.labels(phase=old).dec()


def serve(port: int) -> None:
    """Start the /metrics endpoint (a daemon thread); port 0 disables it."""
    if port:
        start_http_server(port)
