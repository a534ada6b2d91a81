"""What an API key may touch: pure decisions, one per kind of thing, each a table test.

A key's `targets` and `accounts` (None: all; empty: none) are checked where a
request names a thing: the target or account a message is sent to, the
account read or annotated, the target of a bulk job or of a message read
back. A message the API did not record (sent by the CLI, or a row of a bulk
job that no longer exists) has no known target: only a key with no limits at
all may read it, since nothing says the others may.
"""

from __future__ import annotations

from dataclasses import dataclass

from session_runner.api.keys import ApiKey


def may_use_target(key: ApiKey, target: str) -> bool:
    """Send to `target`, or read what was sent there (messages, bulk jobs)."""
    return key.targets is None or target in key.targets


def may_use_account(key: ApiKey, account: str) -> bool:
    """See `account`, send through it, ask it for a snapshot or its QR."""
    return key.accounts is None or account in key.accounts


@dataclass(frozen=True)
class Origin:
    """Where a message was sent, as far as the API knows: the target it went to and, when
    the sender named one, the account it was sent through."""

    target: str | None = None
    account: str | None = None


def may_read_message(key: ApiKey, origin: Origin | None) -> bool:
    """Read a message's state: a message sent through an account is the account's (its key
    may read it even without the account's pool's target); otherwise its target's. A message
    of unknown origin only for a key without limits."""
    if origin is None or (origin.target is None and origin.account is None):
        return key.unrestricted
    if origin.account is not None and may_use_account(key, origin.account):
        return True
    return origin.target is not None and may_use_target(key, origin.target)


def visible_accounts(key: ApiKey, names: list[str]) -> list[str]:
    """The accounts of `names` the key may see, in the order given."""
    return [name for name in names if may_use_account(key, name)]
