"""A media message through an account's session: the runner downloads the URL (public
addresses only, WhatsApp's size cap, each redirect checked) and its engine sends the file.

Against a real local HTTP server and the local engine (which checks the file's size,
sha256 and leading bytes against what the download reported).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web

from session_runner.dispatcher.url_safety import parse_networks
from session_runner.sender.message import Media, OutboundMessage
from session_runner.sender.vendors.base import Outcome
from session_runner.session.engines.local import LocalEngine, LocalEngineOptions
from session_runner.session.outbound.adapter import SessionAdapter
from session_runner.session.outbound.media_fetch import MediaFetcher, MediaFetchError
from tests.harness.local_http import serving

LOOPBACK = parse_networks("127.0.0.0/8")
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + os.urandom(200_000)
PDF_BYTES = b"%PDF-1.4\n" + os.urandom(50_000)
FIVE_MB = 5 * 1024 * 1024


async def media(request: web.Request) -> web.StreamResponse:
    """`p.png`, `receipt.pdf`; `gone.png` 404, `busy.png` 503, `huge.png` says 6 MB,
    `liar.png` says nothing and streams 6 MB, `wrong.png` is served as JPEG, `empty.png`
    is empty, `metadata` redirects to the metadata service, `hop` to p.png."""
    name = request.match_info["name"]
    if name == "hop":
        raise web.HTTPFound("/media/p.png")
    if name == "metadata":
        raise web.HTTPFound("http://169.254.169.254/latest/meta-data/")
    if name == "gone.png":
        raise web.HTTPNotFound()
    if name == "busy.png":
        raise web.HTTPServiceUnavailable()
    if name == "huge.png":
        return web.Response(body=b"\x89PNG" + bytes(6 * 1024 * 1024), content_type="image/png")
    if name == "liar.png":
        answer = web.StreamResponse(headers={"Content-Type": "image/png"})
        answer.enable_chunked_encoding()
        await answer.prepare(request)
        for _ in range(6 * 16):
            await answer.write(bytes(64 * 1024))
        return answer
    if name == "wrong.png":
        return web.Response(body=PNG_BYTES, content_type="image/jpeg")
    if name == "empty.png":
        return web.Response(body=b"", content_type="image/png")
    if name == "receipt.pdf":
        return web.Response(body=PDF_BYTES, content_type="application/pdf")
    return web.Response(body=PNG_BYTES, content_type="image/png")


@pytest.fixture
async def media_server() -> AsyncIterator[str]:
    async with serving(media, "/media/{name}", method="GET") as base:
        yield f"{base}/media"


def files_in(folder: Path) -> list[Path]:
    return list(folder.iterdir())


def png(url: str) -> Media:
    return Media(url=url, content_type="image/png")


async def test_a_download_is_the_served_file_with_its_size_hash_and_name(
    media_server: str, tmp_path: Path
) -> None:
    fetcher = MediaFetcher(tmp_path, LOOPBACK)
    ref = await fetcher.fetch(
        Media(url=f"{media_server}/receipt.pdf", content_type="application/pdf")
    )
    assert ref.path.read_bytes() == PDF_BYTES
    assert (ref.size, ref.sha256) == (len(PDF_BYTES), hashlib.sha256(PDF_BYTES).hexdigest())
    assert (ref.mime_type, ref.filename) == ("application/pdf", "receipt.pdf")
    assert ref.path.parent == tmp_path
    followed = await fetcher.fetch(png(f"{media_server}/hop"))  # one redirect, checked
    assert followed.path.read_bytes() == PNG_BYTES


@pytest.mark.parametrize(
    ("name", "outcome", "reason"),
    [
        ("gone.png", Outcome.PERMANENT, "answered HTTP 404"),
        ("busy.png", Outcome.RETRY, "answered HTTP 503"),
        ("wrong.png", Outcome.PERMANENT, "is served as image/jpeg, not image/png"),
        ("huge.png", Outcome.PERMANENT, f"is over {FIVE_MB} bytes"),
        ("liar.png", Outcome.PERMANENT, f"is over {FIVE_MB} bytes"),  # cut off mid-stream
        ("empty.png", Outcome.PERMANENT, "is empty"),
        ("metadata", Outcome.PERMANENT, "not a public address"),
    ],
)
async def test_a_download_that_cannot_be_sent_says_why_and_leaves_no_file(
    media_server: str, tmp_path: Path, name: str, outcome: Outcome, reason: str
) -> None:
    with pytest.raises(MediaFetchError) as refused:
        await MediaFetcher(tmp_path, LOOPBACK).fetch(png(f"{media_server}/{name}"))
    assert refused.value.refusal.outcome is outcome
    assert reason in refused.value.refusal.reason
    assert files_in(tmp_path) == []


async def test_loopback_is_refused_unless_allowed(media_server: str, tmp_path: Path) -> None:
    with pytest.raises(MediaFetchError) as refused:
        await MediaFetcher(tmp_path).fetch(png(f"{media_server}/p.png"))
    assert refused.value.refusal.outcome is Outcome.PERMANENT
    assert "not a public address" in refused.value.refusal.reason


async def test_nothing_listening_is_worth_retrying(tmp_path: Path) -> None:
    from tests.harness.control_plane.processes import free_port

    with pytest.raises(MediaFetchError) as refused:
        await MediaFetcher(tmp_path, LOOPBACK).fetch(png(f"http://127.0.0.1:{free_port()}/p.png"))
    assert refused.value.refusal.outcome is Outcome.RETRY


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[LocalEngine]:
    engine = LocalEngine(LocalEngineOptions(ack_sent_s=0.01, ack_delivered_s=0.01, ack_read_s=0.01))
    await engine.start(tmp_path / "session")
    engine.approve_login()
    for _ in range(200):
        if engine.ready:
            break
        await asyncio.sleep(0.01)
    assert engine.ready
    yield engine
    await engine.stop()


def message(media: Media, text: str | None = None) -> OutboundMessage:
    return OutboundMessage(
        id="m-media-1",
        target="alice-session",
        to="+14155550123",
        text=text,
        media=media,
        created_at=datetime.now(UTC),
    )


async def test_the_session_sends_the_downloaded_file_once_and_deletes_it(
    engine: LocalEngine, media_server: str, tmp_path: Path
) -> None:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    adapter = SessionAdapter(lambda: engine, MediaFetcher(downloads, LOOPBACK))
    sent = await adapter.send(message(png(f"{media_server}/p.png"), "a photo"), sender=None)
    assert sent.outcome is Outcome.SENT, sent
    assert sent.vendor_message_id is not None
    assert adapter.our_id(sent.vendor_message_id) == "m-media-1"
    assert files_in(downloads) == []  # deleted after the send
    again = await adapter.send(message(png(f"{media_server}/gone.png")), sender=None)
    # the same id again (a redelivered queue message): this engine's first send answers,
    # without a download (gone.png would have refused it)
    assert (again.outcome, again.vendor_message_id) == (Outcome.SENT, sent.vendor_message_id)


async def test_a_bad_url_fails_the_message_with_the_reason(
    engine: LocalEngine, media_server: str, tmp_path: Path
) -> None:
    adapter = SessionAdapter(lambda: engine, MediaFetcher(tmp_path, LOOPBACK))
    result = await adapter.send(message(png(f"{media_server}/gone.png")), sender=None)
    assert (result.outcome, result.code) == (Outcome.PERMANENT, "media-unavailable")
    assert result.detail == "media.url answered HTTP 404"
    busy = await adapter.send(message(png(f"{media_server}/busy.png")), sender=None)
    assert (busy.outcome, busy.code) == (Outcome.RETRY, "media-unavailable")
