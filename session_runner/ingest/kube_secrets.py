"""Pools' webhook secrets from the API server: the SenderPool names its credentials Secret.

For `(namespace, pool)` the provider GETs the SenderPool, takes
`spec.credentialsSecret.name`, GETs that Secret and base64-decodes only the
keys `WEBHOOK_SECRET_KEYS` lists for the pool's vendor (Meta's `appSecret` and
`verifyToken`, Twilio's `authToken`): a Twilio pool can never be called through
the Meta route, and the vendor's API credentials stay undecoded. It needs `get`
on senderpools and on secrets (by name: never list or watch) in the namespaces
it serves; the chart grants exactly that.

Each pool's answer (its secrets, or that it does not exist) is cached for a
short TTL, so a webhook burst costs no API calls, and concurrent requests for
a pool not yet cached share one read; a rotated Secret applies within the TTL.
A failure (the API server unreachable, or refusing us) is never cached: it
raises `SecretsUnavailableError`, the request is answered 503 and the vendor retries.

Values are never logged: only the pool's name and which keys it holds.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

import aiohttp

from session_runner.contract.ingest_settings import WEBHOOK_SECRET_KEYS
from session_runner.contract.resources import pool_path
from session_runner.ingest.secrets import (
    KEYS,
    MAX_SECRET_BYTES,
    PoolSecrets,
    SecretsUnavailableError,
    valid_names,
)
from session_runner.kube.client import KubeClient
from session_runner.kube.errors import APIError, APINotFoundError

log = logging.getLogger(__name__)

#: Pools remembered at most; a flood of requests naming made-up pools cannot grow memory.
MAX_CACHED_POOLS: Final = 4096
#: One read of a pool and its Secret takes at most this long, then the request gets 503.
API_TIMEOUT_SECONDS: Final = 5.0

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def secret_path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{namespace}/secrets/{name}"


# ------------------------------------------------------------------ pure decisions


def serves(namespaces: Collection[str], namespace: str) -> bool:
    """Whether pools of `namespace` are served: every namespace when none are listed."""
    return not namespaces or namespace in namespaces


def webhook_keys(vendor: object) -> tuple[str, ...]:
    """The Secret keys a pool of `vendor` is checked with; none for `session` or nonsense."""
    return WEBHOOK_SECRET_KEYS.get(vendor, ()) if isinstance(vendor, str) else ()


def credentials_secret_name(pool: Mapping[str, Any]) -> str | None:
    """`spec.credentialsSecret.name` of a SenderPool object, if it names one."""
    spec = pool.get("spec")
    ref = spec.get("credentialsSecret") if isinstance(spec, Mapping) else None
    name = ref.get("name") if isinstance(ref, Mapping) else None
    return name if isinstance(name, str) and name else None


def decode_value(encoded: object) -> str | None:
    """A Secret's `data` value as the secret it holds: base64, then UTF-8, surrounding
    whitespace dropped (a Secret made from a file keeps its newline, as the files provider
    strips it). None when absent, empty, not base64, not text, or too large to be one."""
    if not isinstance(encoded, str) or not encoded:
        return None
    if len(encoded) > (MAX_SECRET_BYTES + 2) // 3 * 4:
        return None
    try:
        raw = base64.b64decode(encoded, validate=True)
        if len(raw) > MAX_SECRET_BYTES:
            return None
        value = raw.decode("utf-8").strip()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return value or None


def pool_secrets(vendor: object, data: Mapping[str, object]) -> PoolSecrets:
    """The webhook secrets of a pool of `vendor` from its Secret's `data`: only that vendor's
    keys are decoded; the rest of the Secret is never looked at."""
    wanted = webhook_keys(vendor)
    values = {key: decode_value(data.get(key)) for key in wanted}
    return PoolSecrets(*(values.get(key) for key in KEYS))


def is_fresh(fetched_at: float, now: float, ttl_s: float) -> bool:
    """Whether an answer read at `fetched_at` may still be used at `now` (monotonic seconds).
    A clock that went back (it should not) counts as stale rather than fresh for ever."""
    return fetched_at <= now < fetched_at + ttl_s


def evictions(fetched: Mapping[K, float], now: float, ttl_s: float, max_entries: int) -> list[K]:
    """Which entries to drop before adding one more: every stale one, then the oldest
    (`fetched` in insertion order, oldest first) until there is room."""
    stale = [key for key, at in fetched.items() if not is_fresh(at, now, ttl_s)]
    dropped = set(stale)
    kept = [key for key in fetched if key not in dropped]
    excess = max(0, len(kept) + 1 - max_entries)
    return stale + kept[:excess]


# ------------------------------------------------------------------ the cache


@dataclass(frozen=True)
class _Entry(Generic[V]):
    value: V
    fetched_at: float


class TtlCache(Generic[K, V]):
    """Answers of `fetch` reused for `ttl_s` seconds; concurrent misses of a key share one
    call. A failed call is not remembered (the next request tries again)."""

    def __init__(
        self,
        fetch: Callable[[K], Awaitable[V]],
        *,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = MAX_CACHED_POOLS,
    ) -> None:
        self._fetch = fetch
        self.ttl_s = ttl_s
        self._clock = clock
        self.max_entries = max_entries
        self._entries: dict[K, _Entry[V]] = {}
        self._pending: dict[K, asyncio.Task[V]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: K) -> V:
        entry = self._entries.get(key)
        if entry is not None and is_fresh(entry.fetched_at, self._clock(), self.ttl_s):
            return entry.value
        task = self._pending.get(key)
        if task is None:
            task = asyncio.create_task(self._load(key))
            # Retrieved even when every waiter went away, so a failure is not reported
            # as "never retrieved".
            task.add_done_callback(lambda done: done.cancelled() or done.exception())
            self._pending[key] = task
        # One waiter leaving (a client hanging up) must not cancel the others' read.
        return await asyncio.shield(task)

    async def _load(self, key: K) -> V:
        started = self._clock()
        try:
            value = await self._fetch(key)
        finally:
            self._pending.pop(key, None)
        fetched = {k: e.fetched_at for k, e in self._entries.items() if k != key}
        for victim in evictions(fetched, started, self.ttl_s, self.max_entries):
            self._entries.pop(victim, None)
        self._entries.pop(key, None)
        self._entries[key] = _Entry(value, started)
        return value


# ------------------------------------------------------------------ the provider


async def read_pool_secrets(kube: KubeClient, namespace: str, pool: str) -> PoolSecrets | None:
    """One read: None when the pool or its credentials Secret does not exist; empty
    secrets for a pool whose vendor has no webhooks here (session) or that names no
    Secret. Other API errors propagate."""
    try:
        body = await kube.request("GET", pool_path(namespace, pool))
    except APINotFoundError:
        return None
    spec = body.get("spec")
    vendor = spec.get("vendor") if isinstance(spec, Mapping) else None
    name = credentials_secret_name(body)
    if not webhook_keys(vendor) or name is None:
        return PoolSecrets()
    try:
        secret = await kube.request("GET", secret_path(namespace, name))
    except APINotFoundError:
        return None
    data = secret.get("data")
    return pool_secrets(vendor, data if isinstance(data, Mapping) else {})


class KubeSecrets:
    """`SecretsProvider` over the API server (see the module's docstring)."""

    def __init__(
        self,
        kube: KubeClient,
        *,
        ttl_s: float = 30.0,
        namespaces: Collection[str] = (),
        timeout_s: float = API_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = MAX_CACHED_POOLS,
    ) -> None:
        self.kube = kube
        self.namespaces = frozenset(namespaces)
        self.timeout_s = timeout_s
        self._cache: TtlCache[tuple[str, str], PoolSecrets | None] = TtlCache(
            self._read, ttl_s=ttl_s, clock=clock, max_entries=max_entries
        )

    async def get(self, namespace: str, pool: str) -> PoolSecrets | None:
        if not valid_names(namespace, pool) or not serves(self.namespaces, namespace):
            return None
        return await self._cache.get((namespace, pool))

    async def _read(self, key: tuple[str, str]) -> PoolSecrets | None:
        namespace, pool = key
        where = f"{namespace}/{pool}"
        try:
            async with asyncio.timeout(self.timeout_s):
                found = await read_pool_secrets(self.kube, namespace, pool)
        except APIError as error:  # the server's Status message: names objects, not values
            raise SecretsUnavailableError(f"pool {where}: {error}") from None
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            raise SecretsUnavailableError(f"pool {where}: {type(error).__name__}") from None
        log.debug(
            "pool webhook secrets read from the API server",
            extra={"pool": where, "found": found is not None, "secrets": repr(found)},
        )
        return found
