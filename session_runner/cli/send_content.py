"""What `wafleet send` sends: its content options made one message's content. Pure.

`--text`, `--template NAME [--language L] [--var K=V ...]`, or `--media URL
[--media-type TYPE]` (with `--text` as the caption). A media type left out is
guessed from the URL's file name (`.png` is image/png); the message model
checks the rest (one content, a type WhatsApp takes), as the API does.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from session_runner.cli.problems import EXIT_USAGE, CommandError


def variables(pairs: Sequence[str]) -> dict[str, str]:
    """`--var KEY=VALUE` options as a mapping (CommandError naming the one without `=`)."""
    found: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CommandError(f"--var: KEY=VALUE, not {pair!r}", EXIT_USAGE)
        found[key] = value
    return found


def guessed_media_type(url: str) -> str | None:
    """The media type of the URL's file name (None: it has no known extension)."""
    guessed, _ = mimetypes.guess_type(urlsplit(url).path, strict=False)
    return guessed


def message_content(
    *,
    text: str | None,
    template: str | None,
    language: str | None,
    variable_pairs: Sequence[str],
    media: str | None,
    media_type: str | None,
) -> dict[str, Any]:
    """The content fields of the message (`text`, `template`, `media`: those given), as the
    API's body and `OutboundMessage` take them."""
    if template is None and (language is not None or variable_pairs):
        raise CommandError("--language and --var go with --template", EXIT_USAGE)
    if media is None and media_type is not None:
        raise CommandError("--media-type goes with --media", EXIT_USAGE)
    if text is None and template is None and media is None:
        raise CommandError("give --text, --template or --media", EXIT_USAGE)
    content: dict[str, Any] = {}
    if text is not None:
        content["text"] = text
    if template is not None:
        content["template"] = {"name": template, "variables": variables(variable_pairs)}
        if language is not None:
            content["template"]["language"] = language
    if media is not None:
        kind = media_type or guessed_media_type(media)
        if kind is None:
            raise CommandError(
                f"--media-type: the type of {media} cannot be told from its name", EXIT_USAGE
            )
        content["media"] = {"url": media, "content_type": kind}
    return content
