"""`/v1/accounts`: the namespace's WhatsAppAccounts, their login QR, on-demand snapshots.

Reads go to the API server on each request (an integrator polling an account
waiting for its QR wants the current one); the list is one list of accounts
and one of Leases. A snapshot request is the annotation `wafleet snapshot`
sets (`contract.annotations.SNAPSHOT_REQUEST_ANNOTATION`, a new timestamp), a
merge patch of the account's metadata only: the runner holding the lease
takes it on its next poll. A key sees only the accounts it may use; one it
may not is 403 when named.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from session_runner.api import scope
from session_runner.api.account_view import (
    Account,
    AccountList,
    account_view,
    lease_name,
    login_qr,
    phase_of,
)
from session_runner.api.deps import ApiContext, Context, Key
from session_runner.api.keys import ACCOUNT_NAME_PATTERN, ApiKey
from session_runner.api.openapi import problems
from session_runner.api.problems import NOT_AWAITING_LOGIN, ProblemError
from session_runner.api.qr import PNG_MEDIA_TYPE, TEXT_MEDIA_TYPE, choose_format, qr_png, qr_text
from session_runner.api.unavailable import kube_errors, unavailable
from session_runner.contract.annotations import SNAPSHOT_REQUEST_ANNOTATION
from session_runner.contract.resources import account_path
from session_runner.kube.client import MERGE_PATCH
from session_runner.kube.errors import APINotFoundError

AccountName = Annotated[
    str, Path(pattern=ACCOUNT_NAME_PATTERN, max_length=63, description="The account's name.")
]


class SnapshotRequested(BaseModel):
    model_config = ConfigDict(frozen=True)

    account: str
    requested_at: str = Field(
        description="The request's value: `status.runner.lastSnapshot` "
        "shows the snapshot once the runner took it."
    )


def leases_path(namespace: str, name: str | None = None) -> str:
    base = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
    return f"{base}/{name}" if name else base


async def _kube(ctx: ApiContext, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
    try:
        async with asyncio.timeout(ctx.limits.kube_timeout_s):
            return await ctx.kube.request(method, path, body, **kwargs)
    except APINotFoundError:
        raise
    except kube_errors() as error:
        raise unavailable("the Kubernetes API", error) from None


async def read_account(ctx: ApiContext, key: ApiKey, name: str) -> dict[str, Any]:
    """The account object, after the key's scope allows it (403) and it exists (404)."""
    if not scope.may_use_account(key, name):
        raise ProblemError(403, f"this API key may not use account {name}")
    try:
        found: dict[str, Any] = await _kube(ctx, "GET", account_path(ctx.namespace, name))
    except APINotFoundError:
        raise ProblemError(404, f"no WhatsAppAccount {name} in namespace {ctx.namespace}") from None
    return found


async def read_lease(ctx: ApiContext, name: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = await _kube(
            ctx, "GET", leases_path(ctx.namespace, lease_name(name))
        )
    except APINotFoundError:
        return None
    return found


def build_router() -> APIRouter:
    router = APIRouter(tags=["accounts"])

    @router.get(
        "/v1/accounts",
        response_model=AccountList,
        summary="The namespace's WhatsAppAccounts",
        responses=problems(422),
    )
    async def list_accounts(key: Key, ctx: Context) -> AccountList:
        try:
            accounts, leases = await asyncio.gather(
                _kube(ctx, "GET", account_path(ctx.namespace)),
                _kube(ctx, "GET", leases_path(ctx.namespace)),
            )
        except APINotFoundError as error:  # the CRD is not installed
            raise unavailable("the WhatsAppAccount API", error) from None
        by_name = {
            str((lease.get("metadata") or {}).get("name")): lease
            for lease in leases.get("items") or ()
            if isinstance(lease, dict)
        }
        items = [
            account_view(obj, by_name.get(lease_name(str(obj["metadata"]["name"]))))
            for obj in accounts.get("items") or ()
            if isinstance(obj, dict) and isinstance(obj.get("metadata"), dict)
        ]
        visible = set(scope.visible_accounts(key, [item.name for item in items]))
        return AccountList(
            items=sorted((i for i in items if i.name in visible), key=lambda i: i.name)
        )

    @router.get(
        "/v1/accounts/{name}",
        response_model=Account,
        summary="One account: phase, conditions, lease holder, last snapshot",
        responses=problems(403, 404, 422),
    )
    async def get_account(name: AccountName, key: Key, ctx: Context) -> Account:
        obj, lease = await asyncio.gather(read_account(ctx, key, name), read_lease(ctx, name))
        return account_view(obj, lease)

    @router.get(
        "/v1/accounts/{name}/qr",
        summary="The login QR code: PNG, or text for a terminal",
        response_class=Response,
        responses={
            200: {
                "description": "The QR code to scan with WhatsApp > Linked devices.",
                "content": {
                    PNG_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
                    TEXT_MEDIA_TYPE: {"schema": {"type": "string"}},
                },
            },
            **problems(403, 404, 406, 409, 422),
        },
    )
    async def get_qr(
        name: AccountName,
        key: Key,
        ctx: Context,
        request: Request,
        format: Annotated[
            Literal["png", "text"] | None,
            Query(description="png or text; default: by the Accept header, else png."),
        ] = None,
    ) -> Response:
        chosen = choose_format(format, request.headers.get("accept"))
        if chosen is None:
            raise ProblemError(406, "the QR code is served as image/png or text/plain")
        obj = await read_account(ctx, key, name)
        payload = login_qr(obj)
        if payload is None:
            raise ProblemError(
                409,
                f"account {name} is not awaiting a login (phase {phase_of(obj)}): no QR code",
                type_=NOT_AWAITING_LOGIN,
                title="No QR code to scan",
            )
        headers = {"Cache-Control": "no-store"}  # the QR rotates, and logs the account in
        if chosen == "text":
            return PlainTextResponse(qr_text(payload), headers=headers)
        return Response(qr_png(payload), media_type=PNG_MEDIA_TYPE, headers=headers)

    @router.post(
        "/v1/accounts/{name}/snapshot",
        status_code=202,
        response_model=SnapshotRequested,
        summary="Ask the account's runner for a snapshot now",
        responses=problems(403, 404, 422),
    )
    async def request_snapshot(name: AccountName, key: Key, ctx: Context) -> SnapshotRequested:
        if not scope.may_use_account(key, name):
            raise ProblemError(403, f"this API key may not use account {name}")
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        patch = {"metadata": {"annotations": {SNAPSHOT_REQUEST_ANNOTATION: stamp}}}
        try:
            await _kube(
                ctx, "PATCH", account_path(ctx.namespace, name), patch, content_type=MERGE_PATCH
            )
        except APINotFoundError:
            raise ProblemError(
                404, f"no WhatsAppAccount {name} in namespace {ctx.namespace}"
            ) from None
        return SnapshotRequested(account=name, requested_at=stamp)

    return router
