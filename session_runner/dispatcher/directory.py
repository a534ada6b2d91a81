"""The WebhookSubscriptions to deliver to, and their signing secrets, from the API server.

Subscriptions are listed every `refresh_s` seconds (10 by default), in the
namespaces the dispatcher serves or in all: a new or changed subscription
is delivered to within that. Polling rather than watching keeps this one
GET per namespace per period and nothing to resume after a dropped watch;
subscriptions change rarely and deliveries do not wait on the list.

Signing secrets are read by name (`get` on secrets, never list or watch),
each remembered for `refresh_s`: a rotated Secret signs within that. The
Secret named by `spec.signingSecret` holds the current secret at its `key`
(default `secret`); during a rotation, `<key>-previous` holds the old one and
both sign every delivery, so a subscriber can switch its verifying secret at
any moment in between. Values are never logged; an unusable one is reported
by Secret and key only (`signing.SigningSecretError`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any, Final

import aiohttp

from session_runner.contract.resources import subscription_path
from session_runner.dispatcher.signing import SigningSecretError, check_secret
from session_runner.dispatcher.subscriber import Subscriber
from session_runner.kube.client import KubeClient
from session_runner.kube.errors import APIError, APINotFoundError
from session_runner.kube.secrets import decode_value, secret_path
from session_runner.ttl_cache import TtlCache

log = logging.getLogger(__name__)

DEFAULT_REFRESH_S: Final = 10.0
PAGE_SIZE: Final = 500
PREVIOUS_SUFFIX: Final = "-previous"


class DirectoryError(Exception):
    """The API server could not be read (the message names what, never a secret value)."""


def signing_secrets(data: Mapping[str, object], key: str, where: str) -> list[str]:
    """The secrets a delivery is signed with, current first, from a Secret's `data`.

    Raises SigningSecretError (naming `where` and the key) when the current one is
    missing or not a `whsec_` secret; a bad previous one is an error too, rather
    than a rotation that silently signs with one secret only."""
    current = decode_value(data.get(key))
    if current is None:
        raise SigningSecretError(f"{where}: no signing secret at key {key}")
    check_secret(current, f"{where} key {key}")
    secrets = [current]
    previous_key = key + PREVIOUS_SUFFIX
    if previous_key in data:
        previous = decode_value(data.get(previous_key))
        if previous is None:
            raise SigningSecretError(f"{where}: key {previous_key} holds no secret")
        check_secret(previous, f"{where} key {previous_key}")
        secrets.append(previous)
    return secrets


class KubeDirectory:
    """Subscriptions and signing secrets (see the module's docstring)."""

    def __init__(
        self,
        kube: KubeClient,
        *,
        namespaces: Collection[str] = (),
        refresh_s: float = DEFAULT_REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kube = kube
        self.namespaces = tuple(sorted(namespaces))
        self.refresh_s = refresh_s
        self._subscribers: dict[str, Subscriber] = {}
        self._secrets: TtlCache[tuple[str, str, str], list[str]] = TtlCache(
            self._read_secrets, ttl_s=refresh_s, clock=clock
        )

    def subscribers(self) -> list[Subscriber]:
        """As of the last refresh."""
        return list(self._subscribers.values())

    def get(self, key: str) -> Subscriber | None:
        """`namespace/name` as of the last refresh; None when it no longer exists."""
        return self._subscribers.get(key)

    async def refresh(self) -> None:
        """List the subscriptions again; raises DirectoryError (the old list stays)."""
        found: dict[str, Subscriber] = {}
        for namespace in self.namespaces or (None,):
            for obj in await self._list(namespace):
                try:
                    subscriber = Subscriber.from_object(obj)
                except (KeyError, TypeError, ValueError) as error:
                    meta = obj.get("metadata") or {}
                    log.warning(
                        "a WebhookSubscription could not be read",
                        extra={
                            "subscription": f"{meta.get('namespace')}/{meta.get('name')}",
                            "error": type(error).__name__,
                        },
                    )
                    continue
                found[subscriber.key] = subscriber
        self._subscribers = found

    async def keep_fresh(self, stop: asyncio.Event) -> None:
        """Refresh every `refresh_s` until `stop`; a failed refresh is logged and retried."""
        while not stop.is_set():
            try:
                await self.refresh()
            except DirectoryError as error:
                log.warning("listing WebhookSubscriptions failed: %s", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.refresh_s)

    async def secrets(self, subscriber: Subscriber) -> list[str]:
        """The signing secrets of `subscriber`, current first. Raises SigningSecretError
        (the Secret is missing or holds no usable secret) or DirectoryError."""
        return await self._secrets.get(
            (subscriber.namespace, subscriber.secret_name, subscriber.secret_key)
        )

    async def _list(self, namespace: str | None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token = ""
        while True:
            params = [("limit", str(PAGE_SIZE))] + ([("continue", token)] if token else [])
            try:
                page = await self.kube.request("GET", subscription_path(namespace), params=params)
            except APIError as error:
                raise DirectoryError(f"listing WebhookSubscriptions: {error}") from None
            except (aiohttp.ClientError, OSError, TimeoutError) as error:
                raise DirectoryError(
                    f"listing WebhookSubscriptions: {type(error).__name__}"
                ) from None
            items += [item for item in page.get("items", []) if isinstance(item, dict)]
            token = str((page.get("metadata") or {}).get("continue") or "")
            if not token:
                return items

    async def _read_secrets(self, key: tuple[str, str, str]) -> list[str]:
        namespace, name, data_key = key
        where = f"Secret {namespace}/{name}"
        try:
            secret = await self.kube.request("GET", secret_path(namespace, name))
        except APINotFoundError:
            raise SigningSecretError(f"{where} does not exist") from None
        except APIError as error:  # the server's Status message: names objects, not values
            raise DirectoryError(f"{where}: {error}") from None
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            raise DirectoryError(f"{where}: {type(error).__name__}") from None
        data = secret.get("data")
        return signing_secrets(data if isinstance(data, Mapping) else {}, data_key, where)
