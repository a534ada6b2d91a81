"""WhatsApp's error codes, read from structured fields, never from an error's prose.

A refusal that says "463" or "475" is a quota verdict (the account is
throttled or restricted: stop sending), so misreading one is expensive: a
recipient like `+49 151 4630 0001` in an error text must not look like a quota.
Each engine therefore hands over the code it got as a *field*:

- the browser engine: the `code` / `status` of the JS error object wa-js threw
  (the page's send script returns them as data, see `browser.py`);
- the protocol engine: the error's `code` attribute when it has one, else the
  number whatsmeow appends to its sentinel `ErrServerReturnedError`
  (`fmt.Errorf("%w %d", ErrServerReturnedError, code)`: the message *is* the
  structure neonize hands over, and only that exact shape is read);
- the local engine: its own simulated code.

`quota_code` then decides, purely, on the integer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from session_runner.error_codes import as_code

__all__ = ["QUOTA_CODES", "js_error_code", "quota_code", "whatsmeow_error_code"]

#: 463: too many messages to new contacts (throttled); 475: account restricted.
QUOTA_CODES: frozenset[int] = frozenset({463, 475})

#: whatsmeow's `ErrServerReturnedError` followed by the server's code, as the whole message
#: (or as the last part of a wrapped one: `…: server returned error 463`).
_WHATSMEOW_SERVER_ERROR = re.compile(r"(?:^|: )server returned error (\d{3})$")


def quota_code(code: int | None) -> Literal[463, 475] | None:
    """The quota refusal a WhatsApp error code means, if any (pure: the code, not a text)."""
    if code == 463:
        return 463
    if code == 475:
        return 475
    return None


def js_error_code(error: Mapping[str, Any] | None) -> int | None:
    """The numeric code of a JS error object as the page returned it (`code`, else `status`)."""
    if not error:
        return None
    code = as_code(error.get("code"))
    return code if code is not None else as_code(error.get("status"))


def whatsmeow_error_code(error: BaseException) -> int | None:
    """The server's code of a failed neonize call: a `code` attribute, else whatsmeow's sentinel."""
    code = as_code(getattr(error, "code", None))
    if code is not None:
        return code
    found = _WHATSMEOW_SERVER_ERROR.search(str(error).strip())
    return int(found.group(1)) if found else None
