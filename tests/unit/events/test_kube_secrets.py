"""KubeSecrets' pure parts: which keys of a pool's Secret count, how they decode, when a cached
answer is reused, which answers make room; and the cache's behaviour under a burst.

The API reads themselves are tested on the real API server
(tests/integration/events/test_ingest_on_kubernetes.py).
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

import aiohttp
import pytest

from session_runner.contract.ingest_settings import IngestSettings
from session_runner.contract.resources import pool_path
from session_runner.ingest.kube_secrets import (
    KubeSecrets,
    credentials_secret_name,
    pool_secrets,
    serves,
    webhook_keys,
)
from session_runner.ingest.secrets import MAX_SECRET_BYTES, PoolSecrets, SecretsUnavailableError
from session_runner.ingest.server import build_app, start
from session_runner.ingest.topic import is_topic_arn
from session_runner.kube.client import KubeClient
from session_runner.kube.connection import Connection
from session_runner.kube.secrets import decode_value, secret_path
from session_runner.ttl_cache import TtlCache, evictions, is_fresh

#: Long and random-looking, so any leak of it is unmistakable.
TOKEN = "twtok_7Gh2Lq9Xc4Vb1Nm8Kd3Sf6Pw0Zr5Ty"
APP_SECRET = "appsec_3Jk8Wq1Ez6Rt9Yu2Io5Pa7Sd4Fg0Hl"


def b64(value: str | bytes) -> str:
    raw = value.encode() if isinstance(value, str) else value
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        (b64(TOKEN), TOKEN),
        (b64(f"{TOKEN}\n"), TOKEN),  # kubectl create secret --from-file keeps the newline
        (b64("  spaced  "), "spaced"),
        (b64(""), None),
        (b64(" \n"), None),
        ("", None),
        (None, None),
        (12345, None),
        ("not base64!", None),
        (b64(b"\xff\xfe\x00binary"), None),  # not text: not a webhook secret
        (b64("x" * MAX_SECRET_BYTES), "x" * MAX_SECRET_BYTES),
        (b64("x" * (MAX_SECRET_BYTES + 1)), None),  # larger than any secret: refused
    ],
    ids=[
        "plain", "newline", "spaces", "empty", "blank", "empty-string", "none", "int",
        "not-base64", "binary", "largest", "too-large",
    ],
)  # fmt: skip
def test_decode_value(encoded: object, decoded: str | None) -> None:
    assert decode_value(encoded) == decoded


@pytest.mark.parametrize(
    ("vendor", "keys"),
    [
        ("meta-cloud", ("appSecret", "verifyToken")),
        ("twilio", ("authToken",)),
        ("session", ()),
        ("Twilio", ()),
        (None, ()),
        (["twilio"], ()),
    ],
)
def test_webhook_keys(vendor: object, keys: tuple[str, ...]) -> None:
    assert webhook_keys(vendor) == keys


#: Everything a pool's credentials Secret may hold: the API credentials and the webhook keys.
FULL_SECRET = {
    "accountSid": b64("AC0123"),
    "authToken": b64(TOKEN),
    "accessToken": b64("EAAG-access-token"),
    "phoneNumberId": b64("1055"),
    "appSecret": b64(APP_SECRET),
    "verifyToken": b64("verify-me"),
}


@pytest.mark.parametrize(
    ("vendor", "data", "expected"),
    [
        ("twilio", FULL_SECRET, PoolSecrets(auth_token=TOKEN)),
        (
            "meta-cloud",
            FULL_SECRET,
            PoolSecrets(app_secret=APP_SECRET, verify_token="verify-me"),
        ),
        ("meta-cloud", {"appSecret": b64(APP_SECRET)}, PoolSecrets(app_secret=APP_SECRET)),
        ("twilio", {"accountSid": b64("AC0123")}, PoolSecrets()),
        ("twilio", {"authToken": "%%%"}, PoolSecrets()),
        ("session", FULL_SECRET, PoolSecrets()),
        (None, FULL_SECRET, PoolSecrets()),
        ("twilio", {}, PoolSecrets()),
    ],
    ids=[
        "twilio-only-its-key", "meta-only-its-keys", "meta-without-verify-token",
        "twilio-without-token", "twilio-garbled-token", "session-none", "no-vendor", "empty",
    ],
)  # fmt: skip
def test_pool_secrets_takes_only_the_vendors_keys(
    vendor: object, data: dict[str, object], expected: PoolSecrets
) -> None:
    assert pool_secrets(vendor, data) == expected


@pytest.mark.parametrize(
    ("pool", "name"),
    [
        ({"spec": {"credentialsSecret": {"name": "tw-creds"}}}, "tw-creds"),
        ({"spec": {"credentialsSecret": {"name": ""}}}, None),
        ({"spec": {"credentialsSecret": {}}}, None),
        ({"spec": {"credentialsSecret": "tw-creds"}}, None),
        ({"spec": {"accountRef": {"name": "demo"}}}, None),
        ({"spec": None}, None),
        ({}, None),
    ],
)
def test_credentials_secret_name(pool: dict[str, Any], name: str | None) -> None:
    assert credentials_secret_name(pool) == name


@pytest.mark.parametrize(
    ("namespaces", "namespace", "served"),
    [
        ((), "shop", True),
        (("shop",), "shop", True),
        (("shop", "crm"), "crm", True),
        (("shop",), "kube-system", False),
    ],
)
def test_serves(namespaces: tuple[str, ...], namespace: str, served: bool) -> None:
    assert serves(namespaces, namespace) is served


@pytest.mark.parametrize(
    ("fetched_at", "now", "ttl", "fresh"),
    [
        (100.0, 100.0, 30.0, True),
        (100.0, 129.9, 30.0, True),
        (100.0, 130.0, 30.0, False),  # exactly the TTL later: read again
        (100.0, 500.0, 30.0, False),
        (100.0, 99.0, 30.0, False),  # a clock that went back never keeps an answer for ever
        (100.0, 100.0, 0.0, False),  # TTL 0: every request asks
    ],
)
def test_is_fresh(fetched_at: float, now: float, ttl: float, fresh: bool) -> None:
    assert is_fresh(fetched_at, now, ttl) is fresh


@pytest.mark.parametrize(
    ("fetched", "now", "max_entries", "dropped"),
    [
        ({"a": 95.0, "b": 96.0}, 100.0, 10, []),
        ({"a": 50.0, "b": 96.0}, 100.0, 10, ["a"]),  # stale ones go whatever the room
        ({"a": 95.0, "b": 96.0, "c": 97.0}, 100.0, 3, ["a"]),  # full: the oldest goes
        ({"a": 95.0, "b": 96.0, "c": 97.0}, 100.0, 2, ["a", "b"]),
        ({"a": 50.0, "b": 96.0, "c": 97.0}, 100.0, 3, ["a"]),  # a stale one made the room
        ({}, 100.0, 1, []),
    ],
)
def test_evictions(
    fetched: dict[str, float], now: float, max_entries: int, dropped: list[str]
) -> None:
    assert evictions(fetched, now, 30.0, max_entries) == dropped


def test_paths() -> None:
    assert pool_path("shop", "tw") == "/apis/wafleet.io/v1alpha1/namespaces/shop/senderpools/tw"
    assert secret_path("shop", "tw-creds") == "/api/v1/namespaces/shop/secrets/tw-creds"


@pytest.mark.parametrize(
    ("value", "arn"),
    [
        ("arn:aws:sns:eu-west-1:123456789012:wafleet-events", True),
        ("arn:aws-cn:sns:cn-north-1:123456789012:x", True),
        ("wafleet-events", False),
        ("my-arn:thing", False),
    ],
)
def test_is_topic_arn(value: str, arn: bool) -> None:
    assert is_topic_arn(value) is arn


# ------------------------------------------------------------------ the cache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingFetch:
    """Answers `key:version`, counts calls, and holds every call until released."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.version = 1
        self.release = asyncio.Event()
        self.release.set()
        self.fail = False

    async def __call__(self, key: str) -> str:
        self.calls.append(key)
        await self.release.wait()
        if self.fail:
            raise SecretsUnavailableError(f"pool {key}: ClientConnectorError")
        return f"{key}:{self.version}"


