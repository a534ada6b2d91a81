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
import logging
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any, Final

import aiohttp

from session_runner.contract.ingest_settings import WEBHOOK_SECRET_KEYS
from session_runner.contract.resources import pool_path
from session_runner.ingest.secrets import (
    KEYS,
    PoolSecrets,
    SecretsUnavailableError,
    valid_names,
)
from session_runner.kube.client import KubeClient
from session_runner.kube.errors import APIError, APINotFoundError
from session_runner.kube.secrets import decode_value, secret_path
from session_runner.ttl_cache import TtlCache

log = logging.getLogger(__name__)

#: Pools remembered at most; a flood of requests naming made-up pools cannot grow memory.
MAX_CACHED_POOLS: Final = 4096
#: One read of a pool and its Secret takes at most this long, then the request gets 503.
API_TIMEOUT_SECONDS: Final = 5.0

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


def pool_secrets(vendor: object, data: Mapping[str, object]) -> PoolSecrets:
    """The webhook secrets of a pool of `vendor` from its Secret's `data`: only that vendor's
    keys are decoded; the rest of the Secret is never looked at."""
    wanted = webhook_keys(vendor)
    values = {key: decode_value(data.get(key)) for key in wanted}
    return PoolSecrets(*(values.get(key) for key in KEYS))


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
