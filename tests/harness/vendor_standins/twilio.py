"""A stand-in for Twilio's Messages API with WhatsApp senders, and its status callbacks.

Answers as Twilio does for `POST` and `GET /2010-04-01/Accounts/{sid}/Messages.json`:
HTTP basic auth (AccountSid:AuthToken), else 401 code 20003; form fields
checked in Twilio's order (To 21604/21211, sender 21603/63007, Body
21602/21617, unsubscribed recipient 21610); a success is 201 with the Message
resource. Errors are `{"code", "message", "more_info", "status"}`. Our id is
the `wafleet_message_id` query parameter of the StatusCallback URL; when
`deliver_callbacks` is on, a `sent` callback goes to that URL, signed with
X-Twilio-Signature. The list answers newest first, in pages.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from aiohttp import web

from session_runner.sender.vendors.twilio import ID_QUERY_PARAM
from tests.harness.vendor_standins.common import AcceptedSend, Plan, StandinServer

ERRORS: dict[int, tuple[int, str]] = {
    20003: (401, "Authenticate"),
    20404: (404, "The requested resource was not found"),
    20429: (429, "Too Many Requests"),
    20500: (500, "Internal Server Error"),
    20503: (503, "Service Unavailable"),
    21211: (400, "Invalid 'To' Phone Number"),
    21602: (400, "Message body is required."),
    21603: (400, "A 'From' phone number is required."),
    21604: (400, "A 'To' phone number is required."),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21611: (400, "This 'From' number has exceeded the maximum number of queued messages"),
    21617: (400, "The concatenated message body exceeds the 1600 character limit."),
    63007: (400, "Twilio could not find a Channel with the specified From address"),
    63016: (400, "Failed to send freeform message because you are outside the allowed window."),
    63018: (400, "Rate limit exceeded for Channel"),
}
WHATSAPP = re.compile(r"^whatsapp:\+[1-9][0-9]{6,14}$")
MAX_BODY_CHARS = 1600


def twilio_error(code: int, *, status: int | None = None) -> web.Response:
    known_status, message = ERRORS.get(code, (400, "Error"))
    status = status or known_status
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return web.json_response(body, status=status)


def signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """X-Twilio-Signature, computed here independently of the code under test."""
    signed = url + "".join(key + params[key] for key in sorted(params))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def sent_body(form: dict[str, str]) -> str:
    """The Message resource's body: the text or caption; a template's Content SID stands in
    for the text Twilio would render from it."""
    if form.get("ContentSid"):
        return f"template:{form['ContentSid']}"
    return form.get("Body", "")


def _rfc2822(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC))  # "Sun, 06 Dec 2026 00:18:53 +0000"


class TwilioStandin(StandinServer):
    """One Twilio account with WhatsApp senders (`senders`, E.164) and one Messaging Service."""

    def __init__(
        self,
        *,
        sender: str = "+15550001111",
        deliver_callbacks: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__(seed=seed)
        self.account_sid = f"AC{secrets.token_hex(16)}"
        self.auth_token = secrets.token_hex(16)
        self.messaging_service_sid = f"MG{secrets.token_hex(16)}"
        self.senders = {sender}
        self.unsubscribed: set[str] = set()  # E.164 numbers that sent STOP
        self.deliver_callbacks = deliver_callbacks
        self.resources: list[dict[str, Any]] = []  # every Message created, oldest first

    @property
    def sender(self) -> str:
        return sorted(self.senders)[0]

    def credentials(self) -> dict[str, str]:
        return {"accountSid": self.account_sid, "authToken": self.auth_token}

    def routes(self, app: web.Application) -> None:
        path = "/2010-04-01/Accounts/{account_sid}/Messages.json"
        app.router.add_post(path, self._create)
        app.router.add_get(path, self._list)

    def _authenticated(self, request: web.Request) -> bool:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return (
            scheme == "Basic"
            and hmac.compare_digest(user, self.account_sid)
            and hmac.compare_digest(password, self.auth_token)
            and request.match_info["account_sid"] == self.account_sid
        )

    def _refusal(self, form: dict[str, str]) -> int | None:
        to = form.get("To")
        if not to:
            return 21604
        if not WHATSAPP.match(to):
            return 21211
        sender, service = form.get("From"), form.get("MessagingServiceSid")
        if not sender and not service:
            return 21603
        if sender and sender.removeprefix("whatsapp:") not in self.senders:
            return 63007
        if service and service != self.messaging_service_sid:
            return 20404
        if not form.get("Body") and not form.get("ContentSid") and not form.get("MediaUrl"):
            return 21602  # "Message body is required" (unless a template or media is sent)
        if len(form.get("Body", "")) > MAX_BODY_CHARS:
            return 21617
        if to.removeprefix("whatsapp:") in self.unsubscribed:
            return 21610
        return None

    async def _create(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        if not self._authenticated(request):
            return twilio_error(20003)
        plan = self.plan()
        if plan == Plan.THROTTLE:
            response = twilio_error(20429)
            response.headers.update(self.retry_after_headers())
            return response
        form = {key: str(value) for key, value in (await request.post()).items()}
        refusal = self._refusal(form)
        if refusal is not None:
            return twilio_error(refusal)
        if plan == Plan.FAIL:
            if self.faults.fail_code is None:
                return self.bare(self.faults.fail_status or 500)
            return twilio_error(self.faults.fail_code, status=self.faults.fail_status)
        resource = self._resource(form)
        self.resources.append(resource)
        callback = form.get("StatusCallback")
        our_id = None
        if callback:
            our_id = parse_qs(urlsplit(callback).query).get(ID_QUERY_PARAM, [None])[0]
        send = AcceptedSend(arrived, our_id, resource["to"], resource["body"], resource["sid"])
        await self.log.record(send)
        if callback and self.deliver_callbacks:
            self.spawn(self._status_callback(callback, resource))
        if plan == Plan.ACCEPT_THEN_DROP:
            return self.drop(request)
        await self.delay()
        return web.json_response(resource, status=201)

    def _resource(self, form: dict[str, str]) -> dict[str, Any]:
        sid = f"SM{secrets.token_hex(16)}"
        now = _rfc2822(datetime.now(UTC))
        service = form.get("MessagingServiceSid")
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": sent_body(form),
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From") or f"whatsapp:{self.sender}",
            "messaging_service_sid": service,
            "num_media": "1" if form.get("MediaUrl") else "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if service else "queued",
            "subresource_uris": {
                "media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"
            },
            "to": form["To"],
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }

    async def _list(self, request: web.Request) -> web.Response:
        if not self._authenticated(request):
            return twilio_error(20003)
        query = request.query
        size = max(1, min(int(query.get("PageSize", "50")), 1000))
        page = max(0, int(query.get("Page", "0")))
        matching = [
            resource
            for resource in reversed(self.resources)
            if resource["to"] == query.get("To", resource["to"])
            and resource["from"] == query.get("From", resource["from"])
        ]
        chunk = matching[page * size : (page + 1) * size]
        filters = {key: query[key] for key in ("To", "From") if key in query}
        next_uri = None
        if (page + 1) * size < len(matching):
            token = f"PASM{secrets.token_hex(16)}"
            next_query = {**filters, "PageSize": size, "Page": page + 1, "PageToken": token}
            next_uri = f"{request.path}?{urlencode(next_query)}"
        return web.json_response(
            {
                "messages": chunk,
                "page": page,
                "page_size": size,
                "start": page * size,
                "end": page * size + max(len(chunk) - 1, 0),
                "first_page_uri": f"{request.path}?{urlencode({**filters, 'PageSize': size, 'Page': 0})}",
                "next_page_uri": next_uri,
                "previous_page_uri": None,
                "uri": request.path_qs,
            }
        )

    async def _status_callback(self, url: str, resource: dict[str, Any]) -> None:
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "ChannelPrefix": "whatsapp",
            "From": resource["from"],
            "MessageSid": resource["sid"],
            "MessageStatus": "sent",
            "SmsSid": resource["sid"],
            "SmsStatus": "sent",
            "To": resource["to"],
        }
        headers = {"X-Twilio-Signature": signature(self.auth_token, url, params)}
        await self.post_callback(url, headers=headers, data=params)
