"""The ledger's rules, one table row per case (times are wall-clock epoch seconds)."""

from __future__ import annotations

import pytest

from session_runner.sender.ledger_decision import (
    ATTEMPTS_EXHAUSTED,
    MAX_REASON_CHARS,
    OUTCOME_UNKNOWN,
    AfterLookup,
    ClaimAction,
    ClaimDecision,
    LedgerEntry,
    LedgerState,
    ReclaimStep,
    VendorLookup,
    after_vendor_lookup,
    bound_reason,
    decide_claim,
    may_start_send,
)

ID, ME, OTHER = "msg-1", "sender-0/a1b2", "sender-1/c3d4"
NOW = 1_750_000_000.0
LEASE = 30.0


def entry(
    state: LedgerState = LedgerState.SENDING,
    *,
    claimer: str = OTHER,
    expires: float = NOW + 10,
    attempts: int = 1,
    token: int | None = None,
) -> LedgerEntry:
    return LedgerEntry(
        message_id=ID,
        state=state,
        claimer=claimer,
        claim_expires_at=expires,
        attempts=attempts,
        vendor_message_id="wamid.1" if state is LedgerState.SENT else None,
        reason="vendor said no" if state is LedgerState.FAILED else None,
        token=token,
        updated_at=NOW - 20,
    )


def decide(
    current: LedgerEntry | None,
    now: float = NOW,
    *,
    token: int | None = None,
    max_attempts: int = 3,
) -> ClaimDecision:
    return decide_claim(
        current,
        now,
        message_id=ID,
        claimer=ME,
        lease_s=LEASE,
        token=token,
        max_attempts=max_attempts,
    )


# ------------------------------------------------------------------ decide_claim

DECIDE_ROWS = [
    # (stored entry, now, our token, max attempts,
    #  action, attempts after, may_send, retry_after_s, the decision entry's claimer and token)
    pytest.param(None, NOW, None, 3, ClaimAction.CLAIM, 1, True, 0.0, ME, None, id="absent: claim"),
    pytest.param(
        None, NOW, 7, 3, ClaimAction.CLAIM, 1, True, 0.0, ME, 7, id="absent: claim with token"
    ),
    pytest.param(
        entry(expires=NOW + 10),
        NOW,
        None,
        3,
        ClaimAction.BUSY,
        1,
        False,
        10.0,
        OTHER,
        None,
        id="live claim: busy until it expires",
    ),
    pytest.param(
        entry(expires=NOW + 0.001),
        NOW,
        None,
        3,
        ClaimAction.BUSY,
        1,
        False,
        pytest.approx(0.001, abs=1e-6),
        OTHER,
        None,
        id="claim expiring in 1 ms is still live",
    ),
    pytest.param(
        entry(expires=NOW),
        NOW,
        None,
        3,
        ClaimAction.RECLAIM,
        2,
        True,
        0.0,
        ME,
        None,
        id="claim expiring exactly now has expired",
    ),
    pytest.param(
        entry(expires=NOW - 3600),
        NOW,
        None,
        3,
        ClaimAction.RECLAIM,
        2,
        True,
        0.0,
        ME,
        None,
        id="long-expired claim: reclaim, attempts + 1",
    ),
    pytest.param(
        entry(claimer=ME, expires=NOW + 5),
        NOW,
        None,
        3,
        ClaimAction.BUSY,
        1,
        False,
        5.0,
        ME,
        None,
        id="our own live claim is busy too (another task of ours sends it)",
    ),
    pytest.param(
        entry(claimer=ME, expires=NOW - 1),
        NOW,
        None,
        3,
        ClaimAction.RECLAIM,
        2,
        True,
        0.0,
        ME,
        None,
        id="our own expired claim is reclaimed like anyone's",
    ),
    pytest.param(
        entry(attempts=2, expires=NOW - 1),
        NOW,
        None,
        3,
        ClaimAction.RECLAIM,
        3,
        True,
        0.0,
        ME,
        None,
        id="reclaim reaching max attempts may still send",
    ),
    pytest.param(
        entry(attempts=3, expires=NOW - 1),
        NOW,
        None,
        3,
        ClaimAction.RECLAIM,
        4,
        False,
        0.0,
        ME,
        None,
        id="reclaim past max attempts must not send",
    ),
    pytest.param(
        entry(attempts=1, expires=NOW - 1),
        NOW,
        None,
        1,
        ClaimAction.RECLAIM,
        2,
        False,
        0.0,
        ME,
        None,
        id="max attempts 1: no reclaim ever sends",
    ),
    pytest.param(
        entry(LedgerState.SENT, expires=NOW + 10),
        NOW,
        None,
        3,
        ClaimAction.DONE,
        1,
        False,
        0.0,
        OTHER,
        None,
        id="sent: done",
    ),
    pytest.param(
        entry(LedgerState.FAILED, expires=NOW - 10),
        NOW,
        None,
        3,
        ClaimAction.DONE,
        1,
        False,
        0.0,
        OTHER,
        None,
        id="failed: done (an old expiry does not matter)",
    ),
    pytest.param(
        entry(LedgerState.SENT, token=9),
        NOW,
        3,
        3,
        ClaimAction.DONE,
        1,
        False,
        0.0,
        OTHER,
        9,
        id="sent under a higher token: still just done",
    ),
    pytest.param(
        entry(token=5, expires=NOW + 10),
        NOW,
        4,
        3,
        ClaimAction.FENCED,
        1,
        False,
        0.0,
        OTHER,
        5,
        id="live claim with a higher token: fenced",
    ),
    pytest.param(
        entry(token=5, expires=NOW - 10),
        NOW,
        4,
        3,
        ClaimAction.FENCED,
        1,
        False,
        0.0,
        OTHER,
        5,
        id="expired claim with a higher token: fenced, not reclaimed",
    ),
    pytest.param(
        entry(token=5, expires=NOW - 10),
        NOW,
        5,
        3,
        ClaimAction.RECLAIM,
        2,
        True,
        0.0,
        ME,
        5,
        id="equal token: reclaim",
    ),
    pytest.param(
        entry(token=5, expires=NOW - 10),
        NOW,
        6,
        3,
        ClaimAction.RECLAIM,
        2,
        True,
        0.0,
        ME,
        6,
        id="higher token of ours: reclaim writes ours",
    ),
    pytest.param(
        entry(token=5, expires=NOW - 10),
        NOW,
        None,
        3,
        ClaimAction.RECLAIM,
        2,
        True,
        0.0,
        ME,
        5,
        id="no token of ours: the stored one is kept",
    ),
    pytest.param(
        entry(token=None, expires=NOW + 10),
        NOW,
        4,
        3,
        ClaimAction.BUSY,
        1,
        False,
        10.0,
        OTHER,
        None,
        id="stored without token, live: busy",
    ),
]


