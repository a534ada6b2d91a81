"""The ingest server over real HTTP: the Meta and Twilio stand-ins post their signed webhooks,
moto's SNS, SQS and DynamoDB behind it.

The server runs as `wafleet-runner ingest` does (`ingest.main.run` from `IngestSettings`,
secrets from files; from the API server in test_ingest_on_kubernetes.py). What a test asserts is what the dispatcher would see on its queue
and what `wafleet send --wait` would read in the ledger.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import pytest

from session_runner.contract.ingest_settings import IngestSettings
from session_runner.events.delivery import DeliveryLedger, Recorded
from session_runner.events.event import Event, EventType, Source, event_id
from session_runner.events.pipeline import EventsPipeline, ensure_events_pipeline, pipeline_names
from session_runner.ingest.main import run
from session_runner.ingest.secrets import PoolSecrets, StaticSecrets
from session_runner.ingest.server import build_app, start
from session_runner.ingest.topic import TopicError, resolve_topic_arn
from session_runner.sender.ledger import Ledger, client_config, ensure_table
from session_runner.sender.message import OutboundMessage
from session_runner.sender.vendors import create_adapter
from session_runner.sender.vendors.base import Outcome
from session_runner.session.engines.events import AckStatus
from tests.harness.devserver import DEV_ACCESS_KEY_ID, DEV_SECRET_ACCESS_KEY, free_port
from tests.harness.moto_server import AwsEndpoint
from tests.harness.secret_scan import describe, find_leaks
from tests.harness.vendor_standins import MetaStandin, TwilioStandin
from tests.harness.vendor_standins.twilio import signature as twilio_signature

TABLE = "wafleet-outbound-ledger"
NAMESPACE = "shop"
#: Long and random-looking, so the secret scan would find any form of them.
APP_SECRET = "appsec_4Kq9Zt7Wm2Xr8Vn5Lp3Hs6Jd1Fb0Gc"
VERIFY_TOKEN = "verify_8Rt3Yu6Io1Pa4Sd7Fg2Hj5Kl9Zx0Cv"
TO = "+4915112345678"


@dataclass
class Ingest:
    base_url: str
    pipeline: EventsPipeline
    sqs: Any
    dynamodb: Any
    secrets_dir: Path

    def url(self, vendor: str, pool: str) -> str:
        return f"{self.base_url}/{vendor}/{NAMESPACE}/{pool}"

    def write_secrets(self, pool: str, **keys: str) -> None:
        folder = self.secrets_dir / NAMESPACE / pool
        folder.mkdir(parents=True, exist_ok=True)
        for key, value in keys.items():
            (folder / key).write_text(f"{value}\n", encoding="utf-8")

    async def events(self) -> list[Event]:
        """Every event waiting on the dispatcher's queue (taken off it)."""
        return await asyncio.to_thread(self._drain)

    def _drain(self) -> list[Event]:
        url = self.pipeline.queue_url
        events: list[Event] = []
        while True:
            answer = self.sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
                MessageAttributeNames=["All"],
            )
            batch = answer.get("Messages", [])
            if not batch:
                return events
            for message in batch:
                event = Event.from_json(message["Body"])
                assert message["MessageAttributes"]["type"]["StringValue"] == event.type.value
                events.append(event)
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    async def delivery(self, message_id: str) -> Recorded:
        return await DeliveryLedger(self.dynamodb, TABLE).read(message_id)


