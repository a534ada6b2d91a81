"""The ingest server's routes: vendor webhooks in, verified, normalised, handed to a sink.

    GET  /meta/{namespace}/{pool}    Meta's subscription handshake (hub.challenge)
    POST /meta/{namespace}/{pool}    Meta's webhooks (X-Hub-Signature-256, app secret)
    POST /twilio/{namespace}/{pool}  Twilio's status callbacks and incoming messages
                                     (X-Twilio-Signature, auth token, over the public URL)

A request whose signature does not check is answered 403 and goes no
further; one for a pool the secrets provider does not know, 404; one whose
pool's secrets cannot be read right now (the API server unreachable), 503, so
the vendor retries. A verified one is normalised (`session_runner.events.from_*`) and
handed to the sink (ledger + publish, `events.forward`) before the answer: a
200 means the events are published. When the sink fails or takes longer than
the processing timeout, the answer is 503 and the vendor sends the webhook
again; the events' stable ids make that harmless.

Nothing a request carries is logged beyond the route's namespace and pool
and counts; no secret is ever logged or answered (answers are fixed words).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Final
from urllib.parse import parse_qsl

from aiohttp import web

from session_runner.events.delivery import DeliveryError
from session_runner.events.event import Event
from session_runner.events.from_meta import from_meta
from session_runner.events.from_twilio import from_twilio, message_id_from_query
from session_runner.events.publish import PublishError
from session_runner.ingest.secrets import (
    PoolSecrets,
    SecretsProvider,
    SecretsUnavailableError,
    valid_names,
)
from session_runner.sender.ledger import LedgerError
from session_runner.sender.vendors import meta_cloud, twilio

log = logging.getLogger(__name__)

Sink = Callable[[list[Event]], Awaitable[object]]
#: What Twilio's messaging webhooks accept as "no reply" (a status callback ignores the body).
EMPTY_TWIML: Final = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def signed_url(public_base_url: str, raw_path: str) -> str:
    """The URL the vendor called: the configured public base, then the path and query as
    they arrived (undecoded: Twilio signs the URL byte for byte)."""
    return public_base_url.rstrip("/") + raw_path


def safe_reason(error: BaseException) -> str:
    """What may be logged about a failure: our storage errors' messages (built to name the
    table or topic and an error code only), else the exception's type alone."""
    if isinstance(error, DeliveryError | PublishError | LedgerError):
        return str(error)
    return type(error).__name__


def _text(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=f"{text}\n")


class IngestRoutes:
    """The handlers, bound to their configuration."""

    def __init__(
        self,
        *,
        public_base_url: str,
        secrets: SecretsProvider,
        sink: Sink,
        processing_timeout_s: float,
        clock: Callable[[], datetime],
    ) -> None:
        self.public_base_url = public_base_url
        self.secrets = secrets
        self.sink = sink
        self.processing_timeout_s = processing_timeout_s
        self.clock = clock

    async def _pool(self, request: web.Request) -> tuple[str, str, PoolSecrets | None]:
        namespace = request.match_info["namespace"]
        pool = request.match_info["pool"]
        if not valid_names(namespace, pool):
            return namespace, pool, None
        try:
            return namespace, pool, await self.secrets.get(namespace, pool)
        except SecretsUnavailableError as error:
            log.error(
                "pool secrets unavailable (%s): answered 503",
                error,
                extra={"pool": f"{namespace}/{pool}"},
            )
            raise web.HTTPServiceUnavailable(text="try again\n") from None

    async def meta_verify(self, request: web.Request) -> web.Response:
        namespace, pool, secrets = await self._pool(request)
        if secrets is None:
            return _text(404, "unknown pool")
        token = secrets.verify_token
        challenge = None if token is None else meta_cloud.verify_subscription(request.query, token)
        if challenge is None:
            log.warning(
                "meta subscription handshake refused", extra={"pool": f"{namespace}/{pool}"}
            )
            return _text(403, "forbidden")
        log.info("meta subscription handshake accepted", extra={"pool": f"{namespace}/{pool}"})
        return web.Response(status=200, text=challenge)

    async def meta_webhook(self, request: web.Request) -> web.Response:
        namespace, pool, secrets = await self._pool(request)
        if secrets is None:
            return _text(404, "unknown pool")
        body = await request.read()
        header = request.headers.get(meta_cloud.SIGNATURE_HEADER)
        if secrets.app_secret is None or not meta_cloud.verify_signature(
            secrets.app_secret, body, header
        ):
            return self._refused("meta", namespace, pool)
        try:
            payload = json.loads(body)
        except ValueError:
            log.warning("meta webhook is not JSON", extra={"pool": f"{namespace}/{pool}"})
            return _text(400, "not JSON")
        events = from_meta(payload, namespace=namespace, pool=pool, received_at=self.clock())
        return await self._hand_over("meta", namespace, pool, events, _text(200, "ok"))

    async def twilio_webhook(self, request: web.Request) -> web.Response:
        namespace, pool, secrets = await self._pool(request)
        if secrets is None:
            return _text(404, "unknown pool")
        body = await request.read()
        try:
            params = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            params = None
        url = signed_url(self.public_base_url, request.raw_path)
        header = request.headers.get(twilio.SIGNATURE_HEADER)
        if (
            params is None
            or secrets.auth_token is None
            or not twilio.verify_signature(secrets.auth_token, url, params, header)
        ):
            return self._refused("twilio", namespace, pool)
        event = from_twilio(
            params,
            message_id=message_id_from_query(request.query),
            namespace=namespace,
            pool=pool,
            received_at=self.clock(),
        )
        events = [] if event is None else [event]
        answer = web.Response(status=200, text=EMPTY_TWIML, content_type="text/xml")
        return await self._hand_over("twilio", namespace, pool, events, answer)

    @staticmethod
    def _refused(vendor: str, namespace: str, pool: str) -> web.Response:
        log.warning(
            "%s webhook refused: signature does not check",
            vendor,
            extra={"pool": f"{namespace}/{pool}"},
        )
        return _text(403, "forbidden")

    async def _hand_over(
        self, vendor: str, namespace: str, pool: str, events: list[Event], answer: web.Response
    ) -> web.Response:
        where = {"pool": f"{namespace}/{pool}", "events": len(events)}
        if not events:
            return answer
        try:
            async with asyncio.timeout(self.processing_timeout_s):
                await self.sink(events)
        except TimeoutError:
            log.error("%s webhook not processed in time: answered 503", vendor, extra=where)
            return _text(503, "try again")
        except Exception as error:  # the vendor retries; the events' ids make that harmless
            log.error(
                "%s webhook not processed (%s): answered 503",
                vendor,
                safe_reason(error),
                extra=where,
            )
            return _text(503, "try again")
        log.info("%s webhook processed", vendor, extra=where)
        return answer


def build_app(
    *,
    public_base_url: str,
    secrets: SecretsProvider,
    sink: Sink,
    max_body_bytes: int = 1 << 20,
    processing_timeout_s: float = 10.0,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> web.Application:
    routes = IngestRoutes(
        public_base_url=public_base_url,
        secrets=secrets,
        sink=sink,
        processing_timeout_s=processing_timeout_s,
        clock=clock,
    )
    app = web.Application(client_max_size=max_body_bytes)
    app.router.add_get("/meta/{namespace}/{pool}", routes.meta_verify)
    app.router.add_post("/meta/{namespace}/{pool}", routes.meta_webhook)
    app.router.add_post("/twilio/{namespace}/{pool}", routes.twilio_webhook)
    return app


async def start(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve `app`; returns the runner (`cleanup()` stops it) and the port it listens on."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner, int(runner.addresses[0][1])
