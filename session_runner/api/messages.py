"""`POST /v1/messages` and `GET /v1/messages/{message_id}`.

A send, in order (nothing is written before everything that can refuse it did):

1. the body: `target` or `account` (exactly one), `to` in E.164, and one
   content: `text`, a `template` (name, language, variables), or `media` by
   http(s) URL of a type WhatsApp takes (`sender.message.MEDIA_TYPES`) with
   an optional caption in `text`;
2. the key may use that target or account (403);
3. the route: a SenderPool of the namespace takes it (`routing`; 422 why not;
   a session pool, an account's own, sends text and media, not templates);
4. a media URL is HEADed: reachable, of the type the body says, within
   WhatsApp's size for it (`media_probe`; 422 naming `media.url`);
5. the record, a conditional put: a message recorded under this
   Idempotency-Key before (a retry, or a concurrent twin that won) is
   answered from that record (`idempotency.decide`: the original, published
   again, or 409 when the body differs);
6. the publish to the outbound topic with the pool's target
   (`sender.publish`); 202 and a Location.

SNS or DynamoDB unreachable: 503, and a retry with the same Idempotency-Key
finishes the job (a REPLAY publishes again) without a second message.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from datetime import UTC, datetime
from typing import Annotated, Final

from fastapi import APIRouter, Header, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from session_runner.api import scope
from session_runner.api.deps import ApiContext, Context, Key
from session_runner.api.idempotency import (
    IDEMPOTENCY_KEY_PATTERN,
    MAX_IDEMPOTENCY_KEY_CHARS,
    Action,
    decide,
    message_id_for,
    new_message_id,
    request_hash,
)
from session_runner.api.keys import ACCOUNT_NAME_PATTERN, ApiKey
from session_runner.api.media_probe import media_refusal
from session_runner.api.message_state import MessageState, message_fields, summarize
from session_runner.api.openapi import problems
from session_runner.api.problems import (
    IDEMPOTENCY_CONFLICT,
    NOT_ROUTABLE,
    FieldError,
    ProblemError,
    invalid,
)
from session_runner.api.records import MessageRecord
from session_runner.api.routing import (
    SESSION_VENDOR,
    AccountNotFoundError,
    NotRoutableError,
    Route,
)
from session_runner.api.unavailable import aws_errors, kube_errors, unavailable
from session_runner.contract.outbound import TARGET_PATTERN
from session_runner.sender.message import (
    E164_PATTERN,
    MAX_TEXT_CHARS,
    MESSAGE_ID_PATTERN,
    Media,
    OutboundMessage,
    Template,
    content_problem,
)
from session_runner.sender.publish import PublishRefusedError

log = logging.getLogger(__name__)

REPLAYED_HEADER: Final = "Idempotent-Replayed"
#: Bulk rows are `<jobId>:<row>` (`bulk.model.BulkJob.id`).
_JOB_ID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$")


class SendMessage(BaseModel):
    """One message to one recipient, through a pool (`target`) or an account: a text, a
    template, or a media file by URL (`text` its caption)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"oneOf": [{"required": ["target"]}, {"required": ["account"]}]},
    )

    target: str | None = Field(
        default=None,
        pattern=TARGET_PATTERN,
        description="A SenderPool's routing target (its spec.target).",
    )
    account: str | None = Field(
        default=None,
        pattern=ACCOUNT_NAME_PATTERN,
        description="A WhatsAppAccount whose own session sends (its vendor: session pool).",
    )
    to: str = Field(pattern=E164_PATTERN, description="The recipient, E.164 (+14155550123).")
    text: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_TEXT_CHARS,
        description="The message; a media file's caption (at most 1,024 characters).",
    )
    template: Template | None = Field(
        default=None, description="A vendor-approved template (not through a session)."
    )
    media: Media | None = Field(
        default=None, description="A file the vendor downloads and sends (not through a session)."
    )


