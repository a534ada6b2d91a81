"""Idempotency-Key: one message per (API key, Idempotency-Key), whatever the retries. Pure.

A client that sends `POST /v1/messages` with an `Idempotency-Key` and retries
(a timeout, a dropped connection) must get the message it created the first
time, never a second one; the same key with another body is a client bug,
answered 409 rather than guessed at.

The message id is derived from the API key's *name* and the Idempotency-Key
(`message_id_for`): two clients using the same Idempotency-Key get different
ids, and a retry gets the same id however many API replicas it lands on. The
API records each message (`records.MessageRecord`) with a conditional put on
that id, holding the hash of the request's canonical JSON (`request_hash`:
key order and whitespace do not matter). `decide` says what a request does
given that record:

| record | hash  | action   | answer                                       |
| ------ | ----- | -------- | -------------------------------------------- |
| none   | -     | NEW      | record it, publish, 202                      |
| any    | same  | REPLAY   | publish again, 200 with the original message |
| any    | other | CONFLICT | 409 naming Idempotency-Key                   |

A REPLAY publishes the message again, whatever became of the first publish:
that covers a first request whose publish failed (SNS unreachable, the
process killed between the record and the publish) and one still in flight,
without a second write to remember that SNS took it. Both publishes carry the
one message id, and the sender's ledger sends an id once; ledger entries do
not expire, so neither do records: an id is never reused, and a late retry
cannot create a second message.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Final

#: What an Idempotency-Key may be: printable ASCII, no spaces at the ends (as Stripe's).
IDEMPOTENCY_KEY_PATTERN: Final = r"^[\x21-\x7e]([\x20-\x7e]{0,253}[\x21-\x7e])?$"
MAX_IDEMPOTENCY_KEY_CHARS: Final = 255
ID_PREFIX: Final = "api-"


class Action(StrEnum):
    NEW = "new"
    REPLAY = "replay"
    CONFLICT = "conflict"


def message_id_for(key_name: str, idempotency_key: str) -> str:
    """The message id of `idempotency_key` used by the API key named `key_name`.

    40 hex digits of SHA-256 over both (160 bits: no collision in any fleet's lifetime),
    so it matches `sender.message.MESSAGE_ID_PATTERN` whatever the Idempotency-Key holds.
    """
    digest = hashlib.sha256(f"{key_name}\n{idempotency_key}".encode()).hexdigest()
    return f"{ID_PREFIX}{digest[:40]}"


def new_message_id() -> str:
    """A fresh id for a request without an Idempotency-Key (its retries are new messages)."""
    return f"{ID_PREFIX}{uuid.uuid4().hex}"


def request_hash(request: Mapping[str, Any]) -> str:
    """SHA-256 of the request's canonical JSON: sorted keys, no whitespace, absent fields and
    explicit nulls alike (a client may send `"account": null` on one try and omit it next)."""
    canonical = {key: value for key, value in request.items() if value is not None}
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def decide(stored_hash: str | None, incoming_hash: str) -> Action:
    """What a request with `incoming_hash` does, given the stored record's (None: no record)."""
    if stored_hash is None:
        return Action.NEW
    return Action.REPLAY if stored_hash == incoming_hash else Action.CONFLICT
