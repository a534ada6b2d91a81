"""The vendor adapters against the vendor stand-ins over real HTTP on 127.0.0.1.

Each outcome the sender decides on is reached the way the vendor would cause
it, and the stand-in's log says whether the message really went out, which is
what the outcome claims.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest

from session_runner.sender.message import OutboundMessage
from session_runner.sender.vendors import (
    Lookup,
    Outcome,
    create_adapter,
    meta_cloud,
    twilio,
    twilio_lookup,
)
from session_runner.sender.vendors.base import SendResult, VendorAdapter
from tests.harness.secret_scan import describe, find_leaks
from tests.harness.vendor_standins import (
    CallbackSink,
    Faults,
    MetaStandin,
    TwilioStandin,
)

TO = "+4915112345678"
CALLBACK = "https://hooks.example/twilio/status"
SHORT = aiohttp.ClientTimeout(total=0.5)


def message(our_id: str, text: str = "Your order shipped", **fields: object) -> OutboundMessage:
    return OutboundMessage.model_validate(
        {"id": our_id, "target": "pool-a", "to": TO, "text": text} | fields
    )


def closed_port_url() -> str:
    """A URL where nothing listens: connecting is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
async def meta(meta_standin: MetaStandin) -> AsyncIterator[VendorAdapter]:
    adapter = create_adapter(
        "meta-cloud", meta_standin.credentials(), base_url=meta_standin.base_url, timeout=SHORT
    )
    yield adapter
    await adapter.close()


@pytest.fixture
async def tw(twilio_standin: TwilioStandin) -> AsyncIterator[VendorAdapter]:
    adapter = create_adapter(
        "twilio",
        twilio_standin.credentials(),
        base_url=twilio_standin.base_url,
        status_callback=CALLBACK,
        timeout=SHORT,
    )
    yield adapter
    await adapter.close()


# ------------------------------------------------------------------ Meta


async def test_meta_sent_once_with_our_id_where_meta_keeps_it(
    meta: VendorAdapter, meta_standin: MetaStandin
) -> None:
    result = await meta.send(message("order-1"), sender=None)
    assert result.outcome == Outcome.SENT
    [send] = meta_standin.log.sends
    assert result.vendor_message_id == send.vendor_id
    assert (send.our_id, send.to, send.body) == ("order-1", TO, "Your order shipped")
    assert meta_standin.log.sent_twice() == {}


@pytest.mark.parametrize(
    ("credentials", "code"),
    [
        pytest.param({"accessToken": "EAAGexpired-token-0000"}, "190", id="refused token"),
        pytest.param({"phoneNumberId": "999"}, "100", id="phone-number id not ours"),
    ],
)
async def test_meta_refused_credentials_stop_the_pool(
    meta_standin: MetaStandin, credentials: dict[str, str], code: str
) -> None:
    adapter = create_adapter(
        "meta-cloud", meta_standin.credentials() | credentials, base_url=meta_standin.base_url
    )
    result = await adapter.send(message("order-1"), sender=None)
    await adapter.close()
    assert (result.outcome, result.code) == (Outcome.AUTH, code)
    assert meta_standin.log.sends == []


