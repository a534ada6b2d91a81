"""What a media download that cannot be sent means for the message (pure)."""

from __future__ import annotations

import pytest

from session_runner.sender.message import Media
from session_runner.sender.vendors.base import Outcome
from session_runner.session.outbound.media_fetch import Refusal, download_refusal, shown_name

PNG = Media(url="https://cdn.example/p.png", content_type="image/png")
FIVE_MB = 5 * 1024 * 1024


@pytest.mark.parametrize(
    ("status", "content_type", "length", "refusal"),
    [
        (200, "image/png", 1234, None),
        (200, "image/png; charset=binary", None, None),  # no length: the stream is capped
        (200, "IMAGE/PNG", FIVE_MB, None),  # exactly the limit
        (None, None, None, Refusal(Outcome.RETRY, "no answer")),
        (503, "text/html", 10, Refusal(Outcome.RETRY, "answered HTTP 503")),
        (429, "text/plain", 10, Refusal(Outcome.RETRY, "answered HTTP 429")),
        (404, "text/html", 10, Refusal(Outcome.PERMANENT, "answered HTTP 404")),
        (410, None, None, Refusal(Outcome.PERMANENT, "answered HTTP 410")),
        (304, None, None, Refusal(Outcome.PERMANENT, "answered HTTP 304")),
        (
            200,
            "image/jpeg",
            10,
            Refusal(Outcome.PERMANENT, "is served as image/jpeg, not image/png"),
        ),
        (200, None, 10, Refusal(Outcome.PERMANENT, "is served as no type, not image/png")),
        (
            200,
            "image/png",
            FIVE_MB + 1,
            Refusal(Outcome.PERMANENT, f"is over {FIVE_MB} bytes, WhatsApp's limit for image/png"),
        ),
    ],
)
def test_download_refusal(
    status: int | None, content_type: str | None, length: int | None, refusal: Refusal | None
) -> None:
    assert download_refusal(PNG, status, content_type, length) == refusal


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://cdn.example/receipts/r%2042.pdf", "r 42.pdf"),
        ("https://cdn.example/r.pdf?sig=abc", "r.pdf"),
        ("https://cdn.example/", None),
        ("https://cdn.example", None),
    ],
)
def test_the_name_recipients_see_is_the_urls_last_segment(url: str, name: str | None) -> None:
    assert shown_name(url) == name
