"""The ledger on the moto server: races, expiry, fencing and failures, over real HTTP.

Expiry is reached by giving a replica a clock that runs ahead (as a node's
clock does after the claim's lease has passed), never by sleeping.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from session_runner.sender.ledger import (
    ClaimOutcome,
    Ledger,
    LedgerError,
    client_config,
    ensure_table,
)
from session_runner.sender.ledger_decision import (
    MAX_REASON_CHARS,
    ClaimAction,
    LedgerEntry,
    LedgerState,
)

TABLE = "wafleet-outbound-ledger"
LEASE = 30.0
A, B = "sender-0/1f2e", "sender-1/9a8b"
#: Long and random-looking, so the secret scan's rules would find any form of it.
SECRET = "sk_live_6fQ2xN9vR4tL8pZ1wK7jH3mB5cD0"


def later(seconds: float) -> Callable[[], float]:
    """A wall clock `seconds` ahead of this one."""
    return lambda: time.time() + seconds


@pytest.fixture
def make_client(aws: Any) -> Callable[[], Any]:
    """A fresh client per replica (as separate processes have), on a table that exists."""
    first = boto3.client("dynamodb", config=client_config(2.0), **aws.server.client_kwargs())
    ensure_table(first, TABLE)
    return lambda: boto3.client("dynamodb", config=client_config(2.0), **aws.server.client_kwargs())


@pytest.fixture
def client(make_client: Callable[[], Any]) -> Any:
    return make_client()


def stored(client: Any, message_id: str) -> dict[str, Any]:
    response = client.get_item(TableName=TABLE, Key={"id": {"S": message_id}}, ConsistentRead=True)
    return response["Item"]  # type: ignore[no-any-return]


def run_before_next_put(client: Any, interloper: Callable[[], object]) -> None:
    """Make `interloper` happen between `client`'s read and its next PutItem: a lost race.

    botocore's own event hook on this one client; the interloper runs in the
    worker thread of the call it delays, with its own client and loop.
    """
    fired = False

    def before_put(**_: Any) -> None:
        nonlocal fired
        if not fired:
            fired = True
            interloper()

    client.meta.events.register("before-call.dynamodb.PutItem", before_put)


async def test_the_item_layout(client: Any) -> None:
    ledger = Ledger(client, TABLE, clock=lambda: 1_750_000_000.5)
    outcome = await ledger.claim("msg-1", A, LEASE, token=3)
    assert outcome.action is ClaimAction.CLAIM
    assert stored(client, "msg-1") == {
        "id": {"S": "msg-1"},
        "state": {"S": "SENDING"},
        "claimer": {"S": A},
        "claim_expires_at": {"N": "1750000030.5"},
        "attempts": {"N": "1"},
        "updated_at": {"N": "1750000000.5"},
        "token": {"N": "3"},
    }
    assert await ledger.record_sent("msg-1", A, "wamid.HBgL", token=3)
    assert await ledger.get("msg-1") == LedgerEntry(
        message_id="msg-1",
        state=LedgerState.SENT,
        claimer=A,
        claim_expires_at=1_750_000_030.5,
        attempts=1,
        vendor_message_id="wamid.HBgL",
        token=3,
        updated_at=1_750_000_000.5,
    )
    assert await ledger.get("msg-2") is None


async def test_two_concurrent_claimers_of_one_id_get_exactly_one_claim(
    make_client: Callable[[], Any],
) -> None:
    first, second = Ledger(make_client(), TABLE), Ledger(make_client(), TABLE)
    ids = [f"msg-{i}" for i in range(12)]
    outcomes = await asyncio.gather(
        *(ledger.claim(i, name, LEASE) for i in ids for ledger, name in ((first, A), (second, B)))
    )
    client = make_client()
    for i, pair in zip(ids, zip(outcomes[::2], outcomes[1::2], strict=True), strict=True):
        actions = sorted(outcome.action for outcome in pair)
        assert actions == [ClaimAction.BUSY, ClaimAction.CLAIM]
        winner = next(outcome for outcome in pair if outcome.action is ClaimAction.CLAIM)
        loser = next(outcome for outcome in pair if outcome.action is ClaimAction.BUSY)
        assert stored(client, i)["claimer"] == {"S": winner.entry.claimer}
        assert loser.entry.claimer == winner.entry.claimer  # the loser was told who holds it
        assert 0 < loser.retry_after_s <= LEASE


async def test_a_claim_that_loses_the_race_after_reading_rereads_and_is_busy(
    make_client: Callable[[], Any],
) -> None:
    """Both read 'absent' and decide CLAIM; the second write is refused by DynamoDB."""
    slow_client = make_client()
    slow, fast = Ledger(slow_client, TABLE), Ledger(make_client(), TABLE)
    fast_outcomes: list[ClaimOutcome] = []
    run_before_next_put(
        slow_client, lambda: fast_outcomes.append(asyncio.run(fast.claim("msg-1", B, LEASE)))
    )
    outcome = await slow.claim("msg-1", A, LEASE)
    assert [o.action for o in fast_outcomes] == [ClaimAction.CLAIM]
    assert outcome.action is ClaimAction.BUSY
    assert outcome.entry.claimer == B
    assert stored(slow_client, "msg-1")["claimer"] == {"S": B}


async def test_an_expired_claim_is_reclaimed_and_the_first_claimers_late_record_is_refused(
    make_client: Callable[[], Any],
) -> None:
    first = Ledger(make_client(), TABLE)
    second = Ledger(make_client(), TABLE, clock=later(LEASE + 1))  # A's claim has run out
    claimed = await first.claim("msg-1", A, LEASE)
    assert claimed.action is ClaimAction.CLAIM

    reclaimed = await second.claim("msg-1", B, LEASE)
    assert reclaimed.action is ClaimAction.RECLAIM
    assert reclaimed.must_ask_vendor
    assert reclaimed.may_send
    assert reclaimed.previous == claimed.entry
    assert reclaimed.entry.attempts == 2

    # A wakes up from its stall: nothing it writes lands
    assert not await first.record_sent("msg-1", A, "wamid.late")
    assert not await first.record_failed("msg-1", A, "timeout")
    assert not await first.extend("msg-1", A, LEASE)
    entry = await first.get("msg-1")
    assert entry is not None
    assert (entry.state, entry.claimer, entry.vendor_message_id) == (LedgerState.SENDING, B, None)

    assert await second.record_sent("msg-1", B, "wamid.HBgL")
    done = await first.claim("msg-1", A, LEASE)
    assert done.action is ClaimAction.DONE
    assert done.entry.vendor_message_id == "wamid.HBgL"


async def test_two_reclaimers_of_one_expired_claim_get_exactly_one_reclaim(
    make_client: Callable[[], Any],
) -> None:
    await Ledger(make_client(), TABLE).claim("msg-1", "sender-dead/0000", LEASE)
    ahead = later(LEASE + 1)
    first, second = (
        Ledger(make_client(), TABLE, clock=ahead),
        Ledger(make_client(), TABLE, clock=ahead),
    )
    outcomes = await asyncio.gather(first.claim("msg-1", A, LEASE), second.claim("msg-1", B, LEASE))
    assert sorted(o.action for o in outcomes) == [ClaimAction.BUSY, ClaimAction.RECLAIM]


async def test_a_reclaim_that_loses_the_race_rereads_and_is_busy(
    make_client: Callable[[], Any],
) -> None:
    await Ledger(make_client(), TABLE).claim("msg-1", "sender-dead/0000", LEASE)
    slow_client, ahead = make_client(), later(LEASE + 1)
    slow = Ledger(slow_client, TABLE, clock=ahead)
    fast = Ledger(make_client(), TABLE, clock=ahead)
    fast_outcomes: list[ClaimOutcome] = []
    run_before_next_put(
        slow_client, lambda: fast_outcomes.append(asyncio.run(fast.claim("msg-1", B, LEASE)))
    )
    outcome = await slow.claim("msg-1", A, LEASE)
    assert [o.action for o in fast_outcomes] == [ClaimAction.RECLAIM]
    assert outcome.action is ClaimAction.BUSY
    assert outcome.entry.claimer == B
    assert outcome.entry.attempts == 2  # one reclaim landed, not two


async def test_extend_keeps_a_long_send_claimed(make_client: Callable[[], Any]) -> None:
    first = Ledger(make_client(), TABLE)
    await first.claim("msg-1", A, LEASE)
    assert await first.extend("msg-1", A, 3 * LEASE)
    assert not await first.extend("msg-1", B, 3 * LEASE)  # not B's claim
    other = Ledger(make_client(), TABLE, clock=later(LEASE + 1))
    busy = await other.claim("msg-1", B, LEASE)
    assert busy.action is ClaimAction.BUSY
    assert busy.retry_after_s == pytest.approx(2 * LEASE - 1, abs=5.0)


async def test_extend_of_an_unknown_or_finished_message_is_refused(client: Any) -> None:
    ledger = Ledger(client, TABLE)
    assert not await ledger.extend("msg-1", A, LEASE)
    await ledger.claim("msg-1", A, LEASE)
    assert await ledger.record_failed("msg-1", A, "recipient not on WhatsApp")
    assert not await ledger.extend("msg-1", A, LEASE)


async def test_fencing_refuses_a_lower_token(client: Any) -> None:
    """A runner with the same identity but an older token (deposed, not yet aware) is refused."""
    ledger = Ledger(client, TABLE)
    await ledger.claim("msg-1", A, LEASE, token=5)
    assert not await ledger.record_sent("msg-1", A, "wamid.stale", token=4)
    assert not await ledger.record_failed("msg-1", A, "stale", token=4)
    assert stored(client, "msg-1")["state"] == {"S": "SENDING"}
    assert await ledger.record_sent("msg-1", A, "wamid.HBgL", token=6)
    assert stored(client, "msg-1")["token"] == {"N": "6"}  # the highest accepted is kept


async def test_fencing_stops_a_deposed_runner_from_reclaiming(
    make_client: Callable[[], Any],
) -> None:
    await Ledger(make_client(), TABLE).claim("msg-1", B, LEASE, token=7)
    deposed = Ledger(make_client(), TABLE, clock=later(LEASE + 1))
    outcome = await deposed.claim("msg-1", A, LEASE, token=6)
    assert outcome.action is ClaimAction.FENCED
    assert not outcome.may_send
    assert stored(make_client(), "msg-1")["claimer"] == {"S": B}  # nothing written


async def test_a_reclaim_write_is_fenced_by_a_token_that_landed_after_the_read(
    make_client: Callable[[], Any],
) -> None:
    """Read token 5 (ours is 6: RECLAIM), then a token-8 reclaim lands first: ours is refused."""
    await Ledger(make_client(), TABLE).claim("msg-1", "sender-dead/0000", LEASE, token=5)
    slow_client, ahead = make_client(), later(LEASE + 1)
    slow = Ledger(slow_client, TABLE, clock=ahead)
    newer = Ledger(make_client(), TABLE, clock=ahead)
    run_before_next_put(slow_client, lambda: asyncio.run(newer.claim("msg-1", B, LEASE, token=8)))
    outcome = await slow.claim("msg-1", A, LEASE, token=6)
    assert outcome.action is ClaimAction.FENCED
    assert stored(slow_client, "msg-1")["token"] == {"N": "8"}


async def test_recording_is_idempotent_but_never_changes_the_outcome(client: Any) -> None:
    ledger = Ledger(client, TABLE)
    await ledger.claim("msg-1", A, LEASE)
    assert await ledger.record_sent("msg-1", A, "wamid.HBgL")
    assert await ledger.record_sent("msg-1", A, "wamid.HBgL")  # a repeat whose answer was lost
    assert not await ledger.record_sent("msg-1", A, "wamid.other")
    assert not await ledger.record_failed("msg-1", A, "timeout")
    assert not await ledger.record_sent("msg-1", B, "wamid.HBgL")

    await ledger.claim("msg-2", A, LEASE)
    assert await ledger.record_failed("msg-2", A, "outcome unknown")
    assert await ledger.record_failed("msg-2", A, "outcome unknown")
    assert not await ledger.record_sent("msg-2", A, "wamid.HBgL")
    entry = await ledger.get("msg-2")
    assert entry is not None
    assert (entry.state, entry.reason) == (LedgerState.FAILED, "outcome unknown")


async def test_records_for_a_message_never_claimed_are_refused(client: Any) -> None:
    ledger = Ledger(client, TABLE)
    assert not await ledger.record_sent("msg-1", A, "wamid.HBgL")
    assert not await ledger.record_failed("msg-1", A, "no")
    assert await ledger.get("msg-1") is None


async def test_a_long_reason_is_stored_bounded(client: Any) -> None:
    ledger = Ledger(client, TABLE)
    await ledger.claim("msg-1", A, LEASE)
    assert await ledger.record_failed("msg-1", A, "vendor said: " + "x" * 100_000)
    entry = await ledger.get("msg-1")
    assert entry is not None
    assert entry.reason is not None
    assert len(entry.reason) == MAX_REASON_CHARS
    assert entry.reason.startswith("vendor said: xxx")
    # the repeat of that call is recognised although the stored reason was cut
    assert await ledger.record_failed("msg-1", A, "vendor said: " + "x" * 100_000)


async def test_a_finished_message_is_done_for_everyone(make_client: Callable[[], Any]) -> None:
    ledger = Ledger(make_client(), TABLE)
    await ledger.claim("msg-1", A, LEASE)
    await ledger.record_failed("msg-1", A, "recipient not on WhatsApp")
    far_later = Ledger(make_client(), TABLE, clock=later(86_400))
    outcome = await far_later.claim("msg-1", B, LEASE, token=99)
    assert outcome.action is ClaimAction.DONE
    assert outcome.entry.reason == "recipient not on WhatsApp"


@pytest.mark.parametrize(
    "message_id",
    [
        pytest.param("ratelimit#pool-a", id="the rate limiter's key"),
        pytest.param("", id="empty"),
        pytest.param("a" * 129, id="too long"),
    ],
)
async def test_what_is_not_a_message_id_is_refused(client: Any, message_id: str) -> None:
    with pytest.raises(ValueError, match="not a message id"):
        await Ledger(client, TABLE).claim(message_id, A, LEASE)


async def test_ensure_table_is_idempotent(client: Any) -> None:
    ledger = Ledger(client, "another-ledger")
    await ledger.ensure_table()
    await ledger.ensure_table()
    schema = client.describe_table(TableName="another-ledger")["Table"]
    assert schema["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert schema["TableStatus"] == "ACTIVE"


def chain_text(exc: BaseException) -> str:
    """Everything a log line with the traceback would show, chained exceptions included."""
    return "".join(traceback.format_exception(exc)) + repr(exc)


async def test_a_missing_table_is_a_ledger_error_without_request_data(client: Any) -> None:
    ledger = Ledger(client, "no-such-table")
    with pytest.raises(LedgerError, match="ResourceNotFoundException") as caught:
        await ledger.record_failed("msg-1", A, f"vendor answered 401 for key {SECRET}")
    assert SECRET not in chain_text(caught.value)
    with pytest.raises(LedgerError, match=r"no-such-table claim|no-such-table get"):
        await ledger.claim("msg-1", A, LEASE)


async def test_an_unreachable_endpoint_is_a_ledger_error_without_request_data(aws: Any) -> None:
    kwargs = {**aws.server.client_kwargs(), "endpoint_url": "http://127.0.0.1:9"}
    unreachable = boto3.client("dynamodb", config=client_config(1.0), **kwargs)
    ledger = Ledger(unreachable, TABLE)
    with pytest.raises(LedgerError, match="EndpointConnectionError") as caught:
        await ledger.record_sent("msg-1", A, SECRET)
    assert SECRET not in chain_text(caught.value)
    assert aws.server.client_kwargs()["aws_secret_access_key"] not in chain_text(caught.value)


async def test_release_lets_the_next_receive_claim_afresh(make_client: Callable[[], Any]) -> None:
    """Definitely not sent (a 429): the claim goes, and the next claim is a CLAIM, no vendor
    lookup, while nobody else can release or finish what is not theirs."""
    first, second = Ledger(make_client(), TABLE), Ledger(make_client(), TABLE)
    await first.claim("msg-1", A, LEASE, token=5)
    assert not await second.release("msg-1", B)  # not B's claim
    assert not await first.release("msg-1", A, token=4)  # a deposed runner's
    assert await first.release("msg-1", A, token=5)
    assert await first.get("msg-1") is None
    assert not await first.release("msg-1", A)  # nothing of ours left
    again = await second.claim("msg-1", B, LEASE)
    assert again.action is ClaimAction.CLAIM
    assert not again.must_ask_vendor
    assert not await first.record_sent("msg-1", A, "wamid.late")  # A's old claim is gone


async def test_a_finished_message_cannot_be_released(client: Any) -> None:
    ledger = Ledger(client, TABLE)
    await ledger.claim("msg-1", A, LEASE)
    assert await ledger.record_sent("msg-1", A, "wamid.HBgL")
    assert not await ledger.release("msg-1", A)
    entry = await ledger.get("msg-1")
    assert entry is not None
    assert entry.state is LedgerState.SENT
