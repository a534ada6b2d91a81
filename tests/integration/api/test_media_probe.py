"""`MediaProbe` against a real HTTP server on 127.0.0.1: what it reports, where it refuses
to go."""

from __future__ import annotations

from session_runner.api.media_probe import MediaProbe
from session_runner.safe_fetch import MAX_REDIRECTS
from tests.integration.api.conftest import LOOPBACK


async def test_the_answer_is_reported_after_redirects(media_server: str) -> None:
    probe = MediaProbe(LOOPBACK)
    facts = await probe.facts(f"{media_server}/hop?left={MAX_REDIRECTS - 1}")
    assert (facts.status, facts.content_type, facts.length) == (200, "image/png", 123456)
    assert (await probe.facts(f"{media_server}/gone.png")).status == 404


async def test_too_many_redirects_are_not_followed(media_server: str) -> None:
    facts = await MediaProbe(LOOPBACK).facts(f"{media_server}/hop?left={MAX_REDIRECTS}")
    assert facts.status is None
    assert facts.error == f"more than {MAX_REDIRECTS} redirects"


async def test_private_addresses_are_refused_unless_allowed(media_server: str) -> None:
    refused = await MediaProbe().facts(f"{media_server}/p.png")
    assert refused.status is None
    assert "127.0.0.1 is a loopback address" in (refused.error or "")
    by_name = await MediaProbe().facts(f"{media_server.replace('127.0.0.1', 'localhost')}/p.png")
    assert by_name.status is None
    assert "not a public address" in (by_name.error or "")


async def test_a_redirect_to_the_metadata_service_is_refused(media_server: str) -> None:
    facts = await MediaProbe(LOOPBACK).facts(f"{media_server}/metadata")
    assert facts.status is None
    assert "169.254.169.254 is link-local" in (facts.error or "")