@pytest.fixture
async def ingest(
    aws: AwsEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Ingest]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DEV_ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DEV_SECRET_ACCESS_KEY)
    names = pipeline_names("wafleet")
    sqs = aws.client("sqs")
    pipeline = ensure_events_pipeline(aws.client("sns"), sqs, names.topic, names.queue)
    dynamodb = boto3.client("dynamodb", config=client_config(2.0), **aws.server.client_kwargs())
    ensure_table(dynamodb, TABLE)
    port = free_port()
    settings = IngestSettings(
        public_base_url=f"http://127.0.0.1:{port}",
        events_topic_arn=pipeline.topic_arn,
        ledger_table=TABLE,
        aws_endpoint_url=aws.endpoint_url,
        host="127.0.0.1",
        port=port,
        secrets_source="files",
        credentials_dir=tmp_path / "webhooks",
        health_port=0,
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    server = asyncio.create_task(run(settings, stop, ready))
    async with asyncio.timeout(10):
        await ready.wait()
    try:
        yield Ingest(settings.public_base_url, pipeline, sqs, dynamodb, settings.credentials_dir)
    finally:
        stop.set()
        await server


async def until_callbacks(standin: MetaStandin | TwilioStandin, count: int) -> list[int]:
    """The answer statuses of the stand-in's first `count` webhooks, once it has posted them.

    Polled: the stand-in signals no event when a callback was answered (see the report)."""
    async with asyncio.timeout(10):
        while len(standin.callbacks_delivered) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    return [status for _, status in standin.callbacks_delivered]


async def send(
    standin: MetaStandin | TwilioStandin,
    dynamodb: Any,
    our_id: str,
    status_callback: str | None = None,
) -> str:
    """Send one message as a sender replica does: claim, send through the adapter, record."""
    ledger = Ledger(dynamodb, TABLE)
    await ledger.claim(our_id, "sender-0", 30.0)
    vendor = "meta-cloud" if isinstance(standin, MetaStandin) else "twilio"
    options: dict[str, Any] = {}
    if status_callback is not None:
        options["status_callback"] = status_callback
    adapter = create_adapter(vendor, standin.credentials(), base_url=standin.base_url, **options)
    try:
        message = OutboundMessage(id=our_id, target="pool-a", to=TO, text="Your order shipped")
        result = await adapter.send(message, sender=getattr(standin, "sender", None))
    finally:
        await adapter.close()
    assert result.outcome is Outcome.SENT
    assert result.vendor_message_id is not None
    assert await ledger.record_sent(our_id, "sender-0", result.vendor_message_id)
    return result.vendor_message_id


# ------------------------------------------------------------------ Meta


def meta_status(meta: MetaStandin, wamid: str, status: str, our_id: str) -> bytes:
    """The stand-in's status webhook for `wamid`, at the given `status` (Meta's real shape)."""
    payload = meta.status_payload(wamid, TO.lstrip("+"), our_id)
    payload["entry"][0]["changes"][0]["value"]["statuses"][0]["status"] = status
    return json.dumps(payload).encode()


def meta_headers(secret: str, raw: bytes) -> dict[str, str]:
    digest = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={digest}"}


@pytest.fixture
async def meta(ingest: Ingest) -> AsyncIterator[MetaStandin]:
    ingest.write_secrets("meta-eu", appSecret=APP_SECRET, verifyToken=VERIFY_TOKEN)
    url = ingest.url("meta", "meta-eu")
    async with MetaStandin(app_secret=APP_SECRET, webhook_url=url) as standin:
        yield standin


async def test_meta_statuses_become_one_event_each_and_move_the_ledger(
    ingest: Ingest, meta: MetaStandin, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wamid = await send(meta, ingest.dynamodb, "order-1")
    assert await until_callbacks(meta, 1) == [200]  # the stand-in's own `sent` webhook
    assert await ingest.delivery("order-1") == Recorded(exists=True, status=AckStatus.SENT)

    url = ingest.url("meta", "meta-eu")
    for status in ("delivered", "delivered", "read", "delivered", "sent"):  # dup, then late ones
        raw = meta_status(meta, wamid, status, "order-1")
        await meta.post_callback(url, headers=meta_headers(APP_SECRET, raw), data=raw)
    assert [status for _, status in meta.callbacks_delivered] == [200] * 6

    events = await ingest.events()
    assert [(e.type, e.message_id, e.vendor_message_id) for e in events] == [
        (EventType.SENT, "order-1", wamid),
        (EventType.DELIVERED, "order-1", wamid),
        (EventType.READ, "order-1", wamid),
    ]
    assert [e.id for e in events] == [
        event_id(Source.META, wamid, kind)
        for kind in (EventType.SENT, EventType.DELIVERED, EventType.READ)
    ]
    assert all((e.namespace, e.pool, e.to) == (NAMESPACE, "meta-eu", TO) for e in events)
    assert await ingest.delivery("order-1") == Recorded(exists=True, status=AckStatus.READ)
    leaks = find_leaks(
        {"app secret": APP_SECRET.encode(), "verify token": VERIFY_TOKEN.encode()},
        {"logs": caplog.text},
    )
    assert not leaks, describe(leaks)


async def test_a_duplicated_webhook_gives_the_same_id(ingest: Ingest, meta: MetaStandin) -> None:
    """Without a ledger entry to compare with (a message we did not send), every copy is
    published, each with the one id of its fact: the consumer de-duplicates."""
    url = ingest.url("meta", "meta-eu")
    raw = meta_status(meta, "wamid.NOT-OURS", "delivered", "someone-else-1")
    for _ in range(2):
        await meta.post_callback(url, headers=meta_headers(APP_SECRET, raw), data=raw)
    events = await ingest.events()
    assert len(events) == 2
    assert (
        events[0].id == events[1].id == event_id(Source.META, "wamid.NOT-OURS", EventType.DELIVERED)
    )
    assert await ingest.delivery("someone-else-1") == Recorded(exists=False)


async def test_an_undeliverable_message_fails_with_meta_code(
    ingest: Ingest, meta: MetaStandin
) -> None:
    meta.undeliverable.add(TO.lstrip("+"))
    wamid = await send(meta, ingest.dynamodb, "order-2")
    assert await until_callbacks(meta, 1) == [200]
    [event] = await ingest.events()
    assert (event.type, event.vendor_message_id, event.error_code) == (
        EventType.FAILED,
        wamid,
        "131026",
    )
    assert await ingest.delivery("order-2") == Recorded(exists=True, status=AckStatus.FAILED)


async def test_meta_inbound_message_is_published(ingest: Ingest, meta: MetaStandin) -> None:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": "1"},
        "contacts": [{"profile": {"name": "Kerry"}, "wa_id": TO.lstrip("+")}],
        "messages": [
            {
                "from": TO.lstrip("+"),
                "id": "wamid.IN-1",
                "timestamp": "1796551200",
                "type": "text",
                "text": {"body": "Where is my parcel?"},
            }
        ],
    }
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }
    raw = json.dumps(payload).encode()
    await meta.post_callback(
        ingest.url("meta", "meta-eu"), headers=meta_headers(APP_SECRET, raw), data=raw
    )
    [event] = await ingest.events()
    assert (event.type, event.text, event.from_) == (
        EventType.INBOUND,
        "Where is my parcel?",
        TO,
    )


