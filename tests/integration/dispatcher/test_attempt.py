"""One attempt against real local HTTP servers: every answer becomes the right `Answer`."""

from __future__ import annotations

import asyncio
import base64
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from standardwebhooks import Webhook

from session_runner.dispatcher.attempt import attempt, client_session
from session_runner.dispatcher.retry_decision import Answer, Failure
from session_runner.dispatcher.signing import delivery_headers
from session_runner.dispatcher.url_safety import Network, parse_networks

LOCAL = parse_networks("127.0.0.1/32")
SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
BODY = b'{"id":"evt_00000000000000000000000000000001","type":"message.inbound"}'


@dataclass
class Subscriber:
    """A local subscriber whose answer each test sets; it keeps what it received."""

    base_url: str = ""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    streamed: int = 0


@pytest.fixture
async def subscriber() -> AsyncIterator[Subscriber]:
    state = Subscriber()

    async def ok(request: web.Request) -> web.Response:
        state.received.append((dict(request.headers), await request.read()))
        return web.Response(status=204)

    async def busy(request: web.Request) -> web.Response:
        return web.Response(status=503, headers={"Retry-After": "120"})

    async def gone(request: web.Request) -> web.Response:
        return web.Response(status=410)

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(status=200)

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("http://169.254.169.254/latest/meta-data/")

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200)
        await response.prepare(request)
        chunk = b"x" * 65536
        try:
            for _ in range(1000):  # 64 MB if anyone read it all
                await response.write(chunk)
                state.streamed += len(chunk)
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            pass
        return response

    async def hang_up(request: web.Request) -> web.Response:
        assert request.transport is not None
        request.transport.close()
        return web.Response(status=200)

    app = web.Application()
    for path, handler in {
        "/ok": ok,
        "/busy": busy,
        "/gone": gone,
        "/slow": slow,
        "/moved": moved,
        "/endless": endless,
        "/hang-up": hang_up,
    }.items():
        app.router.add_post(path, handler)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield state
    await runner.cleanup()


async def post(url: str, *, timeout_s: float = 2.0, allowed: tuple[Network, ...] = LOCAL) -> Answer:
    headers = delivery_headers(
        [SECRET], "evt_00000000000000000000000000000001", int(time.time()), BODY
    )
    async with client_session(allowed) as session:
        return await attempt(session, url, BODY, headers, timeout_s=timeout_s, allowed=allowed)


async def test_a_2xx_answer_and_the_subscriber_verifies_what_it_got(subscriber: Subscriber) -> None:
    assert await post(f"{subscriber.base_url}/ok") == Answer(status=204)
    [(headers, body)] = subscriber.received
    assert body == BODY
    Webhook(SECRET).verify(body, headers)


async def test_a_5xx_with_retry_after(subscriber: Subscriber) -> None:
    assert await post(f"{subscriber.base_url}/busy") == Answer(status=503, retry_after_s=120.0)


async def test_410_gone(subscriber: Subscriber) -> None:
    assert await post(f"{subscriber.base_url}/gone") == Answer(status=410)


async def test_the_timeout_bounds_an_attempt(subscriber: Subscriber) -> None:
    assert await post(f"{subscriber.base_url}/slow", timeout_s=0.5) == Answer(
        failure=Failure.TIMEOUT
    )


async def test_a_redirect_is_not_followed(subscriber: Subscriber) -> None:
    answer = await post(f"{subscriber.base_url}/moved")
    assert answer == Answer(status=302)


async def test_an_endless_answer_is_read_only_so_far(subscriber: Subscriber) -> None:
    answer = await post(f"{subscriber.base_url}/endless")
    assert answer == Answer(status=200)
    await asyncio.sleep(0.2)
    assert subscriber.streamed < 64 << 20  # it was cut off long before the end


async def test_a_hang_up_is_a_broken_answer(subscriber: Subscriber) -> None:
    answer = await post(f"{subscriber.base_url}/hang-up")
    assert answer.failure is Failure.BROKEN


async def test_nobody_listening_is_no_connection() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    answer = await post(f"http://127.0.0.1:{port}/hooks")
    assert answer.failure is Failure.CONNECT


async def test_loopback_is_refused_unless_allowed(subscriber: Subscriber) -> None:
    answer = await post(f"{subscriber.base_url}/ok", allowed=())
    assert answer.failure is Failure.REFUSED_ADDRESS
    assert "loopback" in (answer.detail or "")
    assert subscriber.received == []


async def test_a_name_resolving_to_loopback_is_refused_by_the_resolver(
    subscriber: Subscriber,
) -> None:
    port = subscriber.base_url.rsplit(":", 1)[1]
    answer = await post(f"http://localhost:{port}/ok", allowed=())
    assert answer.failure is Failure.REFUSED_ADDRESS
    assert "localhost" in (answer.detail or "")
    assert subscriber.received == []
