"""The vendor adapters' decisions, one table row per rule: error codes, answers, signatures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from session_runner.sender.message import OutboundMessage
from session_runner.sender.vendors import AdapterConfigError, create_adapter, meta_cloud, twilio
from session_runner.sender.vendors.base import (
    MAX_DETAIL_CHARS,
    Lookup,
    LookupResult,
    Outcome,
    outcome_for_status,
    parse_retry_after,
    short_detail,
)
from session_runner.sender.vendors.transport import HttpAnswer, NoAnswer, result_without_answer
from session_runner.sender.vendors.twilio_lookup import scan_page, verdict

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
SECRET = "tok-9f8e7d6c5b4a39281706f5e4d3c2b1a0"

# ------------------------------------------------------------------ shared rules

STATUS_ROWS = [
    pytest.param(400, Outcome.PERMANENT, id="400 refused request"),
    pytest.param(404, Outcome.PERMANENT, id="404 refused request"),
    pytest.param(401, Outcome.AUTH, id="401 credentials"),
    pytest.param(403, Outcome.AUTH, id="403 forbidden"),
    pytest.param(408, Outcome.RETRY, id="408 server gave up reading: never processed"),
    pytest.param(429, Outcome.THROTTLE, id="429 slow down"),
    pytest.param(500, Outcome.UNKNOWN, id="500 may have sent"),
    pytest.param(502, Outcome.UNKNOWN, id="502 may have sent"),
    pytest.param(503, Outcome.UNKNOWN, id="503 may have sent"),
    pytest.param(302, Outcome.UNKNOWN, id="redirect is not an answer"),
]


@pytest.mark.parametrize(("status", "expected"), STATUS_ROWS)
def test_outcome_for_status(status: int, expected: Outcome) -> None:
    assert outcome_for_status(status) == expected


RETRY_AFTER_ROWS = [
    pytest.param(None, None, id="absent"),
    pytest.param("  ", None, id="blank"),
    pytest.param("7", 7.0, id="delay-seconds"),
    pytest.param("1.5", 1.5, id="fractional seconds"),
    pytest.param("-3", 0.0, id="negative is now"),
    pytest.param("soon", None, id="garbled"),
    pytest.param("nan", None, id="not a number"),
    pytest.param("inf", None, id="infinite"),
    pytest.param(format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0, id="HTTP-date"),
    pytest.param(format_datetime(NOW - timedelta(hours=1), usegmt=True), 0.0, id="past date"),
]


@pytest.mark.parametrize(("header", "expected"), RETRY_AFTER_ROWS)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, NOW) == expected


def test_short_detail_removes_secrets_and_stays_one_short_line() -> None:
    detail = short_detail(f"bad token {SECRET}\n  again {SECRET} " + "x" * 500, [SECRET, ""])
    assert SECRET not in detail
    assert "[redacted]" in detail
    assert "\n" not in detail
    assert len(detail) == MAX_DETAIL_CHARS


NO_ANSWER_ROWS = [
    pytest.param(NoAnswer(written=False, reason="refused"), Outcome.RETRY, id="never connected"),
    pytest.param(NoAnswer(written=True, reason="reset"), Outcome.UNKNOWN, id="lost after sending"),
]


@pytest.mark.parametrize(("no_answer", "expected"), NO_ANSWER_ROWS)
def test_result_without_answer(no_answer: NoAnswer, expected: Outcome) -> None:
    result = result_without_answer(no_answer)
    assert (result.outcome, result.detail) == (expected, no_answer.reason)


# ------------------------------------------------------------------ Meta


def graph(code: object, **extra: Any) -> dict[str, Any]:
    return {
        "error": {"message": f"(#{code}) title", "type": "OAuthException", "code": code, **extra}
    }


META_ROWS = [
    pytest.param(401, graph(190), Outcome.AUTH, "190", id="190 token expired"),
    pytest.param(400, graph(0), Outcome.AUTH, "0", id="0 AuthException"),
    pytest.param(403, graph(10), Outcome.AUTH, "10", id="10 permission denied"),
    pytest.param(403, graph(230), Outcome.AUTH, "230", id="200-299 API permission"),
    pytest.param(403, graph(368), Outcome.AUTH, "368", id="368 blocked for policy"),
    pytest.param(403, graph(131031), Outcome.AUTH, "131031", id="131031 account locked"),
    pytest.param(400, graph(131042), Outcome.AUTH, "131042", id="131042 payment issue"),
    pytest.param(
        400, graph(100, error_subcode=33), Outcome.AUTH, "100", id="100/33 not our phone id"
    ),
    pytest.param(400, graph(130429), Outcome.THROTTLE, "130429", id="130429 throughput"),
    pytest.param(429, graph(130429), Outcome.THROTTLE, "130429", id="130429 as a 429"),
    pytest.param(400, graph(4), Outcome.THROTTLE, "4", id="4 app request limit"),
    pytest.param(400, graph(80007), Outcome.THROTTLE, "80007", id="80007 WABA rate limit"),
    pytest.param(400, graph(131048), Outcome.THROTTLE, "131048", id="131048 spam rate limit"),
    pytest.param(400, graph(131056), Outcome.RETRY, "131056", id="131056 pair rate: this one"),
    pytest.param(500, graph(131000), Outcome.RETRY, "131000", id="131000 failed to send"),
    pytest.param(503, graph(2), Outcome.RETRY, "2", id="2 service unavailable"),
    pytest.param(503, graph(131016), Outcome.RETRY, "131016", id="131016 service unavailable"),
    pytest.param(500, graph(1), Outcome.UNKNOWN, "1", id="1 unknown error as a 500"),
    pytest.param(400, graph(1), Outcome.PERMANENT, "1", id="1 unknown error as a 400"),
    pytest.param(400, graph(131026), Outcome.PERMANENT, "131026", id="131026 undeliverable"),
    pytest.param(400, graph(131047), Outcome.PERMANENT, "131047", id="131047 window closed"),
    pytest.param(400, graph(100), Outcome.PERMANENT, "100", id="100 invalid parameter"),
    pytest.param(400, graph(131049), Outcome.PERMANENT, "131049", id="131049 Meta won't deliver"),
    pytest.param(400, graph(131050), Outcome.PERMANENT, "131050", id="131050 stopped marketing"),
    pytest.param(400, graph(131051), Outcome.PERMANENT, "131051", id="131051 unsupported type"),
    pytest.param(400, graph(132001), Outcome.PERMANENT, "132001", id="132xxx template errors"),
    pytest.param(400, graph(999999), Outcome.PERMANENT, "999999", id="unknown code, 4xx"),
    pytest.param(503, graph(999999), Outcome.UNKNOWN, "999999", id="unknown code, 5xx"),
    pytest.param(400, graph("131056"), Outcome.RETRY, "131056", id="code as text"),
    pytest.param(400, graph(True), Outcome.PERMANENT, None, id="a boolean is no code"),
    pytest.param(502, None, Outcome.UNKNOWN, None, id="5xx without a body"),
    pytest.param(429, None, Outcome.THROTTLE, None, id="429 without a body"),
    pytest.param(
        400, {"code": 131026, "title": "Message undeliverable"}, Outcome.PERMANENT, "131026",
        id="webhook error object",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("status", "body", "outcome", "code"), META_ROWS)
def test_meta_classify(status: int, body: object, outcome: Outcome, code: str | None) -> None:
    assert meta_cloud.classify(status, body) == (outcome, code)


def meta_answer(status: int, body: bytes, retry_after: str | None = None) -> HttpAnswer:
    return HttpAnswer(status, body, retry_after)


META_ANSWER_ROWS = [
    pytest.param(
        meta_answer(200, b'{"messages":[{"id":"wamid.A1"}]}'), Outcome.SENT, "wamid.A1", None,
        id="200 with a wamid",
    ),
    pytest.param(meta_answer(200, b"{}"), Outcome.UNKNOWN, None, None, id="200 without a wamid"),
    pytest.param(meta_answer(200, b"<html>"), Outcome.UNKNOWN, None, None, id="200 not JSON"),
    pytest.param(
        meta_answer(200, b'{"messages":[{"id":""}]}'), Outcome.UNKNOWN, None, None,
        id="200 with an empty id",
    ),
    pytest.param(
        meta_answer(400, b'{"error":{"code":130429}}', "3"), Outcome.THROTTLE, None, 3.0,
        id="throttle honours Retry-After",
    ),
    pytest.param(
        meta_answer(400, b'{"error":{"code":130429}}'), Outcome.THROTTLE, None, None,
        id="throttle without Retry-After",
    ),
    pytest.param(
        meta_answer(400, b'{"error":{"code":131056}}'), Outcome.RETRY, None, 6.0,
        id="pair rate waits the documented 6 s",
    ),
    pytest.param(meta_answer(502, b""), Outcome.UNKNOWN, None, None, id="bare 502"),
]  # fmt: skip


@pytest.mark.parametrize(("answer", "outcome", "vendor_id", "retry_after"), META_ANSWER_ROWS)
def test_meta_result_for_answer(
    answer: HttpAnswer, outcome: Outcome, vendor_id: str | None, retry_after: float | None
) -> None:
    result = meta_cloud.result_for_answer(answer, now=NOW)
    assert (result.outcome, result.vendor_message_id, result.retry_after_s) == (
        outcome,
        vendor_id,
        retry_after,
    )


def test_meta_error_detail_carries_the_message_and_details_but_no_secret() -> None:
    body = (
        b'{"error":{"message":"(#131047) Re-engagement message","code":131047,'
        b'"error_data":{"details":"window closed for ' + SECRET.encode() + b'"}}}'
    )
    result = meta_cloud.result_for_answer(meta_answer(400, body), now=NOW, secrets=[SECRET])
    assert result.code == "131047"
    assert "Re-engagement message" in result.detail
    assert "window closed" in result.detail
    assert SECRET not in result.detail


def message(**fields: Any) -> OutboundMessage:
    values: dict[str, Any] = {
        "id": "order-17",
        "target": "pool-a",
        "to": "+4915112345678",
        "text": "Your order shipped",
        "created_at": NOW,
    } | fields
    return OutboundMessage(**values)


def test_meta_request_body_carries_our_id_where_meta_echoes_it() -> None:
    assert meta_cloud.request_body(message()) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+4915112345678",
        "type": "text",
        "text": {"body": "Your order shipped"},
        "biz_opaque_callback_data": "order-17",
    }


#: whatsapp_sdk's documented example (hexdocs.pm/whatsapp_sdk/WhatsApp.Webhook):
#: HMAC-SHA256 of "test" keyed with "secret".
META_VECTOR = "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914"

META_SIGNATURE_ROWS = [
    pytest.param("secret", b"test", META_VECTOR, True, id="published vector"),
    pytest.param("secret", b"test", META_VECTOR.upper().replace("SHA256", "sha256"), True,
                 id="uppercase hex"),
    pytest.param("secret", b"test ", META_VECTOR, False, id="one byte more"),
    pytest.param("other", b"test", META_VECTOR, False, id="other app secret"),
    pytest.param("secret", b"test", META_VECTOR.removeprefix("sha256="), False, id="no prefix"),
    pytest.param("secret", b"test", META_VECTOR.replace("sha256", "sha1"), False, id="sha1"),
    pytest.param("secret", b"test", None, False, id="no header"),
    pytest.param("secret", b"test", "sha256=ü", False, id="non-ASCII header"),
]  # fmt: skip


@pytest.mark.parametrize(("secret", "body", "header", "valid"), META_SIGNATURE_ROWS)
def test_meta_verify_signature(secret: str, body: bytes, header: str | None, valid: bool) -> None:
    assert meta_cloud.verify_signature(secret, body, header) is valid


def test_meta_sign_payload_matches_the_published_vector() -> None:
    assert meta_cloud.sign_payload("secret", b"test") == META_VECTOR


def hub(
    mode: str | None = "subscribe", token: str | None = "vt", challenge: str | None = "42"
) -> dict[str, str]:
    query = {"hub.mode": mode, "hub.verify_token": token, "hub.challenge": challenge}
    return {key: value for key, value in query.items() if value is not None}


SUBSCRIPTION_ROWS = [
    pytest.param(hub(), "42", id="right token: echo the challenge"),
    pytest.param(hub(token="nope"), None, id="wrong token"),
    pytest.param(hub(mode="unsubscribe"), None, id="other mode"),
    pytest.param(hub(mode=None), None, id="no mode"),
    pytest.param(hub(token=None), None, id="no token"),
    pytest.param(hub(challenge=None), None, id="no challenge"),
]


@pytest.mark.parametrize(("query", "challenge"), SUBSCRIPTION_ROWS)
def test_meta_verify_subscription(query: dict[str, str], challenge: str | None) -> None:
    assert meta_cloud.verify_subscription(query, "vt") == challenge


# ------------------------------------------------------------------ Twilio


def twilio_error(code: object, status: int = 400) -> dict[str, Any]:
    return {"code": code, "message": "m", "more_info": f"https://x/{code}", "status": status}


TWILIO_ROWS = [
    pytest.param(401, twilio_error(20003, 401), Outcome.AUTH, "20003", id="20003 authenticate"),
    pytest.param(400, twilio_error(63007), Outcome.AUTH, "63007", id="63007 no channel for From"),
    pytest.param(400, twilio_error(21606), Outcome.AUTH, "21606", id="21606 From not ours"),
    pytest.param(404, twilio_error(20404, 404), Outcome.AUTH, "20404", id="20404 no such account"),
    pytest.param(429, twilio_error(20429, 429), Outcome.THROTTLE, "20429", id="20429 too many"),
    pytest.param(400, twilio_error(21611), Outcome.THROTTLE, "21611", id="21611 queue full"),
    pytest.param(400, twilio_error(63018), Outcome.THROTTLE, "63018", id="63018 channel rate"),
    pytest.param(400, twilio_error(21702), Outcome.RETRY, "21702", id="21702 service busy"),
    pytest.param(400, twilio_error(21211), Outcome.PERMANENT, "21211", id="21211 invalid To"),
    pytest.param(400, twilio_error(21610), Outcome.PERMANENT, "21610", id="21610 unsubscribed"),
    pytest.param(400, twilio_error(21614), Outcome.PERMANENT, "21614", id="21614 not mobile"),
    pytest.param(400, twilio_error(21408), Outcome.PERMANENT, "21408", id="21408 region off"),
    pytest.param(400, twilio_error(63016), Outcome.PERMANENT, "63016", id="63016 window closed"),
    pytest.param(400, twilio_error(30007), Outcome.PERMANENT, "30007", id="30007 filtered"),
    pytest.param(500, twilio_error(20500, 500), Outcome.UNKNOWN, "20500", id="20500 may have sent"),
    pytest.param(503, twilio_error(20503, 503), Outcome.UNKNOWN, "20503", id="20503 may have sent"),
    pytest.param(400, twilio_error(12345), Outcome.PERMANENT, "12345", id="unknown code, 4xx"),
    pytest.param(400, twilio_error("21211"), Outcome.PERMANENT, "21211", id="code as text"),
    pytest.param(500, None, Outcome.UNKNOWN, None, id="5xx without a body"),
    pytest.param(429, None, Outcome.THROTTLE, None, id="429 without a body"),
    pytest.param(401, None, Outcome.AUTH, None, id="401 without a body"),
]  # fmt: skip


@pytest.mark.parametrize(("status", "body", "outcome", "code"), TWILIO_ROWS)
def test_twilio_classify(status: int, body: object, outcome: Outcome, code: str | None) -> None:
    assert twilio.classify(status, body) == (outcome, code)


TWILIO_ANSWER_ROWS = [
    pytest.param(HttpAnswer(201, b'{"sid":"SM1","status":"queued"}'), Outcome.SENT, "SM1", None,
                 id="201 with a sid"),
    pytest.param(HttpAnswer(201, b'{"status":"queued"}'), Outcome.UNKNOWN, None, None,
                 id="201 without a sid"),
    pytest.param(HttpAnswer(429, b'{"code":20429}', "2"), Outcome.THROTTLE, None, 2.0,
                 id="429 honours Retry-After"),
    pytest.param(HttpAnswer(429, b'{"code":20429}'), Outcome.THROTTLE, None, None,
                 id="429 without Retry-After"),
    pytest.param(HttpAnswer(500, b"oops"), Outcome.UNKNOWN, None, None, id="500 not JSON"),
]  # fmt: skip


@pytest.mark.parametrize(("answer", "outcome", "vendor_id", "retry_after"), TWILIO_ANSWER_ROWS)
def test_twilio_result_for_answer(
    answer: HttpAnswer, outcome: Outcome, vendor_id: str | None, retry_after: float | None
) -> None:
    result = twilio.result_for_answer(answer, now=NOW)
    assert (result.outcome, result.vendor_message_id, result.retry_after_s) == (
        outcome,
        vendor_id,
        retry_after,
    )


SENDER_ROWS = [
    pytest.param("+15550001111", None, {"From": "whatsapp:+15550001111"}, id="pool number"),
    pytest.param("whatsapp:+1555", None, {"From": "whatsapp:+1555"}, id="already a channel"),
    pytest.param("+1555", "MG1", {"From": "whatsapp:+1555"}, id="a number wins over a service"),
    pytest.param(None, "MG1", {"MessagingServiceSid": "MG1"}, id="Messaging Service"),
    pytest.param(None, None, {}, id="no sender at all"),
]


@pytest.mark.parametrize(("sender", "service", "fields"), SENDER_ROWS)
def test_twilio_sender_fields(
    sender: str | None, service: str | None, fields: dict[str, str]
) -> None:
    assert twilio.sender_fields(sender, service) == fields


CALLBACK_URL_ROWS = [
    pytest.param("https://hooks.example/tw", "https://hooks.example/tw?wafleet_message_id=a-1",
                 id="plain URL"),
    pytest.param("https://hooks.example/tw?pool=p", "https://hooks.example/tw?pool=p&wafleet_message_id=a-1",
                 id="its query is kept"),
    pytest.param("https://hooks.example/tw?wafleet_message_id=old",
                 "https://hooks.example/tw?wafleet_message_id=a-1", id="a stale id is replaced"),
]  # fmt: skip


@pytest.mark.parametrize(("base", "url"), CALLBACK_URL_ROWS)
def test_twilio_status_callback_url(base: str, url: str) -> None:
    assert twilio.status_callback_url(base, "a-1") == url


def test_twilio_form_fields() -> None:
    form = twilio.form_fields(
        message(), sender={"From": "whatsapp:+15550001111"}, status_callback="https://h/cb"
    )
    assert form == {
        "To": "whatsapp:+4915112345678",
        "From": "whatsapp:+15550001111",
        "Body": "Your order shipped",
        "StatusCallback": "https://h/cb?wafleet_message_id=order-17",
    }
    assert "StatusCallback" not in twilio.form_fields(message(), sender={}, status_callback=None)


#: twilio-python's tests/unit/test_request_validator.py: auth token 12345.
TW_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TW_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
    "Caller": "+14158675309",
}
TW_SIGNED = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
TW_DUPLICATES = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]

TWILIO_SIGNATURE_ROWS = [
    pytest.param(TW_URL, TW_PARAMS, TW_SIGNED, True, id="published vector"),
    pytest.param(TW_URL, TW_DUPLICATES, "IK+Dwps556ElfBT0I3Rgjkr1wJU=", True,
                 id="repeated keys, values sorted"),
    pytest.param(TW_URL.replace(".com", ".com:1234"), TW_PARAMS, TW_SIGNED, True,
                 id="https port removed"),
    pytest.param(TW_URL, TW_PARAMS, "kvajT1Ptam85bY51eRf/AJRuM3w=", True, id="https port 443 added"),
    pytest.param(TW_URL.replace("https", "http"), TW_PARAMS, "0ZXoZLH/DfblKGATFgpif+LLRf4=", True,
                 id="http port 80 added"),
    pytest.param(TW_URL.replace(".com", ".com:1234").replace("https", "http"), TW_PARAMS,
                 "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=", True, id="http with its port"),
    pytest.param(TW_URL, TW_PARAMS, "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=", False, id="another URL's"),
    pytest.param(TW_URL, {**TW_PARAMS, "Digits": "1235"}, TW_SIGNED, False, id="a changed param"),
    pytest.param(TW_URL + "&baz=3", TW_PARAMS, TW_SIGNED, False, id="a changed query"),
    pytest.param(TW_URL, TW_PARAMS, None, False, id="no header"),
    pytest.param("https://mycompany.com:x/a", TW_PARAMS, TW_SIGNED, False, id="garbled port"),
    pytest.param(TW_URL, TW_PARAMS, "", False, id="empty header"),
]  # fmt: skip


@pytest.mark.parametrize(("url", "params", "header", "valid"), TWILIO_SIGNATURE_ROWS)
def test_twilio_verify_signature(url: str, params: Any, header: str | None, valid: bool) -> None:
    assert twilio.verify_signature("12345", url, params, header) is valid


def test_twilio_compute_signature_matches_the_published_vector() -> None:
    assert twilio.compute_signature("12345", TW_URL, TW_PARAMS) == TW_SIGNED


# ------------------------------------------------------------------ Twilio lookup

TO, FROM, SERVICE = "whatsapp:+4915112345678", "whatsapp:+15550001111", "MG1"
SINCE = NOW - timedelta(minutes=2)


def resource(sid: str, minutes: float = 0, **fields: Any) -> dict[str, Any]:
    created = format_datetime(NOW + timedelta(minutes=minutes))
    base = {
        "sid": sid,
        "to": TO,
        "from": FROM,
        "body": "Your order shipped",
        "date_created": created,
        "direction": "outbound-api",
        "messaging_service_sid": None,
    }
    return base | fields  # fmt: skip


SCAN_ROWS = [
    pytest.param([resource("SM1")], {"From": FROM}, ["SM1"], False, id="the twin"),
    pytest.param([resource("SM1", body="other")], {"From": FROM}, [], False, id="other text"),
    pytest.param([resource("SM1", to="whatsapp:+1")], {"From": FROM}, [], False, id="other To"),
    pytest.param([resource("SM1") | {"from": "whatsapp:+2"}], {"From": FROM}, [], False,
                 id="other sender"),
    pytest.param([resource("SM1", direction="inbound")], {"From": FROM}, [], False,
                 id="an inbound reply"),
    pytest.param([resource("SM1", minutes=-10)], {"From": FROM}, [], True,
                 id="created before ours: whole page older"),
    pytest.param([resource("SM2"), resource("SM1", minutes=-10)], {"From": FROM}, ["SM2"], False,
                 id="newer and older on one page"),
    pytest.param([resource("SM1", date_created="garbage")], {"From": FROM}, ["SM1"], False,
                 id="unreadable date cannot be ruled out"),
    pytest.param([resource("SM1", messaging_service_sid=SERVICE)], {"MessagingServiceSid": SERVICE},
                 ["SM1"], False, id="through the Messaging Service"),
    pytest.param([resource("SM1")], {"MessagingServiceSid": SERVICE}, [], False,
                 id="not through our Messaging Service"),
    pytest.param([], {"From": FROM}, [], False, id="empty page"),
]  # fmt: skip


@pytest.mark.parametrize(("page", "sender", "candidates", "all_older"), SCAN_ROWS)
def test_twilio_scan_page(
    page: list[dict[str, Any]], sender: dict[str, str], candidates: list[str], all_older: bool
) -> None:
    found = scan_page(
        page, to_address=TO, body="Your order shipped", sender=sender, not_before=SINCE
    )
    assert found == (candidates, all_older)


VERDICT_ROWS = [
    pytest.param([], True, LookupResult(Lookup.NOT_FOUND), id="none after a full scan"),
    pytest.param(["SM1"], True, LookupResult(Lookup.FOUND, "SM1"), id="exactly one"),
    pytest.param(["SM1", "SM2"], True, LookupResult(Lookup.CANNOT_TELL), id="twins"),
    pytest.param([], False, LookupResult(Lookup.CANNOT_TELL), id="scan cut short"),
    pytest.param(["SM1"], False, LookupResult(Lookup.CANNOT_TELL), id="one, scan cut short"),
]


@pytest.mark.parametrize(("candidates", "complete", "expected"), VERDICT_ROWS)
def test_twilio_lookup_verdict(
    candidates: list[str], complete: bool, expected: LookupResult
) -> None:
    assert verdict(candidates, complete=complete) == expected


# ------------------------------------------------------------------ registry

REGISTRY_ERROR_ROWS = [
    pytest.param("session", {}, "unknown vendor 'session'", id="session is not an HTTP vendor"),
    pytest.param("meta-cloud", {"accessToken": SECRET}, "phoneNumberId", id="meta key missing"),
    pytest.param("meta-cloud", {"accessToken": SECRET, "phoneNumberId": " "}, "phoneNumberId",
                 id="an empty value is missing"),
    pytest.param("twilio", {"accountSid": "AC1"}, "authToken", id="twilio key missing"),
]  # fmt: skip


@pytest.mark.parametrize(("vendor", "credentials", "named"), REGISTRY_ERROR_ROWS)
def test_create_adapter_refuses_naming_the_key_never_the_value(
    vendor: str, credentials: dict[str, str], named: str
) -> None:
    with pytest.raises(AdapterConfigError) as refused:
        create_adapter(vendor, credentials)
    assert named in str(refused.value)
    assert SECRET not in str(refused.value)


def test_create_adapter_refuses_an_option_the_vendor_has_not() -> None:
    credentials = {"accessToken": SECRET, "phoneNumberId": "1"}
    with pytest.raises(AdapterConfigError, match="status_callback"):
        create_adapter("meta-cloud", credentials, status_callback="https://h/cb")


BUILD_ROWS = [
    pytest.param("meta-cloud", {"accessToken": SECRET, "phoneNumberId": "1"},
                 meta_cloud.MetaCloudAdapter, id="meta-cloud"),
    pytest.param("twilio", {"accountSid": "AC1", "authToken": SECRET},
                 twilio.TwilioAdapter, id="twilio"),
]  # fmt: skip


@pytest.mark.parametrize(("vendor", "credentials", "kind"), BUILD_ROWS)
def test_create_adapter_builds_the_vendor_without_its_secret_in_repr(
    vendor: str, credentials: dict[str, str], kind: type
) -> None:
    adapter = create_adapter(vendor, credentials, base_url="http://127.0.0.1:9")
    assert isinstance(adapter, kind)
    assert adapter.name == vendor
    assert SECRET not in repr(adapter)
    assert "127.0.0.1:9" in repr(adapter)


def test_meta_api_version_comes_from_the_credentials_when_given() -> None:
    credentials = {"accessToken": SECRET, "phoneNumberId": "1", "apiVersion": "v23.0"}
    adapter = create_adapter("meta-cloud", credentials)
    assert isinstance(adapter, meta_cloud.MetaCloudAdapter)
    assert adapter.api_version == "v23.0"
    default = create_adapter("meta-cloud", {"accessToken": SECRET, "phoneNumberId": "1"})
    assert isinstance(default, meta_cloud.MetaCloudAdapter)
    assert default.api_version == meta_cloud.DEFAULT_API_VERSION
