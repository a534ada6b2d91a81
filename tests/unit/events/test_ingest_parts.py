"""The ingest server's pure parts: the URL Twilio signed, what may be logged, where secrets are."""

from __future__ import annotations

from pathlib import Path

import pytest

from session_runner.contract.ingest_settings import IngestSettings
from session_runner.events.delivery import DeliveryError
from session_runner.events.publish import PublishError
from session_runner.ingest.secrets import FileSecrets, PoolSecrets, valid_names
from session_runner.ingest.server import safe_reason, signed_url

SECRET = "whsk_9fQ2xN4vR8tL1pZ7wK3jH6mB0cD5"


@pytest.mark.parametrize(
    ("base", "raw_path", "expected"),
    [
        (
            "https://hooks.example.com",
            "/twilio/shop/tw?wafleet_message_id=order-1",
            "https://hooks.example.com/twilio/shop/tw?wafleet_message_id=order-1",
        ),
        (
            "https://hooks.example.com/wafleet/",
            "/twilio/shop/tw",
            "https://hooks.example.com/wafleet/twilio/shop/tw",
        ),
        (
            "http://127.0.0.1:8080",
            "/twilio/shop/tw?a=%2F&wafleet_message_id=x",
            "http://127.0.0.1:8080/twilio/shop/tw?a=%2F&wafleet_message_id=x",
        ),
    ],
)
def test_signed_url(base: str, raw_path: str, expected: str) -> None:
    assert signed_url(base, raw_path) == expected


@pytest.mark.parametrize(
    ("error", "logged"),
    [
        (DeliveryError("delivery t record: ProvisionedThroughputExceededException"), "delivery t"),
        (PublishError("publish to arn:x: Throttling"), "publish to arn:x: Throttling"),
        (ValueError(f"token {SECRET} refused"), "ValueError"),
        (KeyError(SECRET), "KeyError"),
    ],
)
def test_safe_reason(error: Exception, logged: str) -> None:
    reason = safe_reason(error)
    assert reason.startswith(logged)
    assert SECRET not in reason


def test_pool_secrets_never_show_their_values() -> None:
    secrets = PoolSecrets(app_secret=SECRET, verify_token=None, auth_token=SECRET)
    for shown in (repr(secrets), str(secrets), f"{secrets}", repr([secrets])):
        assert SECRET not in shown
    assert "appSecret" in repr(secrets)
    assert "verifyToken" not in repr(secrets)


@pytest.mark.parametrize(
    ("namespace", "pool", "valid"),
    [
        ("shop", "meta-eu", True),
        ("shop", "pool.v2", True),
        ("..", "x", False),
        ("shop", "..", False),
        ("shop", "a/b", False),
        ("Shop", "x", False),
        ("", "x", False),
    ],
)
def test_valid_names(namespace: str, pool: str, valid: bool) -> None:
    assert valid_names(namespace, pool) is valid


async def test_file_secrets(tmp_path: Path) -> None:
    folder = tmp_path / "shop" / "tw"
    folder.mkdir(parents=True)
    (folder / "authToken").write_text(f"{SECRET}\n")
    (folder / "accountSid").write_text("AC1")  # the credentials Secret's other keys are ignored
    (tmp_path / "shop" / "empty").mkdir()
    provider = FileSecrets(tmp_path)
    assert await provider.get("shop", "tw") == PoolSecrets(auth_token=SECRET)
    assert await provider.get("shop", "empty") == PoolSecrets()
    assert await provider.get("shop", "missing") is None
    assert await provider.get("..", "shop") is None


def test_settings_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the operator would render (`as_env`) is what the server loads."""
    settings = IngestSettings(
        public_base_url="https://hooks.example.com/wafleet",
        events_topic_arn="arn:aws:sns:us-east-1:123456789012:wafleet-events",
        aws_endpoint_url="http://127.0.0.1:5000",
        credentials_dir=Path("/srv/webhook-secrets"),
    )
    env = settings.as_env()
    assert env["WAFLEET_INGEST_PUBLIC_BASE_URL"] == "https://hooks.example.com/wafleet"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert IngestSettings() == settings


@pytest.mark.parametrize("base", ["hooks.example.com", "https://hooks.example.com/?a=1", "ftp://x"])
def test_public_base_url_must_be_a_base_url(base: str) -> None:
    with pytest.raises(ValueError, match="public_base_url"):
        IngestSettings(public_base_url=base, events_topic_arn="arn:x")