class MessageAccepted(BaseModel):
    """The message as accepted: follow it at `GET /v1/messages/{id}`."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="The message's id (its idempotency key in the ledger).")
    target: str = Field(description="The routing target it was published with.")
    account: str | None = Field(default=None, description="The account it was sent through.")
    to: str
    created_at: datetime


class HistoryStep(BaseModel):
    model_config = ConfigDict(frozen=True)

    state: MessageState
    at: datetime | None = Field(default=None, description="When, where it is known.")


class Message(BaseModel):
    """Where a message is, and the steps it went through."""

    model_config = ConfigDict(frozen=True)

    id: str
    state: MessageState
    reason: str | None = Field(
        default=None, description="Why it failed: the vendor's error code or the sender's reason."
    )
    target: str | None = None
    account: str | None = None
    to: str | None = None
    created_at: datetime | None = None
    vendor_message_id: str | None = None
    attempts: int | None = Field(default=None, description="Sends claimed by senders.")
    history: list[HistoryStep]


def accepted(record: MessageRecord) -> MessageAccepted:
    return MessageAccepted(
        id=record.message_id,
        target=record.target,
        account=record.account,
        to=record.to,
        created_at=datetime.fromtimestamp(record.created_at, UTC),
    )


def check_content(body: SendMessage) -> None:
    """One message's worth of content (422 naming the field otherwise)."""
    problem = content_problem(body.text, body.template, body.media)
    if problem is not None:
        field = "template" if body.template is not None else "text"
        raise invalid(field, problem)


def check_route_takes(route: Route, body: SendMessage) -> None:
    """A session (an account's own pool) sends text and media, not templates (the Business
    API's): 422 naming the field otherwise."""
    if route.vendor == SESSION_VENDOR and body.template is not None:
        raise invalid(
            "template",
            "template messages go through a vendor pool (twilio, meta): "
            f"SenderPool {route.pool} is a session, which sends text and media",
        )


async def check_media(ctx: ApiContext, body: SendMessage) -> None:
    """The media URL holds what the message says, within WhatsApp's limits (422 naming
    `media.url` otherwise; `media_probe`)."""
    if body.media is None or ctx.media is None:
        return
    refusal = media_refusal(body.media, await ctx.media.facts(body.media.url))
    if refusal is not None:
        raise invalid("media.url", f"the media {refusal}")


def target_or_account(body: SendMessage) -> None:
    """Exactly one of the two (422 naming `target` otherwise)."""
    if body.target is not None and body.account is not None:
        raise invalid("target", "give target or account, not both")
    if body.target is None and body.account is None:
        raise invalid("target", "give target (a SenderPool's routing target) or account")


def check_scope(key: ApiKey, body: SendMessage) -> None:
    if body.account is not None and not scope.may_use_account(key, body.account):
        raise ProblemError(403, f"this API key may not send through account {body.account}")
    if body.target is not None and not scope.may_use_target(key, body.target):
        raise ProblemError(403, f"this API key may not send to target {body.target}")


async def resolve(ctx: ApiContext, body: SendMessage) -> Route:
    try:
        if body.account is not None:
            return await ctx.router.for_account(body.account)
        assert body.target is not None
        return await ctx.router.for_target(body.target)
    except NotRoutableError as error:
        raise ProblemError(
            422,
            str(error),
            type_=NOT_ROUTABLE,
            title="No SenderPool takes this message",
            errors=[FieldError(field=error.field, in_="body", message=str(error))],
        ) from None
    except AccountNotFoundError:
        raise invalid(
            "account", f"no WhatsAppAccount {body.account} in namespace {ctx.namespace}"
        ) from None
    except kube_errors() as error:
        raise unavailable("the Kubernetes API", error) from None


async def publish_record(ctx: ApiContext, record: MessageRecord, body: SendMessage) -> None:
    """Publish the message (again, for a replay: the ledger sends an id once)."""
    message = OutboundMessage(
        id=record.message_id,
        target=record.target,
        to=record.to,
        text=body.text,
        template=body.template,
        media=body.media,
        created_at=datetime.fromtimestamp(record.created_at, UTC),
    )
    failures: tuple[type[BaseException], ...] = (*aws_errors(), PublishRefusedError)
    try:
        await ctx.publisher.publish(message)
    except failures as error:
        raise unavailable("the outbound topic (SNS)", error, retry_hint=True) from None


async def existing_record(ctx: ApiContext, message_id: str) -> MessageRecord | None:
    try:
        return await ctx.records.get(message_id)
    except aws_errors() as error:
        raise unavailable("the message records (DynamoDB)", error) from None


