"""Error codes from structured fields: a number in the prose is never a quota."""

from __future__ import annotations

from typing import Any

import pytest

from session_runner.session.engines.errors import js_error_code, quota_code, whatsmeow_error_code


@pytest.mark.parametrize(
    ("code", "quota"),
    [(463, 463), (475, 475), (None, None), (0, None), (479, None), (4630, None)],
)
def test_quota_code(code: int | None, quota: int | None) -> None:
    assert quota_code(code) == quota


class _CodedError(Exception):
    def __init__(self, message: str, code: Any) -> None:
        super().__init__(message)
        self.code = code


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (Exception("server returned error 463"), 463),
        (Exception("failed to send: server returned error 475"), 475),
        # a recipient whose number holds 463 / 475 is not a quota refusal
        (Exception("failed to get device list of 4915146300001@s.whatsapp.net"), None),
        (Exception("no session with 4754630001@s.whatsapp.net: server returned error 500"), 500),
        (Exception("463 messages queued"), None),
        (Exception("websocket not connected"), None),
        (_CodedError("refused for +49 151 463 00", 475), 475),
        (_CodedError("refused", "463"), 463),
        (_CodedError("refused", None), None),
    ],
)
def test_whatsmeow_error_code(error: Exception, code: int | None) -> None:
    assert whatsmeow_error_code(error) == code


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ({"code": "463", "message": "too many messages"}, 463),
        ({"code": None, "status": "475", "message": "restricted"}, 475),
        ({"code": "chat_not_found", "message": "no chat 4915146300001@c.us"}, None),
        ({"code": None, "message": "failed sending to 4634634634@c.us"}, None),
        ({"code": True}, None),
        ({}, None),
        (None, None),
    ],
)
def test_js_error_code(error: dict[str, Any] | None, code: int | None) -> None:
    assert js_error_code(error) == code


def test_a_phone_number_with_463_is_not_a_quota() -> None:
    number = "failed to send to 15554630001@s.whatsapp.net"
    assert quota_code(whatsmeow_error_code(Exception(number))) is None
    assert quota_code(js_error_code({"message": number})) is None