@pytest.mark.parametrize(
    (
        "current",
        "now",
        "token",
        "max_attempts",
        "action",
        "attempts",
        "may_send",
        "retry_after_s",
        "claimer",
        "entry_token",
    ),
    DECIDE_ROWS,
)
def test_decide_claim(
    current: LedgerEntry | None,
    now: float,
    token: int | None,
    max_attempts: int,
    action: ClaimAction,
    attempts: int,
    may_send: bool,
    retry_after_s: float,
    claimer: str,
    entry_token: int | None,
) -> None:
    decision = decide(current, now, token=token, max_attempts=max_attempts)
    assert decision.action is action
    assert decision.entry.message_id == ID
    assert decision.entry.attempts == attempts
    assert decision.may_send is may_send
    assert decision.retry_after_s == retry_after_s
    assert decision.entry.claimer == claimer
    assert decision.entry.token == entry_token
    assert decision.must_ask_vendor is (action is ClaimAction.RECLAIM)
    if action in (ClaimAction.CLAIM, ClaimAction.RECLAIM):
        # a fresh claim of ours, SENDING, for a full lease from now
        assert decision.entry.state is LedgerState.SENDING
        assert decision.entry.claim_expires_at == now + LEASE
        assert decision.entry.updated_at == now
        assert decision.entry.vendor_message_id is None
        assert decision.entry.reason is None
        assert decision.previous == (current if action is ClaimAction.RECLAIM else None)
    else:
        assert decision.entry == current  # nothing to write: the stored entry, unchanged
        assert decision.previous is None


def test_attempts_count_every_claim_across_a_chain_of_dead_senders() -> None:
    """Each sender claims, dies; the next reclaims: attempts 1, 2, 3, 4; sending stops after 3."""
    current: LedgerEntry | None = None
    seen = []
    now = NOW
    for _ in range(4):
        decision = decide(current, now)
        seen.append((decision.entry.attempts, decision.may_send))
        current = decision.entry
        now = current.claim_expires_at  # the claimer died; its claim runs out
    assert seen == [(1, True), (2, True), (3, True), (4, False)]


BAD_INPUT_ROWS = [
    pytest.param({"lease_s": 0.0}, "lease_s", id="zero lease"),
    pytest.param({"lease_s": -1.0}, "lease_s", id="negative lease"),
    pytest.param({"claimer": ""}, "claimer", id="nameless claimer"),
    pytest.param({"max_attempts": 0}, "max_attempts", id="no attempts at all"),
    pytest.param({"message_id": "msg-2"}, "given for", id="another message's entry"),
]