@pytest.mark.parametrize(
    ("faults", "outcome", "code", "retry_after"),
    [
        pytest.param(Faults(fail_fraction=1, fail_code=131047), Outcome.PERMANENT, "131047", None,
                     id="131047 window closed"),
        pytest.param(Faults(fail_fraction=1, fail_code=131026), Outcome.PERMANENT, "131026", None,
                     id="131026 undeliverable"),
        pytest.param(Faults(fail_fraction=1, fail_code=131000), Outcome.RETRY, "131000", None,
                     id="131000 failed to send"),
        pytest.param(Faults(fail_fraction=1, fail_code=131056), Outcome.RETRY, "131056", 6.0,
                     id="131056 pair rate"),
        pytest.param(Faults(throttle_fraction=1, retry_after_s=3), Outcome.THROTTLE, "130429", 3.0,
                     id="130429 throughput"),
        pytest.param(Faults(fail_fraction=1, fail_code=1), Outcome.UNKNOWN, "1", None,
                     id="code 1 as a 500"),
        pytest.param(Faults(fail_fraction=1, fail_status=502), Outcome.UNKNOWN, None, None,
                     id="bare 502"),
    ],
)  # fmt: skip
async def test_meta_error_answers(
    meta: VendorAdapter,
    meta_standin: MetaStandin,
    faults: Faults,
    outcome: Outcome,
    code: str | None,
    retry_after: float | None,
) -> None:
    meta_standin.faults = faults
    result = await meta.send(message("order-1"), sender=None)
    assert (result.outcome, result.code, result.retry_after_s) == (outcome, code, retry_after)
    assert result.vendor_message_id is None
    assert meta_standin.log.sends == []


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param(Faults(drop_fraction=1), id="connection dropped after the request"),
        pytest.param(Faults(delay_s=60), id="answer slower than our deadline"),
    ],
)
async def test_meta_lost_answer_is_unknown_and_the_message_did_go_out(
    meta: VendorAdapter, meta_standin: MetaStandin, faults: Faults
) -> None:
    meta_standin.faults = faults
    result = await meta.send(message("order-1"), sender=None)
    assert result.outcome == Outcome.UNKNOWN
    assert meta_standin.log.count("order-1") == 1
    assert (await meta.lookup(message("order-1"), sender=None)).lookup == Lookup.CANNOT_TELL


async def test_meta_unreachable_vendor_is_retry() -> None:
    adapter = create_adapter(
        "meta-cloud", {"accessToken": "EAAGx", "phoneNumberId": "1"}, base_url=closed_port_url()
    )
    result = await adapter.send(message("order-1"), sender=None)
    await adapter.close()
    assert result.outcome == Outcome.RETRY


async def test_meta_status_webhook_verifies_and_names_our_id(callback_sink: CallbackSink) -> None:
    async with MetaStandin(webhook_url=callback_sink.url("/meta")) as standin:
        adapter = create_adapter("meta-cloud", standin.credentials(), base_url=standin.base_url)
        result = await adapter.send(message("order-4"), sender=None)
        await adapter.close()
        [received] = await callback_sink.wait_for(1)
    header = received.headers["X-Hub-Signature-256"]
    assert meta_cloud.verify_signature(standin.app_secret, received.body, header)
    assert not meta_cloud.verify_signature(standin.app_secret, received.body + b" ", header)
    assert b'"biz_opaque_callback_data": "order-4"' in received.body
    assert result.vendor_message_id is not None
    assert result.vendor_message_id.encode() in received.body


# ------------------------------------------------------------------ Twilio


async def test_twilio_sent_once_with_our_id_in_the_status_callback(
    tw: VendorAdapter, twilio_standin: TwilioStandin
) -> None:
    result = await tw.send(message("order-1"), sender=twilio_standin.sender)
    assert result.outcome == Outcome.SENT
    [send] = twilio_standin.log.sends
    assert result.vendor_message_id == send.vendor_id
    assert (send.our_id, send.to, send.body) == ("order-1", f"whatsapp:{TO}", "Your order shipped")
    assert twilio_standin.log.sent_twice() == {}


async def test_twilio_sends_through_the_messaging_service_without_a_number(
    twilio_standin: TwilioStandin,
) -> None:
    credentials = twilio_standin.credentials() | {
        "messagingServiceSid": twilio_standin.messaging_service_sid
    }
    adapter = create_adapter("twilio", credentials, base_url=twilio_standin.base_url)
    result = await adapter.send(message("order-1"), sender=None)
    found = await adapter.lookup(message("order-1"), sender=None)
    await adapter.close()
    assert result.outcome == Outcome.SENT
    assert [r["messaging_service_sid"] for r in twilio_standin.resources] == [
        twilio_standin.messaging_service_sid
    ]
    assert (found.lookup, found.vendor_message_id) == (Lookup.FOUND, result.vendor_message_id)


