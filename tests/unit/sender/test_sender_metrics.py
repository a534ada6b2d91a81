"""A sender replica's metrics: read from its SenderStats when scraped, labelled by pool."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from session_runner.sender.metrics import (
    OUTCOMES,
    SenderView,
    outcome_counts,
    pool_label,
    sender_registry,
)
from session_runner.sender.worker import SenderStats

POOL = "default/twilio-us"


def _sample(view: SenderView, name: str, **labels: str) -> float | None:
    return sender_registry(view, process=False).get_sample_value(name, {"pool": POOL, **labels})


@pytest.mark.parametrize(
    ("field", "outcome"),
    [
        ("sent", "sent"),
        ("failed", "failed"),
        ("retried", "retried"),
        ("duplicates_skipped", "duplicate"),
        ("unknown", "unknown"),
    ],
)
def test_each_outcome_reads_its_own_stat(field: str, outcome: str) -> None:
    stats = dataclasses.replace(SenderStats(), **{field: 7})
    assert outcome_counts(stats) == {o: 7 if o == outcome else 0 for o, _ in OUTCOMES}


def test_every_settled_stat_has_an_outcome() -> None:
    """A counter added to SenderStats later must get an outcome label (or be named here)."""
    not_outcomes = {"received", "late_slots", "last_receive_at"}
    fields = {f.name for f in dataclasses.fields(SenderStats)} - not_outcomes
    assert {field for _, field in OUTCOMES} == fields


def test_the_collector_reads_the_stats_object_at_scrape_time() -> None:
    stats = SenderStats()
    held = [0]
    view = SenderView(POOL, stats, lambda: held[0])
    registry = sender_registry(view, process=False)
    sent = {"pool": POOL, "outcome": "sent"}
    assert registry.get_sample_value("wafleet_sender_messages_total", sent) == 0
    stats.received += 3
    stats.sent += 2
    stats.duplicates_skipped += 1
    held[0] = 1
    assert registry.get_sample_value("wafleet_sender_messages_total", sent) == 2
    duplicate = {"pool": POOL, "outcome": "duplicate"}
    assert registry.get_sample_value("wafleet_sender_messages_total", duplicate) == 1
    assert registry.get_sample_value("wafleet_sender_received_messages_total", {"pool": POOL}) == 3
    assert registry.get_sample_value("wafleet_sender_messages_holding", {"pool": POOL}) == 1


@pytest.mark.parametrize(
    ("paused", "expected"),
    [
        pytest.param(lambda: True, 1.0, id="throttled"),
        pytest.param(lambda: False, 0.0, id="sending"),
        pytest.param(None, None, id="not known: no sample"),
    ],
)
def test_paused_gauge(paused: Callable[[], bool] | None, expected: float | None) -> None:
    view = SenderView(POOL, SenderStats(), lambda: 0, paused)
    assert _sample(view, "wafleet_sender_pool_paused") == expected


def test_exposition_is_prometheus_text_with_typed_families() -> None:
    stats = SenderStats(sent=1, failed=2, retried=3, duplicates_skipped=4, unknown=5)
    view = SenderView(POOL, stats, lambda: 0, lambda: False)
    text = generate_latest(sender_registry(view, process=False)).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["wafleet_sender_messages"].type == "counter"
    assert families["wafleet_sender_received_messages"].type == "counter"
    assert families["wafleet_sender_messages_holding"].type == "gauge"
    assert families["wafleet_sender_pool_paused"].type == "gauge"
    by_outcome = {
        s.labels["outcome"]: s.value
        for s in families["wafleet_sender_messages"].samples
        if s.name.endswith("_total")
    }
    assert by_outcome == {"sent": 1, "failed": 2, "retried": 3, "duplicate": 4, "unknown": 5}
    assert {s.labels["pool"] for f in families.values() for s in f.samples} == {POOL}


def test_the_process_collectors_come_along_and_no_session_metrics() -> None:
    view = SenderView(POOL, SenderStats(), lambda: 0)
    text = generate_latest(sender_registry(view)).decode()
    names = {f.name for f in text_string_to_metric_families(text)}
    assert "python_info" in names
    assert not [name for name in names if name.startswith("wafleet_runner_")]


@pytest.mark.parametrize(
    ("namespace", "name", "label"),
    [("default", "twilio-us", "default/twilio-us"), ("tenant-a", "demo", "tenant-a/demo")],
)
def test_pool_label_names_the_namespace_too(namespace: str, name: str, label: str) -> None:
    assert pool_label(namespace, name) == label
