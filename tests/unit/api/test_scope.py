"""What an API key may touch: the scope decisions, row by row."""

from __future__ import annotations

import pytest

from session_runner.api.keys import ApiKey
from session_runner.api.scope import (
    Origin,
    may_read_message,
    may_use_account,
    may_use_target,
    visible_accounts,
)

HASH = "0" * 64
ALL = ApiKey(name="all", sha256=HASH)
SOME = ApiKey(name="some", sha256=HASH, targets=("alpha",), accounts=("alice",))
NONE = ApiKey(name="none", sha256=HASH, targets=(), accounts=())
TARGETS_ONLY = ApiKey(name="t", sha256=HASH, targets=("alpha",))


@pytest.mark.parametrize(
    ("key", "target", "allowed"),
    [
        (ALL, "alpha", True),
        (SOME, "alpha", True),
        (SOME, "beta", False),
        (NONE, "alpha", False),
        (TARGETS_ONLY, "beta", False),
    ],
)
def test_targets(key: ApiKey, target: str, allowed: bool) -> None:
    assert may_use_target(key, target) is allowed


@pytest.mark.parametrize(
    ("key", "account", "allowed"),
    [
        (ALL, "bob", True),
        (SOME, "alice", True),
        (SOME, "bob", False),
        (NONE, "alice", False),
        (TARGETS_ONLY, "bob", True),  # accounts left out: all of them
    ],
)
def test_accounts(key: ApiKey, account: str, allowed: bool) -> None:
    assert may_use_account(key, account) is allowed


@pytest.mark.parametrize(
    ("key", "origin", "allowed"),
    [
        (ALL, None, True),  # unknown origin: only a key without limits
        (SOME, None, False),
        (TARGETS_ONLY, Origin(), False),
        (SOME, Origin(target="alpha"), True),
        (SOME, Origin(target="beta"), False),
        (SOME, Origin(target="alice-session", account="alice"), True),  # the account's
        (SOME, Origin(target="alpha", account="bob"), True),  # ... or the target's
        (SOME, Origin(target="beta", account="bob"), False),
        (NONE, Origin(target="alpha", account="alice"), False),
    ],
)
def test_reading_a_message(key: ApiKey, origin: Origin | None, allowed: bool) -> None:
    assert may_read_message(key, origin) is allowed


def test_visible_accounts_keep_the_order_given() -> None:
    assert visible_accounts(SOME, ["bob", "alice", "carol"]) == ["alice"]
    assert visible_accounts(ALL, ["bob", "alice"]) == ["bob", "alice"]
    assert visible_accounts(NONE, ["alice"]) == []