@pytest.mark.parametrize(
    ("token", "sender", "code"),
    [
        pytest.param("0" * 32, None, "20003", id="refused token"),
        pytest.param(None, "+15559999999", "63007", id="sender with no WhatsApp channel"),
    ],
)
async def test_twilio_refused_credentials_or_sender_stop_the_pool(
    twilio_standin: TwilioStandin, token: str | None, sender: str | None, code: str
) -> None:
    credentials = twilio_standin.credentials()
    if token:
        credentials["authToken"] = token
    adapter = create_adapter("twilio", credentials, base_url=twilio_standin.base_url)
    result = await adapter.send(message("order-1"), sender=sender or twilio_standin.sender)
    await adapter.close()
    assert (result.outcome, result.code) == (Outcome.AUTH, code)
    assert twilio_standin.log.sends == []


async def test_twilio_without_any_sender_sends_nothing_and_stops_the_pool(
    tw: VendorAdapter, twilio_standin: TwilioStandin
) -> None:
    result = await tw.send(message("order-1"), sender=None)
    assert result.outcome == Outcome.AUTH
    assert twilio_standin.resources == []


async def test_twilio_unsubscribed_recipient_is_permanent(
    tw: VendorAdapter, twilio_standin: TwilioStandin
) -> None:
    twilio_standin.unsubscribed.add(TO)
    result = await tw.send(message("order-1"), sender=twilio_standin.sender)
    assert (result.outcome, result.code) == (Outcome.PERMANENT, "21610")
    assert twilio_standin.log.sends == []


@pytest.mark.parametrize(
    ("faults", "outcome", "code", "retry_after"),
    [
        pytest.param(Faults(fail_fraction=1, fail_code=63016), Outcome.PERMANENT, "63016", None,
                     id="63016 window closed"),
        pytest.param(Faults(fail_fraction=1, fail_code=21611), Outcome.THROTTLE, "21611", None,
                     id="21611 queue full"),
        pytest.param(Faults(throttle_fraction=1, retry_after_s=2), Outcome.THROTTLE, "20429", 2.0,
                     id="20429 honours Retry-After"),
        pytest.param(Faults(fail_fraction=1, fail_code=20500), Outcome.UNKNOWN, "20500", None,
                     id="20500 may have sent"),
        pytest.param(Faults(fail_fraction=1, fail_status=503), Outcome.UNKNOWN, None, None,
                     id="bare 503"),
    ],
)  # fmt: skip
async def test_twilio_error_answers(
    tw: VendorAdapter,
    twilio_standin: TwilioStandin,
    faults: Faults,
    outcome: Outcome,
    code: str | None,
    retry_after: float | None,
) -> None:
    twilio_standin.faults = faults
    result = await tw.send(message("order-1"), sender=twilio_standin.sender)
    assert (result.outcome, result.code, result.retry_after_s) == (outcome, code, retry_after)
    assert twilio_standin.log.sends == []


async def test_twilio_unreachable_vendor_is_retry_and_lookup_cannot_tell() -> None:
    adapter = create_adapter(
        "twilio", {"accountSid": "AC1", "authToken": "t" * 32}, base_url=closed_port_url()
    )
    result = await adapter.send(message("order-1"), sender="+15550001111")
    looked = await adapter.lookup(message("order-1"), sender="+15550001111")
    await adapter.close()
    assert result.outcome == Outcome.RETRY
    assert looked.lookup == Lookup.CANNOT_TELL


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param(Faults(drop_fraction=1), id="connection dropped after the request"),
        pytest.param(Faults(delay_s=60), id="answer slower than our deadline"),
    ],
)
async def test_twilio_lost_answer_is_unknown_and_lookup_finds_the_message(
    tw: VendorAdapter, twilio_standin: TwilioStandin, faults: Faults
) -> None:
    twilio_standin.faults = faults
    result = await tw.send(message("order-1"), sender=twilio_standin.sender)
    assert result.outcome == Outcome.UNKNOWN
    twilio_standin.faults = Faults()
    found = await tw.lookup(message("order-1"), sender=twilio_standin.sender)
    [send] = twilio_standin.log.sends
    assert (found.lookup, found.vendor_message_id) == (Lookup.FOUND, send.vendor_id)


