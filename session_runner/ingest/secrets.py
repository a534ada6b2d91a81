"""Where the ingest server gets a pool's webhook secrets: a small interface and its providers.

`PoolSecrets` never shows its values (repr, str, logs); the server compares
them in constant time and never echoes them. `KubeSecrets` (kube_secrets.py,
what the chart deploys) reads the SenderPool and its credentials Secret from
the API server. `FileSecrets` reads the files of a folder per pool,
`<root>/<namespace>/<pool>/<key>`, the way the sender reads its credentials
from its mounted Secret; each request reads them afresh (in a worker thread),
so a rotated Secret applies without a restart. `StaticSecrets` holds them in
memory (tests, development).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Protocol

from session_runner.contract.ingest_settings import WEBHOOK_SECRET_KEYS
from session_runner.events.event import NAME_PATTERN
from session_runner.kube.secrets import MAX_SECRET_BYTES as MAX_SECRET_BYTES  # the file bound too

_NAME = re.compile(NAME_PATTERN)
APP_SECRET, VERIFY_TOKEN = WEBHOOK_SECRET_KEYS["meta-cloud"]
(AUTH_TOKEN,) = WEBHOOK_SECRET_KEYS["twilio"]
KEYS: Final = (APP_SECRET, VERIFY_TOKEN, AUTH_TOKEN)


@dataclass(frozen=True)
class PoolSecrets:
    """One pool's webhook secrets; a missing one refuses that vendor's requests."""

    app_secret: str | None = field(default=None, repr=False)  # Meta: X-Hub-Signature-256
    verify_token: str | None = field(default=None, repr=False)  # Meta: hub.verify_token
    auth_token: str | None = field(default=None, repr=False)  # Twilio: X-Twilio-Signature

    def __repr__(self) -> str:
        held = [key for key, value in zip(KEYS, self._values(), strict=True) if value]
        return f"PoolSecrets(holds={held})"

    __str__ = __repr__

    def _values(self) -> tuple[str | None, str | None, str | None]:
        return (self.app_secret, self.verify_token, self.auth_token)


class SecretsUnavailableError(Exception):
    """The provider cannot tell right now (the API server is unreachable, or refuses us):
    the request is answered 503 and the vendor retries. The message names the pool and
    the cause, never a value."""


class SecretsProvider(Protocol):
    async def get(self, namespace: str, pool: str) -> PoolSecrets | None:
        """The pool's secrets, None when the pool is unknown here; SecretsUnavailableError
        when that cannot be known now."""
        ...


def valid_names(namespace: str, pool: str) -> bool:
    """Both are Kubernetes names (so neither can climb out of a folder)."""
    return bool(_NAME.match(namespace) and _NAME.match(pool))


@dataclass(frozen=True)
class StaticSecrets:
    """Secrets held in memory, keyed by (namespace, pool)."""

    pools: Mapping[tuple[str, str], PoolSecrets] = field(repr=False)

    async def get(self, namespace: str, pool: str) -> PoolSecrets | None:
        return self.pools.get((namespace, pool))


def _read_key(folder: Path, key: str) -> str | None:
    path = folder / key
    try:
        if path.stat().st_size > MAX_SECRET_BYTES:
            return None
        value = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return value or None


def read_pool_folder(folder: Path) -> PoolSecrets | None:
    """The secrets in one pool's folder (blocking); None when the folder does not exist."""
    if not folder.is_dir():
        return None
    return PoolSecrets(*(_read_key(folder, key) for key in KEYS))


@dataclass(frozen=True)
class FileSecrets:
    """`<root>/<namespace>/<pool>/{appSecret,verifyToken,authToken}`."""

    root: Path

    async def get(self, namespace: str, pool: str) -> PoolSecrets | None:
        if not valid_names(namespace, pool):
            return None
        return await asyncio.to_thread(read_pool_folder, self.root / namespace / pool)
