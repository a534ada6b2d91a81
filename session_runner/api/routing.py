"""Where a message goes: a SenderPool's routing target, named directly or through an account.

`POST /v1/messages` names either `target` (a SenderPool's `spec.target`, the
SNS attribute its queue subscribes to) or `account` (a WhatsAppAccount whose
own session sends: the `vendor: session` pool whose `accountRef` names it).
Either way the message is published with the pool's target; this module
finds it, and refuses — with why, naming the field — what no pool would take:

- a target no SenderPool of the namespace routes (the message would be
  published to nobody and lost);
- a pool whose queue cannot take messages now: its Ready condition says
  InvalidSpec or QueueUnavailable, or it has no queue yet (as `wafleet send`
  refuses; a pool whose senders are still starting takes messages, they wait
  in its queue);
- an account no session pool is wired to. The operator writes the wiring
  into the account's `wafleet.io/outbound` annotation
  (`contract.session_outbound`) once the pool's queues exist; the API reads
  that, the same fact the account's runner acts on.

An account that is not Connected still takes messages: they wait in its
pool's queue until it is (the pool's status says so).

The decisions are pure (`pool_refusal`, `pool_for_target`, `account_pool`);
`Router` reads the namespace's pools and the account through the API server,
reusing each answer for `cache_s` so a burst of sends costs no reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from session_runner.contract.resources import GROUP, POOL_PLURAL, VERSION, account_path
from session_runner.contract.session_outbound import wiring_from_annotations
from session_runner.kube.client import KubeClient
from session_runner.kube.errors import APINotFoundError
from session_runner.ttl_cache import TtlCache

#: A pool's Ready reasons that mean its queue cannot take a message (no queue, or a bad spec).
REFUSING_REASONS: Final = frozenset({"InvalidSpec", "QueueUnavailable"})


@dataclass(frozen=True)
class Route:
    """Publish with `target`; `pool` is the SenderPool that will send it."""

    target: str
    pool: str
    account: str | None = None
    vendor: str = ""  # the pool's spec.vendor: `session` sends no templates


class NotRoutableError(Exception):
    """No pool takes the message; `field` is the request field at fault, the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


#: The vendor of an account's own pool: its session's engine sends text and media.
SESSION_VENDOR: Final = "session"


class AccountNotFoundError(Exception):
    """The account named does not exist in the namespace."""


def _spec(pool: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = pool.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def _name(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata")
    return str(meta.get("name", "")) if isinstance(meta, Mapping) else ""


def pool_refusal(status: Mapping[str, Any] | None) -> str | None:
    """Why a pool with this status cannot take a message now, or None when it can."""
    status = status or {}
    conditions = status.get("conditions") or ()
    ready: Mapping[str, Any] = next(
        (c for c in conditions if isinstance(c, Mapping) and c.get("type") == "Ready"), {}
    )
    if ready.get("reason") in REFUSING_REASONS:
        return str(ready.get("message") or ready["reason"])
    if not status.get("queueUrl"):
        return "its queue does not exist yet (no status.queueUrl)"
    return None


def pool_for_target(pools: Sequence[Mapping[str, Any]], target: str, namespace: str) -> Route:
    """The route of `target`: the first pool routing it (by name) that takes messages."""
    routing = sorted((p for p in pools if _spec(p).get("target") == target), key=_name)
    if not routing:
        raise NotRoutableError("target", f"no SenderPool in namespace {namespace} routes {target}")
    refusals: list[str] = []
    for pool in routing:
        why = pool_refusal(pool.get("status"))
        if why is None:
            return Route(target=target, pool=_name(pool), vendor=str(_spec(pool).get("vendor", "")))
        refusals.append(f"SenderPool {_name(pool)} is not ready: {why}")
    raise NotRoutableError("target", "; ".join(refusals))


def account_pool(
    account: Mapping[str, Any], pools: Sequence[Mapping[str, Any]], namespace: str
) -> Route:
    """The route of a message sent through `account`: its wired session pool's target."""
    name = _name(account)
    meta = account.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, Mapping) else None
    wiring, problem = wiring_from_annotations(
        annotations if isinstance(annotations, Mapping) else {}
    )
    if wiring is None:
        why: str = problem or (
            "no SenderPool with vendor session and accountRef "
            f"{name} is wired to it yet (the operator annotates the account once the "
            "pool's queues exist)"
        )
        raise NotRoutableError("account", f"WhatsAppAccount {name} cannot send: {why}")
    pool = next((p for p in pools if _name(p) == wiring.pool), None)
    if pool is None:
        raise NotRoutableError(
            "account",
            f"WhatsAppAccount {name} is wired to SenderPool {wiring.pool}, which does not "
            f"exist in namespace {namespace}",
        )
    target = _spec(pool).get("target")
    refusal = pool_refusal(pool.get("status"))
    if not isinstance(target, str) or refusal is not None:
        raise NotRoutableError(
            "account",
            f"SenderPool {wiring.pool} of {name} is not ready: {refusal or 'no target'}",
        )
    return Route(target=target, pool=wiring.pool, account=name, vendor=SESSION_VENDOR)


def pools_path(namespace: str) -> str:
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{POOL_PLURAL}"


class Router:
    """Routes through the API server: the namespace's pools (one list, reused) and each
    account (one get, reused), for `cache_s` seconds. API errors and timeouts propagate
    (the caller answers 503); they are never remembered."""

    def __init__(
        self, kube: KubeClient, namespace: str, *, cache_s: float, timeout_s: float
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.timeout_s = timeout_s
        self._pools: TtlCache[str, list[dict[str, Any]]] = TtlCache(self._list_pools, ttl_s=cache_s)
        self._accounts: TtlCache[str, dict[str, Any] | None] = TtlCache(
            self._get_account, ttl_s=cache_s
        )

    async def for_target(self, target: str) -> Route:
        return pool_for_target(await self._pools.get(self.namespace), target, self.namespace)

    async def for_account(self, account: str) -> Route:
        found = await self._accounts.get(account)
        if found is None:
            raise AccountNotFoundError(account)
        return account_pool(found, await self._pools.get(self.namespace), self.namespace)

    async def _list_pools(self, namespace: str) -> list[dict[str, Any]]:
        async with asyncio.timeout(self.timeout_s):
            listing = await self.kube.request("GET", pools_path(namespace))
        return [item for item in listing.get("items") or () if isinstance(item, dict)]

    async def _get_account(self, name: str) -> dict[str, Any] | None:
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self.kube.request("GET", account_path(self.namespace, name))
        except APINotFoundError:
            return None