async def test_a_wrong_signature_is_refused_and_nothing_is_published(
    ingest: Ingest, meta: MetaStandin, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wamid = await send(meta, ingest.dynamodb, "order-3")
    await until_callbacks(meta, 1)
    await ingest.events()  # the genuine `sent`
    url = ingest.url("meta", "meta-eu")
    raw = meta_status(meta, wamid, "read", "order-3")
    tampered = raw.replace(b'"read"', b'"failed"')
    answers: list[tuple[int, str]] = []
    async with aiohttp.ClientSession() as http:
        for body, headers in (
            (raw, meta_headers("another-apps-secret-0123456789", raw)),  # another secret
            (tampered, meta_headers(APP_SECRET, raw)),  # the body changed after signing
            (raw, {"Content-Type": "application/json"}),  # no signature at all
        ):
            async with http.post(url, data=body, headers=headers) as response:
                answers.append((response.status, await response.text()))
    assert answers == [(403, "forbidden\n")] * 3
    assert await ingest.events() == []
    assert await ingest.delivery("order-3") == Recorded(exists=True, status=AckStatus.SENT)
    assert "signature does not check" in caplog.text
    assert not find_leaks({"app secret": APP_SECRET.encode()}, {"logs": caplog.text})


async def test_meta_subscription_handshake(
    ingest: Ingest, meta: MetaStandin, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = ingest.url("meta", "meta-eu")
    answers: dict[str, tuple[int, str]] = {}
    cases = {
        "right token": {"hub.verify_token": VERIFY_TOKEN},
        "wrong token": {"hub.verify_token": VERIFY_TOKEN[:-1]},
        "no token": {},
    }
    async with aiohttp.ClientSession() as http:
        for case, token in cases.items():
            query = {"hub.mode": "subscribe", "hub.challenge": "1158201444", **token}
            async with http.get(url, params=query) as response:
                answers[case] = (response.status, await response.text())
        async with http.get(ingest.url("meta", "no-such-pool"), params=query) as response:
            answers["unknown pool"] = (response.status, await response.text())
    assert answers == {
        "right token": (200, "1158201444"),
        "wrong token": (403, "forbidden\n"),
        "no token": (403, "forbidden\n"),
        "unknown pool": (404, "unknown pool\n"),
    }
    texts = {"logs": caplog.text, **{case: text for case, (_, text) in answers.items()}}
    assert not find_leaks({"verify token": VERIFY_TOKEN.encode()}, texts)


# ------------------------------------------------------------------ Twilio


def twilio_form(standin: TwilioStandin, sid: str, status: str, **extra: str) -> dict[str, str]:
    """A status callback's form as the stand-in posts it, at `status`."""
    return {
        "AccountSid": standin.account_sid,
        "ApiVersion": "2010-04-01",
        "ChannelPrefix": "whatsapp",
        "From": f"whatsapp:{standin.sender}",
        "MessageSid": sid,
        "MessageStatus": status,
        "SmsSid": sid,
        "SmsStatus": status,
        "To": f"whatsapp:{TO}",
        **extra,
    }


@pytest.fixture
async def twilio(ingest: Ingest) -> AsyncIterator[TwilioStandin]:
    async with TwilioStandin(deliver_callbacks=True) as standin:
        ingest.write_secrets("tw", authToken=standin.auth_token)
        yield standin


async def test_twilio_callbacks_become_events_and_move_the_ledger(
    ingest: Ingest, twilio: TwilioStandin, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    status_callback = ingest.url("twilio", "tw")
    sid = await send(twilio, ingest.dynamodb, "order-7", status_callback=status_callback)
    assert await until_callbacks(twilio, 1) == [200]  # the stand-in's own `sent` callback
    callback_url = twilio.callbacks_delivered[0][0]  # with our id in its query
    assert "wafleet_message_id=order-7" in callback_url

    for status in ("delivered", "read", "read", "delivered"):
        form = twilio_form(twilio, sid, status)
        headers = {"X-Twilio-Signature": twilio_signature(twilio.auth_token, callback_url, form)}
        await twilio.post_callback(callback_url, headers=headers, data=form)
    assert [status for _, status in twilio.callbacks_delivered] == [200] * 5

    events = await ingest.events()
    assert [(e.type, e.message_id, e.vendor_message_id) for e in events] == [
        (EventType.SENT, "order-7", sid),
        (EventType.DELIVERED, "order-7", sid),
        (EventType.READ, "order-7", sid),
    ]
    assert events[2].id == event_id(Source.TWILIO, sid, EventType.READ)
    assert all((e.from_, e.to, e.pool) == (twilio.sender, TO, "tw") for e in events)
    assert await ingest.delivery("order-7") == Recorded(exists=True, status=AckStatus.READ)
    assert not find_leaks({"auth token": twilio.auth_token.encode()}, {"logs": caplog.text})


async def test_twilio_wrong_signatures_are_refused(
    ingest: Ingest, twilio: TwilioStandin, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"{ingest.url('twilio', 'tw')}?wafleet_message_id=order-8"
    form = twilio_form(twilio, "SM0123", "delivered")
    internal = url.replace("127.0.0.1", "ingest.wafleet.svc")  # what a Host header might say
    cases = {
        "another token": twilio_signature("0" * 32, url, form),
        "another URL": twilio_signature(twilio.auth_token, internal, form),
        "another form": twilio_signature(twilio.auth_token, url, {**form, "MessageStatus": "read"}),
    }
    answers = {}
    async with aiohttp.ClientSession() as http:
        for case, signature in cases.items():
            headers = {"X-Twilio-Signature": signature}
            async with http.post(url, data=form, headers=headers) as response:
                answers[case] = (response.status, await response.text())
        async with http.post(url, data=form) as response:
            answers["unsigned"] = (response.status, await response.text())
    assert answers == dict.fromkeys([*cases, "unsigned"], (403, "forbidden\n"))
    assert await ingest.events() == []
    texts = {"logs": caplog.text, **{case: text for case, (_, text) in answers.items()}}
    assert not find_leaks({"auth token": twilio.auth_token.encode()}, texts)


async def test_a_pool_without_its_secret_refuses(ingest: Ingest, twilio: TwilioStandin) -> None:
    ingest.write_secrets("tw-no-token", accountSid=twilio.account_sid)
    url = ingest.url("twilio", "tw-no-token")
    form = twilio_form(twilio, "SM0123", "delivered")
    headers = {"X-Twilio-Signature": twilio_signature(twilio.auth_token, url, form)}
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=form, headers=headers) as answer,
    ):
        assert answer.status == 403
    assert await ingest.events() == []


# ------------------------------------------------------------------ behind a proxy


async def test_twilio_signature_is_checked_over_the_public_url() -> None:
    """Behind an ingress, Twilio signed https://hooks.example.com/…, not what the Host header
    says: the configured public base URL decides."""
    token = "b7c1d9e3f5a7b9c1d3e5f7a9b1c3d5e7"
    received: list[list[Event]] = []

    async def sink(events: list[Event]) -> None:
        received.append(events)

    app = build_app(
        public_base_url="https://hooks.example.com/wafleet",
        secrets=StaticSecrets({(NAMESPACE, "tw"): PoolSecrets(auth_token=token)}),
        sink=sink,
        clock=lambda: datetime(2026, 12, 6, tzinfo=UTC),
    )
    runner, port = await start(app, "127.0.0.1", 0)
    try:
        path = f"/twilio/{NAMESPACE}/tw?wafleet_message_id=order-9"
        form = {"MessageSid": "SM9", "MessageStatus": "delivered", "To": f"whatsapp:{TO}"}
        answers = []
        async with aiohttp.ClientSession() as http:
            for signed_over in ("https://hooks.example.com/wafleet", f"http://127.0.0.1:{port}"):
                headers = {"X-Twilio-Signature": twilio_signature(token, signed_over + path, form)}
                async with http.post(
                    f"http://127.0.0.1:{port}{path}", data=form, headers=headers
                ) as response:
                    answers.append(response.status)
    finally:
        await runner.cleanup()
    assert answers == [200, 403]
    [[event]] = received
    assert (event.type, event.message_id) == (EventType.DELIVERED, "order-9")


async def test_a_failing_sink_answers_503_so_the_vendor_retries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "appsec_1Aa2Bb3Cc4Dd5Ee6Ff7Gg8Hh9Ii0Jj"
    attempts: list[list[Event]] = []

    async def sink(events: list[Event]) -> None:
        attempts.append(events)
        if len(attempts) == 1:
            raise RuntimeError(f"a library error quoting {secret}")

    app = build_app(
        public_base_url="http://unused.example",
        secrets=StaticSecrets({(NAMESPACE, "meta-eu"): PoolSecrets(app_secret=secret)}),
        sink=sink,
    )
    runner, port = await start(app, "127.0.0.1", 0)
    standin = MetaStandin(app_secret=secret)
    raw = meta_status(standin, "wamid.R", "delivered", "order-1")
    statuses = []
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(2):
                async with http.post(
                    f"http://127.0.0.1:{port}/meta/{NAMESPACE}/meta-eu",
                    data=raw,
                    headers=meta_headers(secret, raw),
                ) as response:
                    statuses.append(response.status)
    finally:
        await runner.cleanup()
    assert statuses == [503, 200]
    assert attempts[0] == attempts[1]  # the retry carries the same event, the same id
    assert "RuntimeError" in caplog.text
    assert not find_leaks({"app secret": secret.encode()}, {"logs": caplog.text})


# ------------------------------------------------------------------ the topic, by name


def test_a_topic_name_resolves_to_the_operators_topic(aws: AwsEndpoint) -> None:
    names = pipeline_names("wafleet")
    sns = aws.client("sns")
    pipeline = ensure_events_pipeline(sns, aws.client("sqs"), names.topic, names.queue)
    assert resolve_topic_arn(sns, names.topic) == pipeline.topic_arn
    assert resolve_topic_arn(sns, pipeline.topic_arn) == pipeline.topic_arn
    topics = sns.list_topics()["Topics"]
    assert [t["TopicArn"] for t in topics] == [pipeline.topic_arn]  # nothing new was made
    with pytest.raises(TopicError, match=r"^events topic not a name: CreateTopic failed: \w+$"):
        resolve_topic_arn(sns, "not a name")
