"""`media_refusal`: what a media URL's HEAD answer means for the message."""

from __future__ import annotations

import pytest

from session_runner.api.media_probe import MediaFacts, media_refusal
from session_runner.sender.message import Media

MB = 1024 * 1024
PNG = Media(url="https://cdn.example/p.png", content_type="image/png")
MP4 = Media(url="https://cdn.example/v.mp4", content_type="video/mp4")


@pytest.mark.parametrize(
    ("media", "facts", "refusal"),
    [
        (PNG, MediaFacts(200, "image/png", 120_000), None),
        (PNG, MediaFacts(200, "IMAGE/PNG; charset=binary", 5 * MB), None),  # at the limit
        (MP4, MediaFacts(200, "video/mp4", 16 * MB), None),
        (PNG, MediaFacts(200, "image/png", 5 * MB + 1), "is 5.0 MB; WhatsApp takes at most 5.0"),
        (MP4, MediaFacts(200, "video/mp4", 40 * MB), "is 40.0 MB; WhatsApp takes at most 16.0"),
        (PNG, MediaFacts(200, "image/jpeg", 1000), "is served as image/jpeg, not image/png"),
        (PNG, MediaFacts(200, None, 1000), "is served as no type, not image/png"),
        (PNG, MediaFacts(200, "image/png", None), "does not say its size"),
        (PNG, MediaFacts(200, "image/png", 0), "is empty"),
        (PNG, MediaFacts(404), "answered HTTP 404"),
        (PNG, MediaFacts(503), "answered HTTP 503"),
        (PNG, MediaFacts(None, error="no answer in time"), "could not be fetched: no answer in"),
        (PNG, MediaFacts(None), "could not be fetched: no answer"),
    ],
)
def test_media_refusal(media: Media, facts: MediaFacts, refusal: str | None) -> None:
    found = media_refusal(media, facts)
    assert (found or "")[: len(refusal or "")] == (refusal or "")
    assert (found is None) == (refusal is None)
