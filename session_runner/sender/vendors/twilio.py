"""Twilio's WhatsApp messaging: send one text, classify the answer, look a send up, check callbacks.

`POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded,
HTTP basic auth (AccountSid:AuthToken); a success is 201 with the Message
resource (`{"sid": "SM...", "status": "queued", ...}`), an error is
`{"code": 21211, "message": ..., "more_info": ..., "status": 400}`.

Where our id goes: the Message resource has no field for a caller's data
(its properties are Twilio's own: sid, to, from, body, status, dates,
messaging_service_sid, ...; Twilio's OpenAPI model ApiV2010AccountMessage),
and the API takes no idempotency key. Our id rides in the StatusCallback
URL's query (`wafleet_message_id`), which brings it back in every status
callback, but the REST API never returns that URL. So `lookup` cannot find a
message *by our id*: it looks for one indistinguishable from ours
(twilio_lookup.py). Ask it some seconds after the UNKNOWN send, so a request
still in flight at Twilio has landed.

Error codes: twilio.com/docs/api/errors/<code> (20429: "a request that
receives a 429 is never processed and is always safe to retry"; 21611: the
From number's queue is full). Signatures: twilio.com/docs/usage/webhooks/
webhooks-security and twilio-python's RequestValidator (its test vectors are
in tests/unit/sender/test_vendor_errors.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp

from session_runner.contract.outbound import VENDOR_CREDENTIAL_KEYS
from session_runner.sender.message import OutboundMessage
from session_runner.sender.vendors import twilio_lookup
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

VENDOR: Final = "twilio"
DEFAULT_BASE_URL: Final = "https://api.twilio.com"
CREDENTIAL_KEYS: Final = VENDOR_CREDENTIAL_KEYS["twilio"]  # optional: messagingServiceSid
#: The StatusCallback query parameter that carries our message id.
ID_QUERY_PARAM: Final = "wafleet_message_id"
SIGNATURE_HEADER: Final = "X-Twilio-Signature"
CHANNEL_PREFIX: Final = "whatsapp:"

CODE_OUTCOMES: Final[Mapping[int, Outcome]] = {
    # Credentials or the pool's sender refused: every send would fail alike.
    20003: Outcome.AUTH,  # authentication
    20005: Outcome.AUTH,  # account not active
    20404: Outcome.AUTH,  # the account (in the URL) is not found for these credentials
    21212: Outcome.AUTH,  # invalid From number
    21606: Outcome.AUTH,  # From is not a message-capable number of this account
    63007: Outcome.AUTH,  # no WhatsApp channel for the From address
    # The pool must slow down.
    20429: Outcome.THROTTLE,  # too many requests: never processed (honour Retry-After)
    14107: Outcome.THROTTLE,  # send rate limit exceeded
    21611: Outcome.THROTTLE,  # the From number's queue is full (10 hours of messages)
    30001: Outcome.THROTTLE,  # queue overflow (status callback)
    63018: Outcome.THROTTLE,  # channel (WhatsApp) rate limit
    # Not sent, try this one again later.
    21702: Outcome.RETRY,  # Messaging Service not available: "retry your API call"
    # This message will not go out.
    21211: Outcome.PERMANENT,  # invalid To
    21408: Outcome.PERMANENT,  # sending to this region not enabled
    21602: Outcome.PERMANENT,  # body required
    21604: Outcome.PERMANENT,  # To required
    21610: Outcome.PERMANENT,  # recipient unsubscribed (STOP)
    21612: Outcome.PERMANENT,  # cannot route to this number
    21614: Outcome.PERMANENT,  # To is not a valid mobile number
    21617: Outcome.PERMANENT,  # body over 1600 characters
    63003: Outcome.PERMANENT,  # channel could not find the To address
    63016: Outcome.PERMANENT,  # outside the 24 h window: a template is required
    63024: Outcome.PERMANENT,  # invalid message recipient
    63032: Outcome.PERMANENT,  # recipient is part of a Meta experiment
    63049: Outcome.PERMANENT,  # Meta chose not to deliver (per-user limit)
    # Delivery failures: these arrive in status callbacks, after the POST was a 201.
    30003: Outcome.PERMANENT,  # unreachable handset
    30005: Outcome.PERMANENT,  # unknown or inactive destination
    30006: Outcome.PERMANENT,  # landline or unreachable carrier
    30007: Outcome.PERMANENT,  # filtered by the carrier
    # Twilio failed after reading our request: it may have created the message.
    20500: Outcome.UNKNOWN,
    20503: Outcome.UNKNOWN,
}


def classify(http_status: int, error_json: object) -> tuple[Outcome, str | None]:
    """The outcome of a Twilio error answer and its code as text (None: no code in it)."""
    code = as_code(error_json.get("code")) if isinstance(error_json, Mapping) else None
    if code is None:
        return outcome_for_status(http_status), None
    return CODE_OUTCOMES.get(code, outcome_for_status(http_status)), str(code)


def result_for_answer(
    answer: HttpAnswer, *, now: datetime, secrets: Iterable[str] = ()
) -> SendResult:
    """What Twilio's answer to our POST means (pure)."""
    parsed = answer.json()
    if 200 <= answer.status < 300:
        sid = parsed.get("sid") if isinstance(parsed, Mapping) else None
        if not isinstance(sid, str) or not sid:
            return SendResult(Outcome.UNKNOWN, detail=f"HTTP {answer.status} without a sid")
        return SendResult(Outcome.SENT, vendor_message_id=sid)
    outcome, code = classify(answer.status, parsed)
    text = parsed.get("message") if isinstance(parsed, Mapping) else None
    retry_after = None
    if outcome == Outcome.THROTTLE:
        retry_after = parse_retry_after(answer.retry_after, now)
    return SendResult(
        outcome,
        code=code,
        detail=short_detail(f"HTTP {answer.status} {text or ''}", secrets),
        retry_after_s=retry_after,
    )