async def answer_existing(
    ctx: ApiContext,
    stored: MessageRecord,
    incoming_hash: str,
    body: SendMessage,
    response: Response,
) -> MessageAccepted:
    """The answer to a request whose id is already recorded."""
    action = decide(stored.body_sha256, incoming_hash)
    if action is Action.CONFLICT:
        raise ProblemError(
            409,
            "this Idempotency-Key was used with another request body",
            type_=IDEMPOTENCY_CONFLICT,
            title="Idempotency-Key reused",
            errors=[
                FieldError(
                    field="Idempotency-Key",
                    in_="header",
                    message="already used for a different message: use a new key",
                )
            ],
        )
    await publish_record(ctx, stored, body)
    response.status_code = 200
    response.headers[REPLAYED_HEADER] = "true"
    response.headers["Location"] = f"/v1/messages/{stored.message_id}"
    return accepted(stored)


async def origin_of(
    ctx: ApiContext, record: MessageRecord | None, message_id: str
) -> scope.Origin | None:
    """Where the message went: the API's record, or (a bulk row `<job>:<row>`) its job."""
    if record is not None:
        return scope.Origin(target=record.target, account=record.account)
    job_id, _, row = message_id.rpartition(":")
    if not row.isdigit() or not _JOB_ID.match(job_id):
        return None
    try:
        job = await ctx.bulk.get(job_id)
    except Exception as error:
        raise unavailable("the bulk jobs", error) from None
    return scope.Origin(target=job.target) if job is not None else None


def build_router() -> APIRouter:
    router = APIRouter(tags=["messages"])

    @router.post(
        "/v1/messages",
        status_code=202,
        response_model=MessageAccepted,
        summary="Send one text message",
        responses={
            200: {
                "model": MessageAccepted,
                "description": "The message this Idempotency-Key created before (same body).",
            },
            **problems(403, 409, 415, 422),
        },
    )
    async def send_message(
        body: SendMessage,
        key: Key,
        ctx: Context,
        response: Response,
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                max_length=MAX_IDEMPOTENCY_KEY_CHARS,
                pattern=IDEMPOTENCY_KEY_PATTERN,
                description="Send once per key: a retry with the same body returns the "
                "original message (200); the same key with another body is refused (409).",
            ),
        ] = None,
    ) -> MessageAccepted:
        target_or_account(body)
        check_content(body)
        check_scope(key, body)
        digest = request_hash(body.model_dump(mode="json"))
        message_id = (
            message_id_for(key.name, idempotency_key) if idempotency_key else new_message_id()
        )
        # No read before the conditional put: a retry finds its record when the put is
        # refused, so a new message costs one DynamoDB call. Only a retry that can no
        # longer be routed (its pool gone since) looks its record up first.
        try:
            route = await resolve(ctx, body)
        except ProblemError:
            stored = await existing_record(ctx, message_id) if idempotency_key else None
            if stored is None:
                raise
            return await answer_existing(ctx, stored, digest, body, response)
        check_route_takes(route, body)
        await check_media(ctx, body)
        record = MessageRecord(
            message_id=message_id,
            key_name=key.name,
            body_sha256=digest,
            target=route.target,
            to=body.to,
            created_at=time.time(),
            account=route.account,
        )
        try:
            stored = await ctx.records.put_new(record)
        except aws_errors() as error:
            raise unavailable("the message records (DynamoDB)", error) from None
        if stored is not None:  # a concurrent request with this key recorded it first
            return await answer_existing(ctx, stored, digest, body, response)
        await publish_record(ctx, record, body)
        log.info(
            "message accepted",
            extra={"message_id": message_id, "target": route.target, "api_key": key.name},
        )
        response.headers["Location"] = f"/v1/messages/{message_id}"
        return accepted(record)

    @router.get(
        "/v1/messages/{message_id}",
        response_model=Message,
        summary="A message's state and history",
        responses=problems(403, 404, 422),
    )
    async def get_message(
        message_id: Annotated[str, Path(pattern=MESSAGE_ID_PATTERN, max_length=128)],
        key: Key,
        ctx: Context,
    ) -> Message:
        try:
            record, entry, delivery = await asyncio.gather(
                ctx.records.get(message_id),
                ctx.ledger.get(message_id),
                ctx.records.delivery(message_id),
            )
        except aws_errors() as error:
            raise unavailable("the ledger (DynamoDB)", error) from None
        summary = summarize(record, entry, delivery)
        if summary is None:
            raise ProblemError(404, f"no message {message_id}")
        if not scope.may_read_message(key, await origin_of(ctx, record, message_id)):
            raise ProblemError(403, f"this API key may not read message {message_id}")
        return Message.model_validate(
            {
                **message_fields(message_id, summary, record, entry),
                "history": [HistoryStep(state=step.state, at=step.at) for step in summary.history],
            }
        )

    return router