async def test_a_burst_costs_one_read_and_the_answer_is_reused_until_the_ttl() -> None:
    clock, fetch = Clock(), CountingFetch()
    cache: TtlCache[str, str] = TtlCache(fetch, ttl_s=30.0, clock=clock)
    fetch.release.clear()
    burst = [asyncio.create_task(cache.get("shop/tw")) for _ in range(50)]
    await asyncio.sleep(0)
    fetch.release.set()
    assert await asyncio.gather(*burst) == ["shop/tw:1"] * 50
    assert fetch.calls == ["shop/tw"]

    fetch.version = 2  # the Secret is rotated
    clock.now += 29.0
    assert await cache.get("shop/tw") == "shop/tw:1"
    clock.now += 1.0
    assert await cache.get("shop/tw") == "shop/tw:2"
    assert fetch.calls == ["shop/tw", "shop/tw"]


async def test_a_failure_is_not_remembered() -> None:
    clock, fetch = Clock(), CountingFetch()
    cache: TtlCache[str, str] = TtlCache(fetch, ttl_s=30.0, clock=clock)
    fetch.fail = True
    for _ in range(2):
        with pytest.raises(SecretsUnavailableError):
            await cache.get("shop/tw")
    fetch.fail = False
    assert await cache.get("shop/tw") == "shop/tw:1"
    assert len(fetch.calls) == 3


