"""Our signatures, checked with the reference library subscribers use (`standardwebhooks`)."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from session_runner.dispatcher.signing import (
    SigningSecretError,
    check_secret,
    delivery_headers,
    signature_header,
)

CURRENT = "whsec_" + base64.b64encode(b"c" * 32).decode()
PREVIOUS = "whsec_" + base64.b64encode(b"p" * 32).decode()
BODY = b'{"id":"evt_0123456789abcdef0123456789abcdef","type":"message.inbound"}'
WEBHOOK_ID = "evt_0123456789abcdef0123456789abcdef"


def test_a_delivery_verifies_with_the_reference_library() -> None:
    headers = delivery_headers([CURRENT], WEBHOOK_ID, int(time.time()), BODY)
    assert Webhook(CURRENT).verify(BODY, headers) == {
        "id": WEBHOOK_ID,
        "type": "message.inbound",
    }
    assert headers["webhook-id"] == WEBHOOK_ID
    assert headers["content-type"] == "application/json"


def test_a_tampered_body_fails_verification() -> None:
    headers = delivery_headers([CURRENT], WEBHOOK_ID, int(time.time()), BODY)
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(CURRENT).verify(BODY.replace(b"inbound", b"sent"), headers)


def test_an_old_timestamp_fails_verification() -> None:
    """The reference library refuses timestamps more than five minutes off: replays."""
    headers = delivery_headers([CURRENT], WEBHOOK_ID, int(time.time()) - 600, BODY)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(CURRENT).verify(BODY, headers)


def test_a_different_id_fails_verification() -> None:
    headers = delivery_headers([CURRENT], WEBHOOK_ID, int(time.time()), BODY)
    headers["webhook-id"] = "evt_ffffffffffffffffffffffffffffffff"
    with pytest.raises(WebhookVerificationError):
        Webhook(CURRENT).verify(BODY, headers)


def test_during_a_rotation_both_secrets_sign_and_either_verifies() -> None:
    headers = delivery_headers([CURRENT, PREVIOUS], WEBHOOK_ID, int(time.time()), BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert all(s.startswith("v1,") for s in headers["webhook-signature"].split(" "))
    Webhook(CURRENT).verify(BODY, headers)
    Webhook(PREVIOUS).verify(BODY, headers)
    stranger = "whsec_" + base64.b64encode(b"s" * 32).decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(stranger).verify(BODY, headers)


def test_the_signature_is_the_specs_hmac() -> None:
    """v1 = base64(HMAC-SHA256(secret bytes, "id.timestamp.body")), computed by hand."""
    import hashlib
    import hmac

    signed = f"{WEBHOOK_ID}.1700000000.".encode() + BODY
    expected = base64.b64encode(hmac.new(b"c" * 32, signed, hashlib.sha256).digest()).decode()
    assert signature_header([CURRENT], WEBHOOK_ID, 1_700_000_000, BODY) == f"v1,{expected}"


@pytest.mark.parametrize(
    ("secret", "complaint"),
    [
        ("c" * 40, "must start with whsec_"),
        ("whsec_not base64!", "not base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "24-64 bytes, not 5"),
        ("whsec_" + base64.b64encode(b"x" * 65).decode(), "24-64 bytes, not 65"),
    ],
)
def test_a_bad_secret_is_named_by_where_it_came_from_never_shown(
    secret: str, complaint: str
) -> None:
    with pytest.raises(SigningSecretError, match=complaint) as raised:
        check_secret(secret, "Secret crm-hooks key secret")
    assert "Secret crm-hooks key secret" in str(raised.value)
    assert secret not in str(raised.value)
    assert secret.removeprefix("whsec_") not in str(raised.value)


def test_a_good_secret_passes() -> None:
    check_secret(CURRENT, "Secret crm-hooks key secret")


def test_no_secret_no_signature() -> None:
    with pytest.raises(ValueError, match="at least one"):
        signature_header([], WEBHOOK_ID, 1, BODY)
