"""A stand-in for Meta's WhatsApp Cloud API: the messages endpoint and its status webhooks.

Answers as Graph does for `POST /{version}/{phone-number-id}/messages`: a
wrong or missing token is 401 code 190; a phone-number id that is not this
account's is 400 code 100 subcode 33; a bad body is 400 code 100; a success is
200 with `messages[0].id` (a wamid). Errors have Graph's shape:
`{"error": {"message", "type", "code", "error_data": {"messaging_product", "details"},
"fbtrace_id"}}`. Our id is `biz_opaque_callback_data`, the field Meta echoes
in the status webhooks. A number in `undeliverable` is accepted (200) and
then fails in its status webhook with 131026, as Meta reports it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from typing import Any

from aiohttp import web

from tests.harness.vendor_standins.common import AcceptedSend, Plan, StandinServer

#: Graph error code -> (HTTP status, message) as Meta's error reference lists them.
ERRORS: dict[int, tuple[int, str]] = {
    1: (500, "An unknown error occurred"),
    2: (503, "(#2) Service temporarily unavailable"),
    4: (400, "(#4) Application request limit reached"),
    100: (400, "(#100) Invalid parameter"),
    190: (401, "Invalid OAuth access token - Cannot parse access token"),
    368: (403, "(#368) Temporarily blocked for policies violations"),
    80007: (400, "(#80007) Rate limit issues"),
    130429: (400, "(#130429) Rate limit hit"),
    131000: (500, "(#131000) Something went wrong"),
    131016: (503, "(#131016) Service unavailable"),
    131026: (400, "(#131026) Message Undeliverable."),
    131031: (403, "(#131031) Account has been locked"),
    131047: (400, "(#131047) Re-engagement message"),
    131048: (400, "(#131048) Spam rate limit hit"),
    131049: (400, "(#131049) This message was not delivered to maintain healthy ecosystem"),
    131056: (400, "(#131056) (Business Account, Consumer Account) pair rate limit hit"),
}
PHONE = re.compile(r"^\+?[1-9][0-9]{6,14}$")
MAX_BODY_CHARS = 4096
MAX_OPAQUE_CHARS = 512


def graph_error(
    code: int, *, status: int | None = None, details: str = "", subcode: int | None = None
) -> web.Response:
    known_status, message = ERRORS.get(code, (400, f"(#{code}) Error"))
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details or message},
        "fbtrace_id": secrets.token_urlsafe(12),
    }
    if subcode is not None:
        error["error_subcode"] = subcode
        error["type"] = "GraphMethodException"
    return web.json_response({"error": error}, status=status or known_status)


MEDIA_KINDS = frozenset({"image", "video", "audio", "document"})


def _text_problem(text: Any) -> str | None:
    if not isinstance(text, dict):
        return "The parameter text is required."
    if not isinstance(text.get("body"), str) or not text["body"]:
        return "The parameter text['body'] is required."
    if len(text["body"]) > MAX_BODY_CHARS:
        return f"Param text['body'] must be at most {MAX_BODY_CHARS} characters long."
    return None


def _template_problem(template: Any) -> str | None:
    """A template object as the Graph API checks its shape (name, language.code, body
    parameters of type text)."""
    if not isinstance(template, dict) or not isinstance(template.get("name"), str):
        return "The parameter template['name'] is required."
    language = template.get("language")
    if not isinstance(language, dict) or not isinstance(language.get("code"), str):
        return "The parameter template['language']['code'] is required."
    for component in template.get("components", []):
        for parameter in component.get("parameters", []):
            if parameter.get("type") != "text" or not parameter.get("text"):
                return "Param template['components'][0]['parameters'] is invalid."
    return None


def _media_problem(kind: str, media: Any) -> str | None:
    if not isinstance(media, dict) or not str(media.get("link", "")).startswith("https://"):
        return f"The parameter {kind}['link'] is required (https)."
    if kind == "audio" and "caption" in media:
        return "Param audio['caption'] is not allowed."
    return None


def sent_content(body: dict[str, Any]) -> str:
    """What the recipient would see, for the send log: the text, else the template's name
    or the media's link."""
    kind = body.get("type", "text")
    if kind == "template":
        return f"template:{body['template']['name']}"
    if kind in MEDIA_KINDS:
        return f"{kind}:{body[kind]['link']}"
    return str(body["text"]["body"])