def channel_address(number: str) -> str:
    """`whatsapp:+E164`, whether or not the prefix is already there."""
    return number if number.startswith(CHANNEL_PREFIX) else f"{CHANNEL_PREFIX}{number}"


def sender_fields(sender: str | None, messaging_service_sid: str | None) -> dict[str, str]:
    """From (the pool's number) if given, else the Messaging Service; empty: no sender."""
    if sender:
        return {"From": channel_address(sender)}
    if messaging_service_sid:
        return {"MessagingServiceSid": messaging_service_sid}
    return {}


def status_callback_url(base: str, message_id: str) -> str:
    """`base` with our id added to its query (any query it has is kept)."""
    parts = urlsplit(base)
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != ID_QUERY_PARAM
    ]
    query.append((ID_QUERY_PARAM, message_id))
    return urlunsplit(parts._replace(query=urlencode(query)))


def content_fields(message: OutboundMessage) -> dict[str, str]:
    """What the message says, as Twilio takes it: `Body`; a template's Content SID and its
    `ContentVariables` (JSON); a media file's `MediaUrl`, its caption in `Body`."""
    if message.template is not None:
        fields = {"ContentSid": message.template.name}
        if message.template.variables:
            fields["ContentVariables"] = json.dumps(message.template.variables, sort_keys=True)
        return fields
    if message.media is not None:
        return {"MediaUrl": message.media.url, **({"Body": message.text} if message.text else {})}
    return {"Body": message.text or ""}


def form_fields(
    message: OutboundMessage, *, sender: Mapping[str, str], status_callback: str | None
) -> dict[str, str]:
    fields = {"To": channel_address(message.to), **sender, **content_fields(message)}
    if status_callback:
        fields["StatusCallback"] = status_callback_url(status_callback, message.id)
    return fields


# ------------------------------------------------------------------ the adapter


