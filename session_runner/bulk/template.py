"""The bulk text: `{{column}}` placeholders, each replaced by that row's value.

Whitespace inside the braces is allowed (`{{ name }}`); anything else in double
braces that is not a placeholder (`{{}}`, `{{a{b}}`) stays as written. There is
no escaping and no expression language: a value is inserted as it is, so no row
can change what another row's message says.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from session_runner.bulk.model import BulkInputError
from session_runner.sender.message import MAX_TEXT_CHARS

PLACEHOLDER: Final = re.compile(r"\{\{\s*([^{}\s](?:[^{}]*[^{}\s])?)\s*\}\}")


@dataclass(frozen=True)
class Template:
    """A checked text and the columns it uses, in order of first use (each once)."""

    text: str
    placeholders: tuple[str, ...]

    def render(self, values: Mapping[str, str]) -> str:
        """The text with each placeholder replaced by `values[column]` (every one present)."""
        return PLACEHOLDER.sub(lambda match: values[match.group(1)], self.text)


def placeholders(text: str) -> tuple[str, ...]:
    """The columns `text` names, in order of first use, each once."""
    return tuple(dict.fromkeys(match.group(1) for match in PLACEHOLDER.finditer(text)))


def compile_template(text: str) -> Template:
    """`text` as a template; BulkInputError("text") when it cannot be one (empty or longer than
    a message may be: substitution only fills placeholders with non-empty values)."""
    if not text.strip():
        raise BulkInputError("text", "the text is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise BulkInputError(
            "text", f"the text has {len(text)} characters; at most {MAX_TEXT_CHARS} are allowed"
        )
    return Template(text, placeholders(text))
