"""Standard Webhooks signatures: how a subscriber knows a delivery is ours and fresh.

Every delivery carries three headers (https://www.standardwebhooks.com/):

- `webhook-id`: the same on every attempt of one delivery, so a subscriber can
  drop repeats (at-least-once delivery makes repeats normal);
- `webhook-timestamp`: this attempt's time in whole seconds, signed, so a
  subscriber can refuse a replay of an old request;
- `webhook-signature`: `v1,` + base64(HMAC-SHA256(secret, "id.timestamp.body")),
  one per signing secret, separated by spaces. During a secret rotation the new
  and the old secret both sign, and a subscriber holding either one verifies.

The signing is the reference library's (`standardwebhooks.Webhook.sign`): the
same code subscribers verify with, so the two cannot drift apart.

Secrets are `whsec_` + base64 of 24 to 64 random bytes. An error about a
secret names the Secret and key it came from, never its value.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

from standardwebhooks import Webhook

SECRET_PREFIX: Final = "whsec_"
#: The spec's bounds on the decoded secret.
MIN_SECRET_BYTES: Final = 24
MAX_SECRET_BYTES: Final = 64
CONTENT_TYPE: Final = "application/json"
USER_AGENT: Final = "wafleet-webhooks/1"


class SigningSecretError(ValueError):
    """A signing secret is not `whsec_` + base64 of 24-64 bytes (the value is never shown)."""


def check_secret(secret: str, where: str) -> None:
    """Raise SigningSecretError, naming `where` (e.g. "Secret crm-hooks key secret"),
    when `secret` is not a usable Standard Webhooks secret."""
    if not secret.startswith(SECRET_PREFIX):
        raise SigningSecretError(f"{where}: the signing secret must start with {SECRET_PREFIX}")
    try:
        raw = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise SigningSecretError(
            f"{where}: the signing secret is not base64 after whsec_"
        ) from None
    if not MIN_SECRET_BYTES <= len(raw) <= MAX_SECRET_BYTES:
        raise SigningSecretError(
            f"{where}: the signing secret must decode to {MIN_SECRET_BYTES}-{MAX_SECRET_BYTES} "
            f"bytes, not {len(raw)}"
        )


def signature_header(secrets: Sequence[str], webhook_id: str, timestamp: int, body: bytes) -> str:
    """`webhook-signature`: one `v1,` signature per secret (current first), space-separated."""
    if not secrets:
        raise ValueError("at least one signing secret is needed")
    moment = datetime.fromtimestamp(timestamp, UTC)
    return " ".join(Webhook(secret).sign(webhook_id, moment, body) for secret in secrets)


def delivery_headers(
    secrets: Sequence[str], webhook_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """Every header of one attempt: the three Standard Webhooks ones, content type, agent."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets, webhook_id, timestamp, body),
        "content-type": CONTENT_TYPE,
        "user-agent": USER_AGENT,
    }