class TwilioAdapter:
    """One Twilio account; `sender` (E.164) is the From number, else the Messaging Service."""

    name: Final = VENDOR

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        messaging_service_sid: str | None = None,
        status_callback: str | None = None,
        base_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
    ) -> None:
        self.account_sid = account_sid
        self._auth_token = auth_token
        self.messaging_service_sid = messaging_service_sid
        self.status_callback = status_callback
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self._http = OwnedSession(session, timeout)

    def __repr__(self) -> str:
        return (
            f"TwilioAdapter(account_sid={self.account_sid!r}, "
            f"messaging_service_sid={self.messaging_service_sid!r}, base_url={self.base_url!r})"
        )

    @property
    def messages_url(self) -> str:
        return f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    def _headers(self) -> dict[str, str]:
        """HTTP basic auth, built per request so the token sits in no long-lived object."""
        return {"Authorization": aiohttp.encode_basic_auth(self.account_sid, self._auth_token)}

    async def send(self, message: OutboundMessage, *, sender: str | None = None) -> SendResult:
        """Without a sender or a Messaging Service nothing can go out: AUTH stops the pool."""
        fields = sender_fields(sender, self.messaging_service_sid)
        if not fields:
            result = SendResult(Outcome.AUTH, detail="no sending number and no messagingServiceSid")
        else:
            form = form_fields(message, sender=fields, status_callback=self.status_callback)
            answer = await call(
                self._http.get(),
                "POST",
                self.messages_url,
                data=form,
                headers=self._headers(),
                timeout=self._http.timeout,
            )
            if isinstance(answer, NoAnswer):
                result = result_without_answer(answer)
            else:
                result = result_for_answer(
                    answer, now=datetime.now(UTC), secrets=[self._auth_token]
                )
        log_result(VENDOR, message.id, result)
        return result

    async def lookup(self, message: OutboundMessage, *, sender: str | None = None) -> LookupResult:
        """Whether Twilio holds a message indistinguishable from this one (twilio_lookup.py)."""
        fields = sender_fields(sender, self.messaging_service_sid)
        text = message.plain_text
        if not fields or text is None:
            # matched by body: a template's text is Twilio's to render, a media send's body
            # is its caption at most; neither tells this send from another
            return CANNOT_TELL
        to_address = channel_address(message.to)
        query = {"To": to_address, "PageSize": str(twilio_lookup.PAGE_SIZE), **fields}
        query.pop("MessagingServiceSid", None)  # not a list filter: matched per message
        not_before = message.created_at - twilio_lookup.CLOCK_SKEW
        candidates: list[str] = []
        url = f"{self.messages_url}?{urlencode(query)}"
        for _ in range(twilio_lookup.MAX_PAGES):
            page = await self._page(url)
            if page is None:
                return CANNOT_TELL
            resources, next_uri = page
            found, all_older = twilio_lookup.scan_page(
                resources,
                to_address=to_address,
                body=text,
                sender=fields,
                not_before=not_before,
            )
            candidates += found
            if all_older or next_uri is None:
                return twilio_lookup.verdict(candidates, complete=True)
            url = f"{self.base_url}{next_uri}"
        return twilio_lookup.verdict(candidates, complete=False)

    async def _page(self, url: str) -> tuple[list[Mapping[str, Any]], str | None] | None:
        """One list page: its messages and next_page_uri; None when it cannot be read."""
        answer = await call(
            self._http.get(), "GET", url, headers=self._headers(), timeout=self._http.timeout
        )
        if isinstance(answer, NoAnswer) or answer.status != 200:
            return None
        parsed = answer.json()
        if not isinstance(parsed, Mapping) or not isinstance(parsed.get("messages"), list):
            return None
        resources = [item for item in parsed["messages"] if isinstance(item, Mapping)]
        next_uri = parsed.get("next_page_uri")
        return resources, next_uri if isinstance(next_uri, str) and next_uri else None

    async def close(self) -> None:
        await self._http.close()


def from_credentials(
    credentials: Mapping[str, str],
    *,
    base_url: str | None = None,
    session: aiohttp.ClientSession | None = None,
    status_callback: str | None = None,
    timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
) -> TwilioAdapter:
    return TwilioAdapter(
        account_sid=credentials["accountSid"],
        auth_token=credentials["authToken"],
        messaging_service_sid=credentials.get("messagingServiceSid") or None,
        status_callback=status_callback,
        base_url=base_url,
        session=session,
        timeout=timeout,
    )


# ------------------------------------------------------------------ status callbacks

Params = Mapping[str, str] | Iterable[tuple[str, str]]


def _pairs(params: Params) -> list[tuple[str, str]]:
    return list(params.items()) if isinstance(params, Mapping) else list(params)


def compute_signature(auth_token: str, url: str, params: Params) -> str:
    """base64(HMAC-SHA1(auth token, URL + each key and value, keys sorted, values sorted)).

    Repeated keys sign each distinct value once, as twilio-python does.
    """
    grouped: dict[str, set[str]] = {}
    for key, value in _pairs(params):
        grouped.setdefault(key, set()).add(value)
    signed = url + "".join(key + value for key in sorted(grouped) for value in sorted(grouped[key]))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _port_variants(url: str) -> set[str]:
    """The URL with its port removed and with the scheme's default port added: Twilio
    signs whichever form it was configured with, as twilio-python's validator allows."""
    parts = urlsplit(url)
    try:
        given_port = parts.port
    except ValueError:  # not a number: only the URL as given can match
        return {url}
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    default = {"https": 443, "http": 80}.get(parts.scheme)
    variants = {url, urlunsplit(parts._replace(netloc=prefix + host))}
    port = given_port if given_port is not None else default
    if port is not None:
        variants.add(urlunsplit(parts._replace(netloc=f"{prefix}{host}:{port}")))
    return variants


def verify_signature(auth_token: str, url: str, params: Params, signature: str | None) -> bool:
    """Whether `signature` (the X-Twilio-Signature header) signs this URL and form (constant
    time). `url` is the full URL Twilio requested, query string included."""
    if not signature:
        return False
    pairs = _pairs(params)
    given = signature.strip().encode()
    matches = [
        hmac.compare_digest(compute_signature(auth_token, variant, pairs).encode(), given)
        for variant in sorted(_port_variants(url))
    ]
    return any(matches)
