"""Meta's WhatsApp Cloud API (Graph API): send one text, classify the answer, check webhooks.

`POST {base}/{version}/{phone_number_id}/messages` with a bearer token; a
success answers `{"messages": [{"id": "wamid..."}]}`. Our message id travels
as `biz_opaque_callback_data`, a field of the messages endpoint that Meta
returns in the status webhooks of that message (so the dispatcher can match a
delivery status to our id).

The error table follows Meta's "WhatsApp error codes" reference
(developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes),
which says to build error handling on `error.code`, not on HTTP statuses or
titles; the throughput and pair-rate semantics follow Meta's throughput
documentation as summarised in "WhatsApp Cloud API Rate Limits in Practice"
(dev.to, wapgrowai): 80 msg/s per number -> 130429, about one message per 6 s
to one recipient -> 131056. Many of these errors also (or only) arrive later
in the `statuses` webhook after the POST returned a wamid: by then the send
is SENT for the ledger, and `classify` serves the dispatcher for those too.

Meta offers no API to look a sent message up by our id: `lookup` always
answers CANNOT_TELL.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

import aiohttp

from session_runner.contract.outbound import VENDOR_CREDENTIAL_KEYS
from session_runner.sender.message import MediaKind, OutboundMessage
from session_runner.sender.vendors.base import (
    CANNOT_TELL,
    LookupResult,
    Outcome,
    SendResult,
    as_code,
    outcome_for_status,
    parse_retry_after,
    short_detail,
)
from session_runner.sender.vendors.transport import (
    DEFAULT_TIMEOUT,
    HttpAnswer,
    NoAnswer,
    OwnedSession,
    call,
    log_result,
    result_without_answer,
)

VENDOR: Final = "meta-cloud"
DEFAULT_BASE_URL: Final = "https://graph.facebook.com"
#: Released 2026-02-18, available until 2028-07-29 (Graph API changelog).
DEFAULT_API_VERSION: Final = "v25.0"
CREDENTIAL_KEYS: Final = VENDOR_CREDENTIAL_KEYS["meta-cloud"]  # optional: apiVersion
#: Meta's documented pair rate: about one message every 6 s to one recipient.
PAIR_RATE_WAIT_S: Final = 6.0
SIGNATURE_HEADER: Final = "X-Hub-Signature-256"

#: error.code -> outcome. None: the code alone does not say; the HTTP status decides.
CODE_OUTCOMES: Final[Mapping[int, Outcome | None]] = {
    # The credentials or the business account are refused: every send would fail alike.
    0: Outcome.AUTH,  # AuthException
    3: Outcome.AUTH,  # API method: capability or permission
    10: Outcome.AUTH,  # permission denied
    33: Outcome.AUTH,  # the business phone number was deleted
    190: Outcome.AUTH,  # access token expired or invalid
    368: Outcome.AUTH,  # account temporarily blocked for policy violations
    131005: Outcome.AUTH,  # access denied
    131031: Outcome.AUTH,  # business account locked
    131037: Outcome.AUTH,  # display name not approved
    131042: Outcome.AUTH,  # business eligibility: payment issue
    131045: Outcome.AUTH,  # phone number registration (certificate) error
    133010: Outcome.AUTH,  # phone number not registered
    # The pool must slow down.
    4: Outcome.THROTTLE,  # application request limit
    17: Outcome.THROTTLE,  # user request limit
    613: Outcome.THROTTLE,  # calls to this API exceeded the rate limit
    80007: Outcome.THROTTLE,  # WhatsApp Business Account rate limit
    130429: Outcome.THROTTLE,  # Cloud API throughput of this number reached
    131048: Outcome.THROTTLE,  # spam rate limit of this number
    # Not sent, this message may try again later.
    2: Outcome.RETRY,  # service temporarily unavailable or overloaded
    131000: Outcome.RETRY,  # "message failed to send because of an unknown error"
    131016: Outcome.RETRY,  # a service is temporarily unavailable
    131057: Outcome.RETRY,  # business account in maintenance mode
    # Pair rate (business number, recipient): only this recipient is limited, so slowing
    # the whole pool would punish everyone else. The sender retries this message alone,
    # no sooner than PAIR_RATE_WAIT_S (given as retry_after_s).
    131056: Outcome.RETRY,
    # "API Unknown: invalid request or possible server error": a 5xx may have sent it.
    1: None,
    # This message, to this recipient, will not go out.
    100: Outcome.PERMANENT,  # invalid parameter
    130472: Outcome.PERMANENT,  # recipient is part of an experiment
    130497: Outcome.PERMANENT,  # business may not message this recipient's country
    131008: Outcome.PERMANENT,  # required parameter missing
    131009: Outcome.PERMANENT,  # parameter value not valid
    131021: Outcome.PERMANENT,  # recipient cannot be the sender
    131026: Outcome.PERMANENT,  # message undeliverable (not on WhatsApp, old app, blocked)
    131030: Outcome.PERMANENT,  # recipient not in the allowed list (test number)
    131047: Outcome.PERMANENT,  # re-engagement: the 24 h customer-service window is closed
    # Per-user limit Meta holds for days (indefinitely for US marketing): the sender's
    # backoff is minutes, so a later retry would fail the same; a person decides to resend.
    131049: Outcome.PERMANENT,
    131050: Outcome.PERMANENT,  # recipient stopped marketing messages
    131051: Outcome.PERMANENT,  # unsupported message type
    131052: Outcome.PERMANENT,  # media download error
    131053: Outcome.PERMANENT,  # media upload error
    135000: Outcome.PERMANENT,  # generic user error
}
#: Graph's "object does not exist or is not yours" on the phone-number id: configuration.
OBJECT_NOT_FOUND_SUBCODE: Final = 33


def _code_outcome(code: int, subcode: int | None) -> Outcome | None:
    if code == 100 and subcode == OBJECT_NOT_FOUND_SUBCODE:
        return Outcome.AUTH
    if 200 <= code <= 299:
        return Outcome.AUTH  # API permission
    if 132000 <= code <= 132999:
        return Outcome.PERMANENT  # template errors
    return CODE_OUTCOMES.get(code)


def error_object(body: object) -> Mapping[str, Any]:
    """The `error` object of a Graph answer (or the object itself, as in webhook errors)."""
    if isinstance(body, Mapping):
        inner = body.get("error")
        return inner if isinstance(inner, Mapping) else body
    return {}


def classify(http_status: int, error_json: object) -> tuple[Outcome, str | None]:
    """The outcome of a Graph error answer and its code as text (None: no code in it)."""
    error = error_object(error_json)
    code = as_code(error.get("code"))
    if code is None:
        return outcome_for_status(http_status), None
    outcome = _code_outcome(code, as_code(error.get("error_subcode")))
    if outcome is None:
        outcome = outcome_for_status(http_status)
    return outcome, str(code)


def _message_id(answer: object) -> str | None:
    if not isinstance(answer, Mapping):
        return None
    messages = answer.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], Mapping):
        wamid = messages[0].get("id")
        if isinstance(wamid, str) and wamid:
            return wamid
    return None


def result_for_answer(
    answer: HttpAnswer, *, now: datetime, secrets: Iterable[str] = ()
) -> SendResult:
    """What a Graph answer to our POST means (pure)."""
    parsed = answer.json()
    if 200 <= answer.status < 300:
        wamid = _message_id(parsed)
        if wamid is None:
            return SendResult(Outcome.UNKNOWN, detail=f"HTTP {answer.status} without a message id")
        return SendResult(Outcome.SENT, vendor_message_id=wamid)
    outcome, code = classify(answer.status, parsed)
    error = error_object(parsed)
    details = error.get("error_data", {})
    text = " ".join(
        str(part)
        for part in (
            error.get("message"),
            details.get("details") if isinstance(details, Mapping) else None,
        )
        if part
    )
    retry_after = None
    if outcome == Outcome.THROTTLE:
        retry_after = parse_retry_after(answer.retry_after, now)
    elif code == "131056":
        retry_after = PAIR_RATE_WAIT_S
    return SendResult(
        outcome,
        code=code,
        detail=short_detail(f"HTTP {answer.status} {text}", secrets),
        retry_after_s=retry_after,
    )


def content(message: OutboundMessage) -> dict[str, Any]:
    """The message's `type` and its object, as the messages endpoint takes them: a text; a
    template by name and language with its values as positional body parameters; a media
    file by link, with its caption (audio takes none)."""
    if message.template is not None:
        template: dict[str, Any] = {
            "name": message.template.name,
            "language": {"code": message.template.language},
        }
        values = message.template.ordered_values()
        if values:
            template["components"] = [
                {"type": "body", "parameters": [{"type": "text", "text": v} for v in values]}
            ]
        return {"type": "template", "template": template}
    if message.media is not None:
        kind = str(message.media.kind)
        media: dict[str, Any] = {"link": message.media.url}
        if message.text and message.media.kind is not MediaKind.AUDIO:
            media["caption"] = message.text
        return {"type": kind, kind: media}
    return {"type": "text", "text": {"body": message.text}}


def request_body(message: OutboundMessage) -> dict[str, Any]:
    """The messages-endpoint body for one message; our id rides in biz_opaque_callback_data."""
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": message.to,
        **content(message),
        "biz_opaque_callback_data": message.id,
    }


class MetaCloudAdapter:
    """One phone-number id of one WhatsApp Business Account; the sending number is that id."""

    name: Final = VENDOR

    def __init__(
        self,
        *,
        access_token: str,
        phone_number_id: str,
        api_version: str = DEFAULT_API_VERSION,
        base_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
    ) -> None:
        self._access_token = access_token
        self.phone_number_id = phone_number_id
        self.api_version = api_version
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self._http = OwnedSession(session, timeout)

    def __repr__(self) -> str:
        return (
            f"MetaCloudAdapter(phone_number_id={self.phone_number_id!r}, "
            f"api_version={self.api_version!r}, base_url={self.base_url!r})"
        )

    async def send(self, message: OutboundMessage, *, sender: str | None = None) -> SendResult:
        """`sender` is not used: the phone-number id in the URL is the sending number."""
        url = f"{self.base_url}/{self.api_version}/{self.phone_number_id}/messages"
        answer = await call(
            self._http.get(),
            "POST",
            url,
            json=request_body(message),
            headers={"Authorization": f"Bearer {self._access_token}"},
            timeout=self._http.timeout,
        )
        if isinstance(answer, NoAnswer):
            result = result_without_answer(answer)
        else:
            result = result_for_answer(answer, now=datetime.now(UTC), secrets=[self._access_token])
        log_result(VENDOR, message.id, result)
        return result

    async def lookup(self, message: OutboundMessage, *, sender: str | None = None) -> LookupResult:
        """Meta cannot be asked whether it holds a message by our id."""
        return CANNOT_TELL

    async def close(self) -> None:
        await self._http.close()


def from_credentials(
    credentials: Mapping[str, str],
    *,
    base_url: str | None = None,
    session: aiohttp.ClientSession | None = None,
    timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
) -> MetaCloudAdapter:
    return MetaCloudAdapter(
        access_token=credentials["accessToken"],
        phone_number_id=credentials["phoneNumberId"],
        api_version=credentials.get("apiVersion") or DEFAULT_API_VERSION,
        base_url=base_url,
        session=session,
        timeout=timeout,
    )


# ------------------------------------------------------------------ webhooks


def sign_payload(app_secret: str, raw_body: bytes) -> str:
    """The `X-Hub-Signature-256` value Meta sends: sha256= and the HMAC of the raw body."""
    digest = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(app_secret: str, raw_body: bytes, header: str | None) -> bool:
    """Whether `header` signs exactly these bytes with the app secret (constant time)."""
    if not header:
        return False
    expected = sign_payload(app_secret, raw_body).encode()
    given = header.strip()
    prefix, _, digest = given.partition("=")
    return hmac.compare_digest(expected, f"{prefix.lower()}={digest.lower()}".encode())


def verify_subscription(query: Mapping[str, str], verify_token: str) -> str | None:
    """Meta's GET handshake: the `hub.challenge` to echo back, or None to refuse (403)."""
    mode = query.get("hub.mode")
    token = query.get("hub.verify_token")
    challenge = query.get("hub.challenge")
    if mode != "subscribe" or token is None or challenge is None:
        return None
    if not hmac.compare_digest(token.encode(), verify_token.encode()):
        return None
    return challenge
