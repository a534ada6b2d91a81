"""`wafleet send --api URL`: one message through the HTTP API, optionally followed.

`POST /v1/messages` with the Idempotency-Key (the API derives the message id
from the key's name and it: the same key and text answer the same message,
sent once), then, with --wait, `GET /v1/messages/{id}` until the message got as
far as --until says, failed, or the time is up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any, Final

from pydantic import ValidationError

from session_runner.cli.api_client import ApiClient
from session_runner.cli.messages import Goal, MessageView, describe, wait_verdict
from session_runner.cli.options import ApiAccess
from session_runner.cli.problems import CommandError

POLL_SECONDS: Final = 0.5


def send_fields(target_option: str) -> dict[str, str]:
    """The API's names for what `wafleet send` was given → the options that gave them."""
    return {
        "target": target_option,
        "to": "--to",
        "text": "--text",
        "Idempotency-Key": "--idempotency-key",
    }


def view_of(body: object) -> MessageView:
    try:
        return MessageView.model_validate(body)
    except ValidationError:
        raise CommandError("the API answered a message this CLI cannot read") from None


def accepted_outcome(replayed: bool) -> str:
    if replayed:
        return "accepted before with this --idempotency-key (the original message: sent once)"
    return "accepted"


async def send_through_api(
    access: ApiAccess,
    *,
    target: str,
    to: str,
    content: Mapping[str, Any],
    idempotency_key: str | None,
    target_option: str,
    goal: Goal | None,
    timeout_s: float,
    poll_s: float = POLL_SECONDS,
) -> tuple[str, str]:
    """(message id, where it is); CommandError when it failed or did not get to `goal` (None:
    do not wait) within `timeout_s`."""
    fields = send_fields(target_option)
    async with ApiClient(access.url, access.key, fields=fields) as client:
        body = {"target": target, "to": to, **content}
        accepted, replayed = await client.send_message(body, idempotency_key)
        message_id = str(accepted.get("id") or "")
        if not message_id:
            raise CommandError("the API accepted the message without an id")
        if goal is None:
            return message_id, accepted_outcome(replayed)
        deadline = time.monotonic() + timeout_s
        view = view_of(await client.message(message_id))
        while (verdict := wait_verdict(view.state, goal)) is None and time.monotonic() < deadline:
            await asyncio.sleep(poll_s)
            view = view_of(await client.message(message_id))
    if verdict is True:
        return message_id, describe(view)
    if verdict is False:
        raise CommandError(f"{message_id}: {describe(view)}")
    raise CommandError(f"{message_id}: {describe(view)}, not {goal.value} within {timeout_s:g} s")
