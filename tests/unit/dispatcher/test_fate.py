"""The table of what becomes of a delivery: attempted, held for a tombstoned subscription
set to Replay, or dropped."""

from __future__ import annotations

from dataclasses import replace

import pytest

from session_runner.dispatcher.fate import HOLD_S, Fate, fate
from session_runner.dispatcher.subscriber import Subscriber

NOW = 1_765_000_000.0
LIVE = Subscriber(
    namespace="shop",
    name="crm",
    generation=3,
    url="https://crm.example.com/hooks",
    event_types=frozenset({"message.received"}),
    accounts=frozenset(),
    secret_name="hooks",
    secret_key="secret",
)
REPLAYING = replace(LIVE, replay_held=True)


@pytest.mark.parametrize(
    ("subscriber", "switched_off", "since", "expected"),
    [
        pytest.param(LIVE, False, NOW, Fate.ATTEMPT, id="live: attempted"),
        pytest.param(None, False, NOW, Fate.DROP, id="deleted: dropped"),
        pytest.param(replace(LIVE, disabled=True), False, NOW, Fate.DROP, id="disabled: dropped"),
        pytest.param(
            replace(REPLAYING, disabled=True), False, NOW, Fate.DROP, id="disabled, Replay: dropped"
        ),
        pytest.param(replace(LIVE, tombstoned=True), False, NOW, Fate.DROP, id="tombstoned, Drop"),
        pytest.param(LIVE, True, NOW, Fate.DROP, id="switched off here, Drop"),
        pytest.param(replace(REPLAYING, tombstoned=True), False, NOW, Fate.HOLD, id="Replay: held"),
        pytest.param(REPLAYING, True, NOW, Fate.HOLD, id="switched off here, Replay: held"),
        pytest.param(
            replace(REPLAYING, tombstoned=True),
            False,
            NOW - HOLD_S + 1,
            Fate.HOLD,
            id="held almost a day: still held",
        ),
        pytest.param(
            replace(REPLAYING, tombstoned=True),
            False,
            NOW - HOLD_S,
            Fate.DROP,
            id="held a day: dropped",
        ),
        pytest.param(REPLAYING, False, NOW - 10 * HOLD_S, Fate.ATTEMPT, id="resurrected: sent"),
    ],
)
def test_fate(
    subscriber: Subscriber | None, switched_off: bool, since: float, expected: Fate
) -> None:
    assert fate(subscriber, switched_off, since, NOW) is expected


@pytest.mark.parametrize(
    ("tombstone", "replay"),
    [({}, False), ({"heldEvents": "Drop"}, False), ({"heldEvents": "Replay"}, True)],
)
def test_the_field_is_read_from_the_object(tombstone: dict[str, str], replay: bool) -> None:
    obj = {
        "metadata": {"namespace": "shop", "name": "crm", "generation": 1},
        "spec": {
            "url": "https://crm.example.com/hooks",
            "eventTypes": ["message.received"],
            "signingSecret": {"name": "hooks"},
            "tombstone": tombstone,
        },
    }
    assert Subscriber.from_object(obj).replay_held is replay