async def test_one_waiter_leaving_does_not_cancel_the_others_read() -> None:
    fetch = CountingFetch()
    cache: TtlCache[str, str] = TtlCache(fetch, ttl_s=30.0, clock=Clock())
    fetch.release.clear()
    leaving = asyncio.create_task(cache.get("shop/tw"))
    staying = asyncio.create_task(cache.get("shop/tw"))
    await asyncio.sleep(0)
    leaving.cancel()
    fetch.release.set()
    assert await staying == "shop/tw:1"
    assert fetch.calls == ["shop/tw"]


async def test_made_up_pools_cannot_grow_the_cache_without_bound() -> None:
    fetch = CountingFetch()
    cache: TtlCache[str, str] = TtlCache(fetch, ttl_s=30.0, clock=Clock(), max_entries=8)
    for n in range(100):
        await cache.get(f"shop/made-up-{n}")
    assert len(cache) == 8
    assert await cache.get("shop/made-up-99") == "shop/made-up-99:1"  # the newest are kept
    assert len(fetch.calls) == 100


# ------------------------------------------------------------------ the provider's shell


def unreachable_kube() -> KubeClient:
    """A client of an API server nobody listens on (port 1 refuses at once)."""
    return KubeClient(Connection(server="http://127.0.0.1:1", ssl_context=False, token=TOKEN))


@pytest.mark.parametrize(
    ("namespace", "pool"), [("kube-system", "tw"), ("..", "tw"), ("shop", "a/b"), ("Shop", "x")]
)
async def test_pools_outside_the_served_namespaces_are_unknown_without_asking(
    namespace: str, pool: str
) -> None:
    async with unreachable_kube() as kube:
        provider = KubeSecrets(kube, namespaces=("shop",))
        assert await provider.get(namespace, pool) is None  # an API call would have raised


async def test_an_unreachable_api_server_is_unavailable_not_unknown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with unreachable_kube() as kube:
        provider = KubeSecrets(kube, namespaces=("shop",))
        with pytest.raises(SecretsUnavailableError) as raised:
            await provider.get("shop", "tw")
    assert str(raised.value).startswith("pool shop/tw: ")
    assert TOKEN not in str(raised.value) + caplog.text


class Unavailable:
    """A provider that cannot tell now (as KubeSecrets when the API server is down)."""

    async def get(self, namespace: str, pool: str) -> PoolSecrets | None:
        raise SecretsUnavailableError(f"pool {namespace}/{pool}: ClientConnectorError")


async def test_the_server_answers_503_when_secrets_are_unavailable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    received: list[object] = []

    async def sink(events: list[Any]) -> None:
        received.append(events)

    app = build_app(public_base_url="http://unused.example", secrets=Unavailable(), sink=sink)
    runner, port = await start(app, "127.0.0.1", 0)
    answers = []
    try:
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{port}"
            for method, path in (
                ("POST", "/twilio/shop/tw"),
                ("POST", "/meta/shop/meta-eu"),
                ("GET", "/meta/shop/meta-eu?hub.mode=subscribe&hub.verify_token=x"),
            ):
                async with http.request(method, base + path, data=b"a=b") as response:
                    answers.append((response.status, await response.text()))
    finally:
        await runner.cleanup()
    assert answers == [(503, "try again\n")] * 3
    assert received == []
    assert "pool secrets unavailable (pool shop/tw: ClientConnectorError)" in caplog.text


# ------------------------------------------------------------------ settings


def test_settings_default_to_kubernetes_and_take_a_topic_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WAFLEET_INGEST_PUBLIC_BASE_URL", "https://hooks.example.com")
    monkeypatch.setenv("WAFLEET_INGEST_EVENTS_TOPIC_ARN", "wafleet-events")
    monkeypatch.setenv("WAFLEET_INGEST_NAMESPACES", " shop, crm ,,")
    settings = IngestSettings()
    assert settings.secrets_source == "kubernetes"
    assert settings.secrets_cache_seconds == 30.0
    assert settings.events_topic_arn == "wafleet-events"
    assert settings.namespace_list == ("shop", "crm")
    for name, value in settings.as_env().items():
        monkeypatch.setenv(name, value)
    assert IngestSettings() == settings


@pytest.mark.parametrize(
    ("field", "value"),
    [("secrets_source", "vault"), ("secrets_cache_seconds", -1), ("secrets_cache_seconds", "inf")],
)
def test_settings_refuse(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        IngestSettings.model_validate(
            {"public_base_url": "https://h.example", "events_topic_arn": "t", field: value}
        )