async def test_twilio_lookup_not_found_when_the_send_never_landed(
    tw: VendorAdapter, twilio_standin: TwilioStandin
) -> None:
    twilio_standin.faults = Faults(throttle_fraction=1)
    assert (await tw.send(message("order-1"), sender=twilio_standin.sender)).outcome == (
        Outcome.THROTTLE
    )
    twilio_standin.faults = Faults()
    await tw.send(message("other-1", text="something else"), sender=twilio_standin.sender)
    found = await tw.lookup(message("order-1"), sender=twilio_standin.sender)
    assert found.lookup == Lookup.NOT_FOUND


async def test_twilio_lookup_cannot_tell_twins_apart(
    tw: VendorAdapter, twilio_standin: TwilioStandin
) -> None:
    for our_id in ("order-1", "order-2"):
        await tw.send(message(our_id), sender=twilio_standin.sender)
    found = await tw.lookup(message("order-1"), sender=twilio_standin.sender)
    assert found.lookup == Lookup.CANNOT_TELL


async def test_twilio_lookup_ignores_a_twin_sent_before_our_message_existed(
    tw: VendorAdapter, twilio_standin: TwilioStandin
) -> None:
    await tw.send(message("order-1"), sender=twilio_standin.sender)
    later = message("order-2", created_at=datetime.now(UTC) + timedelta(hours=1))
    assert (await tw.lookup(later, sender=twilio_standin.sender)).lookup == Lookup.NOT_FOUND


async def test_twilio_lookup_follows_pages_back_to_our_message(
    tw: VendorAdapter, twilio_standin: TwilioStandin
) -> None:
    ours = message("order-1")
    await tw.send(ours, sender=twilio_standin.sender)
    for n in range(twilio_lookup.PAGE_SIZE):
        await tw.send(message(f"later-{n}", text=f"later {n}"), sender=twilio_standin.sender)
    found = await tw.lookup(ours, sender=twilio_standin.sender)
    assert (found.lookup, found.vendor_message_id) == (
        Lookup.FOUND,
        twilio_standin.log.sends[0].vendor_id,
    )


async def test_twilio_status_callback_verifies_and_names_our_id(
    callback_sink: CallbackSink,
) -> None:
    async with TwilioStandin(deliver_callbacks=True) as standin:
        adapter = create_adapter(
            "twilio",
            standin.credentials(),
            base_url=standin.base_url,
            status_callback=callback_sink.url("/twilio?pool=pool-a"),
        )
        result = await adapter.send(message("order-5"), sender=standin.sender)
        await adapter.close()
        [received] = await callback_sink.wait_for(1)
    form = dict(parse_qsl(received.body.decode()))
    signature = received.headers["X-Twilio-Signature"]
    assert twilio.verify_signature(standin.auth_token, received.url, form, signature)
    assert not twilio.verify_signature(standin.auth_token, received.url + "x", form, signature)
    query = dict(parse_qsl(urlsplit(received.url).query))
    assert query == {"pool": "pool-a", twilio.ID_QUERY_PARAM: "order-5"}
    assert form["MessageSid"] == result.vendor_message_id


# ------------------------------------------------------------------ secrets