@pytest.mark.parametrize(("override", "complaint"), BAD_INPUT_ROWS)
def test_decide_claim_refuses_bad_input(override: dict[str, object], complaint: str) -> None:
    arguments: dict[str, object] = {
        "message_id": ID,
        "claimer": ME,
        "lease_s": LEASE,
        "max_attempts": 3,
        **override,
    }
    with pytest.raises(ValueError, match=complaint):
        decide_claim(entry(), NOW, **arguments)  # type: ignore[arg-type]


# ------------------------------------------------------------------ may_start_send

START_ROWS = [
    # (claim expires at, now, send timeout, skew margin, may start)
    pytest.param(NOW + 30, NOW, 10.0, 2.0, True, id="plenty of claim left"),
    pytest.param(NOW + 12.001, NOW, 10.0, 2.0, True, id="just enough"),
    pytest.param(NOW + 12, NOW, 10.0, 2.0, False, id="timeout + margin ends exactly at expiry"),
    pytest.param(NOW + 11, NOW, 10.0, 2.0, False, id="the margin would not be left"),
    pytest.param(NOW - 1, NOW, 10.0, 2.0, False, id="expired claim"),
]


@pytest.mark.parametrize(("expires", "now", "timeout", "margin", "expected"), START_ROWS)
def test_may_start_send(
    expires: float, now: float, timeout: float, margin: float, expected: bool
) -> None:
    claim = entry(claimer=ME, expires=expires)
    assert may_start_send(claim, now, send_timeout_s=timeout, skew_margin_s=margin) is expected


# ------------------------------------------------------------------ after_vendor_lookup

RECLAIM = decide(entry(expires=NOW - 1))
RECLAIM_EXHAUSTED = decide(entry(expires=NOW - 1, attempts=3))

LOOKUP_ROWS = [
    pytest.param(
        RECLAIM, VendorLookup.FOUND, AfterLookup(ReclaimStep.RECORD_SENT), id="vendor has it"
    ),
    pytest.param(
        RECLAIM_EXHAUSTED,
        VendorLookup.FOUND,
        AfterLookup(ReclaimStep.RECORD_SENT),
        id="vendor has it, attempts exhausted: still sent",
    ),
    pytest.param(
        RECLAIM, VendorLookup.NOT_FOUND, AfterLookup(ReclaimStep.SEND), id="vendor has none: send"
    ),
    pytest.param(
        RECLAIM_EXHAUSTED,
        VendorLookup.NOT_FOUND,
        AfterLookup(ReclaimStep.RECORD_FAILED, ATTEMPTS_EXHAUSTED),
        id="vendor has none, attempts exhausted: fail",
    ),
    pytest.param(
        RECLAIM,
        VendorLookup.UNKNOWN,
        AfterLookup(ReclaimStep.RECORD_FAILED, OUTCOME_UNKNOWN),
        id="vendor cannot tell: fail, never risk a second send",
    ),
]


@pytest.mark.parametrize(("decision", "lookup", "expected"), LOOKUP_ROWS)
def test_after_vendor_lookup(
    decision: ClaimDecision, lookup: VendorLookup, expected: AfterLookup
) -> None:
    assert decision.action is ClaimAction.RECLAIM
    assert after_vendor_lookup(decision, lookup) == expected


@pytest.mark.parametrize(
    "decision",
    [
        pytest.param(decide(None), id="claim"),
        pytest.param(decide(entry()), id="busy"),
        pytest.param(decide(entry(LedgerState.SENT)), id="done"),
    ],
)
def test_only_a_reclaim_asks_the_vendor(decision: ClaimDecision) -> None:
    with pytest.raises(ValueError, match="only a RECLAIM"):
        after_vendor_lookup(decision, VendorLookup.NOT_FOUND)


# ------------------------------------------------------------------ bound_reason

REASON_ROWS = [
    pytest.param("rate limited", "rate limited", id="short: as is"),
    pytest.param("x" * MAX_REASON_CHARS, "x" * MAX_REASON_CHARS, id="exactly the limit: as is"),
    pytest.param(
        "x" * (MAX_REASON_CHARS + 1),
        "x" * (MAX_REASON_CHARS - 1) + "…",
        id="one over: cut and marked",
    ),
    pytest.param("é" * 10_000, "é" * (MAX_REASON_CHARS - 1) + "…", id="long: cut"),
]


@pytest.mark.parametrize(("reason", "stored"), REASON_ROWS)
def test_bound_reason(reason: str, stored: str) -> None:
    assert bound_reason(reason) == stored
    assert len(bound_reason(reason)) <= MAX_REASON_CHARS
