"""One test per semantic of the vendor stand-ins that the adapters rely on, over raw HTTP."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import pytest

from session_runner.sender.vendors.twilio import verify_signature as twilio_signature_ok
from tests.harness.vendor_standins import (
    CallbackSink,
    Faults,
    MetaStandin,
    Plan,
    TwilioStandin,
    plan_request,
)

# ------------------------------------------------------------------ the fault plan (pure)

PLAN_ROWS = [
    pytest.param(Faults(), (0.0, 0.0, 0.0), 0, Plan.ACCEPT, id="no faults: accept"),
    pytest.param(Faults(throttle_fraction=1.0), (0.99, 0.0, 0.0), 0, Plan.THROTTLE,
                 id="fraction 1 always throttles"),
    pytest.param(Faults(throttle_fraction=0.5), (0.5, 0.9, 0.9), 0, Plan.ACCEPT,
                 id="a draw at the fraction does not"),
    pytest.param(Faults(throttle_above=3), (0.9, 0.9, 0.9), 3, Plan.THROTTLE,
                 id="rate reached throttles"),
    pytest.param(Faults(throttle_above=3), (0.9, 0.9, 0.9), 2, Plan.ACCEPT, id="below the rate"),
    pytest.param(Faults(fail_fraction=1.0, throttle_fraction=1.0), (0.1, 0.1, 0.1), 0,
                 Plan.THROTTLE, id="throttle before failing"),
    pytest.param(Faults(fail_fraction=1.0, drop_fraction=1.0), (0.9, 0.1, 0.1), 0, Plan.FAIL,
                 id="fail before dropping"),
    pytest.param(Faults(drop_fraction=1.0), (0.9, 0.9, 0.99), 0, Plan.ACCEPT_THEN_DROP,
                 id="drop after accepting"),
]  # fmt: skip


@pytest.mark.parametrize(("faults", "draws", "in_window", "plan"), PLAN_ROWS)
def test_plan_request(
    faults: Faults, draws: tuple[float, float, float], in_window: int, plan: Plan
) -> None:
    assert plan_request(faults, draws=draws, accepted_in_window=in_window) == plan


# ------------------------------------------------------------------ Meta

TO = "+4915112345678"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def meta_body(our_id: str = "m-1", to: str = TO, text: str = "hello") -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"body": text},
        "biz_opaque_callback_data": our_id,
    }


async def meta_post(
    http: aiohttp.ClientSession,
    standin: MetaStandin,
    body: dict[str, Any],
    *,
    token: str | None = None,
    phone_number_id: str | None = None,
) -> tuple[int, dict[str, str], Any]:
    url = f"{standin.base_url}/v25.0/{phone_number_id or standin.phone_number_id}/messages"
    headers = {"Authorization": f"Bearer {token or standin.access_token}"}
    async with http.post(url, json=body, headers=headers) as response:
        return response.status, dict(response.headers), await response.json(content_type=None)


async def test_meta_refuses_a_wrong_token_as_graph_does(
    http: aiohttp.ClientSession, meta_standin: MetaStandin
) -> None:
    status, _, answer = await meta_post(http, meta_standin, meta_body(), token="EAAGwrong")
    assert status == 401
    assert answer["error"]["code"] == 190
    assert answer["error"]["type"] == "OAuthException"
    assert answer["error"]["fbtrace_id"]
    assert meta_standin.log.sends == []


async def test_meta_success_returns_a_wamid_and_records_our_id(
    http: aiohttp.ClientSession, meta_standin: MetaStandin
) -> None:
    status, _, answer = await meta_post(http, meta_standin, meta_body("m-7", text="hi there"))
    assert status == 200
    wamid = answer["messages"][0]["id"]
    assert wamid.startswith("wamid.")
    assert answer["contacts"] == [{"input": TO, "wa_id": TO.lstrip("+")}]
    [send] = meta_standin.log.sends
    assert (send.our_id, send.to, send.body, send.vendor_id) == ("m-7", TO, "hi there", wamid)


async def test_meta_refuses_a_phone_number_id_that_is_not_the_accounts(
    http: aiohttp.ClientSession, meta_standin: MetaStandin
) -> None:
    status, _, answer = await meta_post(http, meta_standin, meta_body(), phone_number_id="999")
    assert status == 400
    assert (answer["error"]["code"], answer["error"]["error_subcode"]) == (100, 33)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(meta_body(to="12"), id="to is no phone number"),
        pytest.param(meta_body() | {"messaging_product": "sms"}, id="not whatsapp"),
        pytest.param(meta_body(text=""), id="empty text"),
        pytest.param(meta_body(text="x" * 4097), id="text over 4096"),
        pytest.param(meta_body(our_id="x" * 513), id="opaque data over 512"),
        pytest.param(
            meta_body() | {"type": "template", "template": {"language": {"code": "en"}}},
            id="template without a name",
        ),
        pytest.param(
            meta_body() | {"type": "template", "template": {"name": "t"}},
            id="template without a language",
        ),
        pytest.param(
            meta_body() | {"type": "image", "image": {"link": "ftp://x/y.png"}},
            id="media without an http link",
        ),
        pytest.param(
            meta_body() | {"type": "audio", "audio": {"link": "https://x/a.ogg", "caption": "no"}},
            id="audio with a caption",
        ),
    ],
)
async def test_meta_refuses_an_invalid_body_with_code_100(
    http: aiohttp.ClientSession, meta_standin: MetaStandin, body: dict[str, Any]
) -> None:
    status, _, answer = await meta_post(http, meta_standin, body)
    assert (status, answer["error"]["code"]) == (400, 100)
    assert answer["error"]["error_data"]["details"]
    assert meta_standin.log.sends == []


async def test_meta_throttles_with_130429_and_retry_after(
    http: aiohttp.ClientSession, meta_standin: MetaStandin
) -> None:
    meta_standin.faults = Faults(throttle_fraction=1.0, retry_after_s=4)
    status, headers, answer = await meta_post(http, meta_standin, meta_body())
    assert (status, answer["error"]["code"], headers["Retry-After"]) == (400, 130429, "4")
    assert meta_standin.log.sends == []


async def test_meta_throttles_above_the_configured_rate(
    http: aiohttp.ClientSession, meta_standin: MetaStandin
) -> None:
    meta_standin.faults = Faults(throttle_above=1, rate_window_s=3600)
    first, _, _ = await meta_post(http, meta_standin, meta_body("m-1"))
    second, _, answer = await meta_post(http, meta_standin, meta_body("m-2"))
    assert (first, second, answer["error"]["code"]) == (200, 400, 130429)
    assert [send.our_id for send in meta_standin.log.sends] == ["m-1"]


async def test_meta_fails_with_the_configured_code_and_its_status(
    http: aiohttp.ClientSession, meta_standin: MetaStandin
) -> None:
    meta_standin.faults = Faults(fail_fraction=1.0, fail_code=131000)
    status, _, answer = await meta_post(http, meta_standin, meta_body())
    assert (status, answer["error"]["code"]) == (500, 131000)
    assert meta_standin.log.sends == []


async def test_meta_bare_status_has_no_body(
    http: aiohttp.ClientSession, meta_standin: MetaStandin
) -> None:
    meta_standin.faults = Faults(fail_fraction=1.0, fail_status=502)
    url = f"{meta_standin.base_url}/v25.0/{meta_standin.phone_number_id}/messages"
    headers = {"Authorization": f"Bearer {meta_standin.access_token}"}
    async with http.post(url, json=meta_body(), headers=headers) as response:
        assert (response.status, await response.read()) == (502, b"")


async def test_meta_counts_sends_by_our_id(
    http: aiohttp.ClientSession, meta_standin: MetaStandin
) -> None:
    for our_id in ("m-1", "m-2", "m-1"):
        await meta_post(http, meta_standin, meta_body(our_id))
    assert meta_standin.log.count("m-1") == 2
    assert meta_standin.log.count("m-2") == 1
    assert meta_standin.log.sent_twice() == {"m-1": 2}


async def test_meta_dropped_connection_still_records_the_send(
    http: aiohttp.ClientSession, meta_standin: MetaStandin
) -> None:
    meta_standin.faults = Faults(drop_fraction=1.0)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await meta_post(http, meta_standin, meta_body("m-9"))
    assert meta_standin.log.count("m-9") == 1


async def test_meta_delayed_answer_comes_after_the_send_was_recorded(
    http: aiohttp.ClientSession, meta_standin: MetaStandin
) -> None:
    meta_standin.faults = Faults(delay_s=60)
    url = f"{meta_standin.base_url}/v25.0/{meta_standin.phone_number_id}/messages"
    headers = {"Authorization": f"Bearer {meta_standin.access_token}"}
    with pytest.raises(TimeoutError):
        async with http.post(
            url, json=meta_body("m-5"), headers=headers, timeout=aiohttp.ClientTimeout(total=0.3)
        ):
            pass
    assert meta_standin.log.count("m-5") == 1


async def test_meta_status_webhook_is_signed_and_carries_our_id(
    http: aiohttp.ClientSession, callback_sink: CallbackSink
) -> None:
    async with MetaStandin(webhook_url=callback_sink.url("/meta")) as standin:
        standin.undeliverable.add(TO.lstrip("+"))
        status, _, answer = await meta_post(http, standin, meta_body("m-3"))
        [received] = await callback_sink.wait_for(1)
    assert status == 200  # accepted now, failed later: as Meta reports 131026
    expected = hmac.new(standin.app_secret.encode(), received.body, hashlib.sha256).hexdigest()
    assert received.headers["X-Hub-Signature-256"] == f"sha256={expected}"
    [entry] = json.loads(received.body)["entry"]
    [status_update] = entry["changes"][0]["value"]["statuses"]
    assert status_update["id"] == answer["messages"][0]["id"]
    assert status_update["biz_opaque_callback_data"] == "m-3"
    assert (status_update["status"], status_update["errors"][0]["code"]) == ("failed", 131026)


# ------------------------------------------------------------------ Twilio


def twilio_form(standin: TwilioStandin, **fields: str) -> dict[str, str]:
    form = {
        "To": f"whatsapp:{TO}",
        "From": f"whatsapp:{standin.sender}",
        "Body": "hello",
        "StatusCallback": "https://hooks.example/tw?wafleet_message_id=t-1",
    }
    return form | fields


async def twilio_call(
    http: aiohttp.ClientSession,
    standin: TwilioStandin,
    method: str = "POST",
    *,
    form: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    token: str | None = None,
    account_sid: str | None = None,
) -> tuple[int, dict[str, str], Any]:
    sid = account_sid or standin.account_sid
    url = f"{standin.base_url}/2010-04-01/Accounts/{sid}/Messages.json"
    auth = {
        "Authorization": aiohttp.encode_basic_auth(standin.account_sid, token or standin.auth_token)
    }
    async with http.request(method, url, data=form, params=query, headers=auth) as response:
        return response.status, dict(response.headers), await response.json(content_type=None)


@pytest.mark.parametrize(
    ("token", "path_sid"),
    [pytest.param("0" * 32, None, id="wrong token"), pytest.param(None, "AC0", id="other account")],
)
async def test_twilio_refuses_bad_credentials_with_20003(
    http: aiohttp.ClientSession, twilio_standin: TwilioStandin, token: str | None, path_sid: str
) -> None:
    status, _, answer = await twilio_call(
        http, twilio_standin, form=twilio_form(twilio_standin), token=token, account_sid=path_sid
    )
    assert status == 401
    assert answer == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }
    assert twilio_standin.log.sends == []


async def test_twilio_success_is_201_with_the_message_resource(
    http: aiohttp.ClientSession, twilio_standin: TwilioStandin
) -> None:
    status, _, answer = await twilio_call(http, twilio_standin, form=twilio_form(twilio_standin))
    assert status == 201
    assert re.fullmatch(r"SM[0-9a-f]{32}", answer["sid"])
    assert (answer["status"], answer["direction"]) == ("queued", "outbound-api")
    assert (answer["to"], answer["from"], answer["body"]) == (
        f"whatsapp:{TO}",
        f"whatsapp:{twilio_standin.sender}",
        "hello",
    )
    [send] = twilio_standin.log.sends
    assert (send.our_id, send.vendor_id) == ("t-1", answer["sid"])


@pytest.mark.parametrize(
    ("fields", "body", "media"),
    [
        pytest.param({"Body": "", "ContentSid": "HX" + "0" * 32}, f"template:HX{'0' * 32}", "0"),
        pytest.param({"Body": "", "MediaUrl": "https://x.example/a.png"}, "", "1"),
        pytest.param({"Body": "look", "MediaUrl": "https://x.example/a.png"}, "look", "1"),
    ],
)
async def test_twilio_takes_a_template_or_media_without_a_body(
    http: aiohttp.ClientSession,
    twilio_standin: TwilioStandin,
    fields: dict[str, str],
    body: str,
    media: str,
) -> None:
    form = {k: v for k, v in twilio_form(twilio_standin, **fields).items() if v}
    status, _, answer = await twilio_call(http, twilio_standin, form=form)
    assert status == 201, answer
    assert (answer["body"], answer["num_media"]) == (body, media)


async def test_meta_takes_a_template_and_each_media_kind(
    http: aiohttp.ClientSession, meta_standin: MetaStandin
) -> None:
    template = {"name": "order_shipped", "language": {"code": "en_US"}}
    bodies = [meta_body("t-1") | {"type": "template", "template": template}] + [
        meta_body(f"{kind}-1") | {"type": kind, kind: {"link": f"https://x.example/{kind}"}}
        for kind in ("image", "video", "audio", "document")
    ]
    for body in bodies:
        del body["text"]
        status, _, answer = await meta_post(http, meta_standin, body)
        assert status == 200, answer
    assert [s.body for s in meta_standin.log.sends] == ["template:order_shipped"] + [
        f"{kind}:https://x.example/{kind}" for kind in ("image", "video", "audio", "document")
    ]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        pytest.param({"To": "+4915112345678"}, 21211, id="To without the channel"),
        pytest.param({"To": "whatsapp:12"}, 21211, id="To no number"),
        pytest.param({"From": "whatsapp:+15559999999"}, 63007, id="From with no channel"),
        pytest.param({"Body": ""}, 21602, id="no body"),
        pytest.param({"Body": "x" * 1601}, 21617, id="body over 1600"),
    ],
)
async def test_twilio_refuses_an_invalid_form_with_its_code(
    http: aiohttp.ClientSession, twilio_standin: TwilioStandin, fields: dict[str, str], code: int
) -> None:
    form = twilio_form(twilio_standin, **fields)
    status, _, answer = await twilio_call(http, twilio_standin, form=form)
    assert (status, answer["code"], answer["status"]) == (400, code, 400)
    assert twilio_standin.log.sends == []


async def test_twilio_refuses_an_unsubscribed_recipient_with_21610(
    http: aiohttp.ClientSession, twilio_standin: TwilioStandin
) -> None:
    twilio_standin.unsubscribed.add(TO)
    status, _, answer = await twilio_call(http, twilio_standin, form=twilio_form(twilio_standin))
    assert (status, answer["code"]) == (400, 21610)


async def test_twilio_throttles_with_20429_and_retry_after(
    http: aiohttp.ClientSession, twilio_standin: TwilioStandin
) -> None:
    twilio_standin.faults = Faults(throttle_fraction=1.0, retry_after_s=2)
    status, headers, answer = await twilio_call(
        http, twilio_standin, form=twilio_form(twilio_standin)
    )
    assert (status, answer["code"], headers["Retry-After"]) == (429, 20429, "2")
    assert twilio_standin.log.sends == []


async def test_twilio_dropped_connection_still_creates_the_message(
    http: aiohttp.ClientSession, twilio_standin: TwilioStandin
) -> None:
    twilio_standin.faults = Faults(drop_fraction=1.0)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await twilio_call(http, twilio_standin, form=twilio_form(twilio_standin))
    assert twilio_standin.log.count("t-1") == 1
    twilio_standin.faults = Faults()
    _, _, listing = await twilio_call(http, twilio_standin, "GET", query={"To": f"whatsapp:{TO}"})
    assert [message["sid"] for message in listing["messages"]] == [
        twilio_standin.log.sends[0].vendor_id
    ]


async def test_twilio_list_is_filtered_newest_first_and_paged(
    http: aiohttp.ClientSession, twilio_standin: TwilioStandin
) -> None:
    for n in range(3):
        await twilio_call(http, twilio_standin, form=twilio_form(twilio_standin, Body=f"b{n}"))
    other = twilio_form(twilio_standin, To="whatsapp:+4915100000000", Body="elsewhere")
    await twilio_call(http, twilio_standin, form=other)
    query = {"To": f"whatsapp:{TO}", "PageSize": "2"}
    _, _, first = await twilio_call(http, twilio_standin, "GET", query=query)
    assert [message["body"] for message in first["messages"]] == ["b2", "b1"]
    async with http.get(
        f"{twilio_standin.base_url}{first['next_page_uri']}",
        headers={
            "Authorization": aiohttp.encode_basic_auth(
                twilio_standin.account_sid, twilio_standin.auth_token
            )
        },
    ) as response:
        second = await response.json()
    assert [message["body"] for message in second["messages"]] == ["b0"]
    assert second["next_page_uri"] is None


async def test_twilio_status_callback_is_signed_as_twilio_signs(
    http: aiohttp.ClientSession, callback_sink: CallbackSink
) -> None:
    async with TwilioStandin(deliver_callbacks=True) as standin:
        url = f"{callback_sink.url('/tw')}?wafleet_message_id=t-4"
        _, _, answer = await twilio_call(
            http, standin, form=twilio_form(standin, StatusCallback=url)
        )
        [received] = await callback_sink.wait_for(1)
    assert received.url == url
    form = dict(parse_qsl(received.body.decode()))
    assert (form["MessageSid"], form["MessageStatus"]) == (answer["sid"], "sent")
    signature = received.headers["X-Twilio-Signature"]
    assert twilio_signature_ok(standin.auth_token, received.url, form, signature)
    assert not twilio_signature_ok("f" * 32, received.url, form, signature)