def _invalid(body: Any) -> str | None:
    """Why this messages-endpoint body is refused with code 100 (None: it is valid)."""
    if not isinstance(body, dict):
        return "Request body must be a JSON object"
    if body.get("messaging_product") != "whatsapp":
        return "The parameter messaging_product is required."
    if not isinstance(body.get("to"), str) or not PHONE.match(body["to"]):
        return "Invalid parameter 'to': not a phone number"
    kind = body.get("type", "text")
    if kind == "template":
        problem = _template_problem(body.get("template"))
    elif kind in MEDIA_KINDS:
        problem = _media_problem(kind, body.get(kind))
    else:
        problem = _text_problem(body.get("text"))
    if problem is not None:
        return problem
    opaque = body.get("biz_opaque_callback_data")
    if opaque is not None and (not isinstance(opaque, str) or len(opaque) > MAX_OPAQUE_CHARS):
        return f"Param biz_opaque_callback_data must be at most {MAX_OPAQUE_CHARS} characters."
    return None


class MetaStandin(StandinServer):
    """One WhatsApp Business Account with one phone-number id. `webhook_url`: where signed
    status webhooks go (none when unset)."""

    def __init__(
        self,
        *,
        access_token: str | None = None,
        phone_number_id: str = "106540352242922",
        app_secret: str | None = None,
        webhook_url: str | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(seed=seed)
        self.access_token = access_token or f"EAAG{secrets.token_urlsafe(48)}"
        self.phone_number_id = phone_number_id
        self.app_secret = app_secret or secrets.token_hex(16)
        self.webhook_url = webhook_url
        self.undeliverable: set[str] = set()  # digits of numbers that fail with 131026 later

    def credentials(self) -> dict[str, str]:
        return {"accessToken": self.access_token, "phoneNumberId": self.phone_number_id}

    def routes(self, app: web.Application) -> None:
        app.router.add_post(r"/{version:v[0-9]+\.[0-9]+}/{phone_number_id}/messages", self._send)

    async def _send(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        if request.headers.get("Authorization") != f"Bearer {self.access_token}":
            return graph_error(190)
        if request.match_info["phone_number_id"] != self.phone_number_id:
            object_id = request.match_info["phone_number_id"]
            return graph_error(
                100,
                subcode=33,
                details=f"Unsupported post request. Object with ID '{object_id}' does not exist",
            )
        plan = self.plan()
        if plan == Plan.THROTTLE:
            response = graph_error(130429)
            response.headers.update(self.retry_after_headers())
            return response
        try:
            body = json.loads(await request.read())
        except ValueError:
            body = None
        problem = _invalid(body)
        if problem is not None:
            return graph_error(100, details=problem)
        if plan == Plan.FAIL:
            if self.faults.fail_code is None:
                return self.bare(self.faults.fail_status or 500)
            return graph_error(self.faults.fail_code, status=self.faults.fail_status)
        return await self._accept(request, body, arrived, drop=plan == Plan.ACCEPT_THEN_DROP)

    async def _accept(
        self, request: web.Request, body: dict[str, Any], arrived: float, *, drop: bool
    ) -> web.Response:
        wamid = f"wamid.{secrets.token_urlsafe(30)}"
        digits = body["to"].lstrip("+")
        our_id = body.get("biz_opaque_callback_data")
        await self.log.record(AcceptedSend(arrived, our_id, body["to"], sent_content(body), wamid))
        if self.webhook_url is not None:
            self.spawn(self._status_webhook(wamid, digits, our_id))
        if drop:
            return self.drop(request)
        await self.delay()
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": body["to"], "wa_id": digits}],
                "messages": [{"id": wamid}],
            }
        )

    def status_payload(self, wamid: str, digits: str, our_id: str | None) -> dict[str, Any]:
        status: dict[str, Any] = {
            "id": wamid,
            "status": "sent",
            "timestamp": str(int(time.time())),
            "recipient_id": digits,
        }
        if digits in self.undeliverable:
            status["status"] = "failed"
            status["errors"] = [
                {
                    "code": 131026,
                    "title": "Message undeliverable",
                    "message": "Message undeliverable",
                    "error_data": {"details": "Message Undeliverable."},
                }
            ]
        if our_id is not None:
            status["biz_opaque_callback_data"] = our_id
        value = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": "15550000000",
                "phone_number_id": self.phone_number_id,
            },
            "statuses": [status],
        }
        change = {"field": "messages", "value": value}
        return {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [change]}]}

    async def _status_webhook(self, wamid: str, digits: str, our_id: str | None) -> None:
        assert self.webhook_url is not None
        raw = json.dumps(self.status_payload(wamid, digits, our_id)).encode()
        signature = hmac.new(self.app_secret.encode(), raw, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={signature}"}
        await self.post_callback(self.webhook_url, headers=headers, data=raw)