async def test_every_outcome_without_a_secret_in_results_logs_or_reprs(
    meta_standin: MetaStandin,
    twilio_standin: TwilioStandin,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every outcome once per vendor where it exists, logs at DEBUG from every logger."""
    caplog.set_level(logging.DEBUG)
    meta = create_adapter(
        "meta-cloud", meta_standin.credentials(), base_url=meta_standin.base_url, timeout=SHORT
    )
    wrong = create_adapter(
        "meta-cloud",
        meta_standin.credentials() | {"accessToken": meta_standin.access_token[::-1]},
        base_url=meta_standin.base_url,
    )
    tw = create_adapter(
        "twilio", twilio_standin.credentials(), base_url=twilio_standin.base_url, timeout=SHORT
    )
    plans: list[tuple[VendorAdapter, MetaStandin | TwilioStandin, Faults, str | None]] = [
        (meta, meta_standin, Faults(), None),
        (meta, meta_standin, Faults(fail_fraction=1, fail_code=131000), None),
        (meta, meta_standin, Faults(fail_fraction=1, fail_code=131047), None),
        (meta, meta_standin, Faults(throttle_fraction=1), None),
        (meta, meta_standin, Faults(drop_fraction=1), None),
        (wrong, meta_standin, Faults(), None),
        (tw, twilio_standin, Faults(), twilio_standin.sender),
        (tw, twilio_standin, Faults(fail_fraction=1, fail_code=63016), twilio_standin.sender),
        (tw, twilio_standin, Faults(throttle_fraction=1), twilio_standin.sender),
        (tw, twilio_standin, Faults(drop_fraction=1), twilio_standin.sender),
        (tw, twilio_standin, Faults(), "+15559999999"),
    ]
    results: list[SendResult] = []
    for n, (adapter, standin, faults, sender) in enumerate(plans):
        standin.faults = faults
        results.append(await adapter.send(message(f"order-{n}"), sender=sender))
    looked = await tw.lookup(message("order-0"), sender=twilio_standin.sender)
    for adapter in (meta, wrong, tw):
        await adapter.close()
    closed = create_adapter("twilio", twilio_standin.credentials(), base_url=closed_port_url())
    results.append(await closed.send(message("order-x"), sender=twilio_standin.sender))
    await closed.close()

    assert {result.outcome for result in results} == set(Outcome)
    texts = {
        "log text": caplog.text,
        "log records": repr([record.__dict__ for record in caplog.records]),
        "results": repr(results) + str(results) + repr(looked),
        "adapters": repr([meta, wrong, tw, closed]),
    }
    account = f"{twilio_standin.account_sid}:{twilio_standin.auth_token}"
    secrets = {
        "meta access token": meta_standin.access_token.encode(),
        "twilio auth token": twilio_standin.auth_token.encode(),
        "twilio basic credentials": account.encode(),
    }
    leaks = find_leaks(secrets, texts)
    assert not leaks, describe(leaks)
    assert any(record.name.startswith("session_runner.sender") for record in caplog.records)


# ------------------------------------------------------------------ templates and media

TEMPLATE = {"template": {"name": "order_shipped", "language": "en_US", "variables": {"1": "Ada"}}}
IMAGE = {"media": {"url": "https://cdn.example/receipt.png", "content_type": "image/png"}}


async def test_meta_takes_a_template_and_a_media_message(
    meta: VendorAdapter, meta_standin: MetaStandin
) -> None:
    sent = await meta.send(message("tpl-1", text=None, **TEMPLATE), sender=None)
    shown = await meta.send(message("img-1", text="your receipt", **IMAGE), sender=None)
    assert (sent.outcome, shown.outcome) == (Outcome.SENT, Outcome.SENT)
    assert [(s.our_id, s.body) for s in meta_standin.log.sends] == [
        ("tpl-1", "template:order_shipped"),
        ("img-1", "image:https://cdn.example/receipt.png"),
    ]


async def test_twilio_takes_a_template_and_a_media_message_and_cannot_look_them_up(
    tw: VendorAdapter, twilio_standin: TwilioStandin
) -> None:
    template = message("tpl-1", text=None, template={"name": "HX" + "0" * 32})
    image = message("img-1", text="your receipt", **IMAGE)
    assert (await tw.send(template, sender=twilio_standin.sender)).outcome == Outcome.SENT
    assert (await tw.send(image, sender=twilio_standin.sender)).outcome == Outcome.SENT
    assert [(s.our_id, s.body) for s in twilio_standin.log.sends] == [
        ("tpl-1", f"template:HX{'0' * 32}"),
        ("img-1", "your receipt"),
    ]
    assert [r["num_media"] for r in twilio_standin.resources] == ["0", "1"]
    # the lookup matches by body, which tells neither apart from another send
    lookup = await tw.lookup(image, sender=twilio_standin.sender)
    assert lookup.lookup == Lookup.CANNOT_TELL
