"""API keys: who is calling, and what they may touch.

The keys Secret holds one entry per client, never a key itself:

    [{"name": "crm", "sha256": "<64 hex digits>", "targets": ["marketing"], "accounts": []},
     {"name": "ops", "sha256": "<64 hex digits>"}]

`sha256` is the SHA-256 of the key as the client sends it (`printf %s "$KEY" |
sha256sum`). `targets` are the SenderPool routing targets (`spec.target`) the
key may send to, and read the messages and bulk jobs of; `accounts` the
WhatsAppAccounts it may see, send through, and ask for a snapshot or QR of.
Left out means all; an empty list means none. `name` scopes the key's
Idempotency-Keys (two clients using the same Idempotency-Key never meet) and
is what logs and metrics say instead of the key.

A presented key is hashed and compared with every entry's hash with
`hmac.compare_digest` (constant time, and every entry is looked at, so the
answer's timing says neither where nor whether a key matched). Keys are long
random strings: an unsalted hash is all it takes (the hash of a guessable
password would need a slow one). The key itself is never stored, logged or
answered; an entry's repr shows its name only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Final

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from session_runner.contract.api_settings import KEYS_ENV
from session_runner.contract.outbound import TARGET_PATTERN

log = logging.getLogger(__name__)

#: A WhatsAppAccount's name (the CRD's rule: a DNS label, no dots).
ACCOUNT_NAME_PATTERN: Final = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
KEY_NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
#: RFC 6750's b64token, bounded: what may follow "Bearer ".
TOKEN_PATTERN: Final = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")
MAX_TOKEN_CHARS: Final = 512
#: The largest keys file read (a few thousand entries); a bigger one is refused.
MAX_KEYS_FILE_BYTES: Final = 1 << 20

Target = Annotated[str, StringConstraints(pattern=TARGET_PATTERN)]
AccountName = Annotated[str, StringConstraints(pattern=ACCOUNT_NAME_PATTERN)]


class ApiKey(BaseModel):
    """One client's entry: its name, the SHA-256 of its key, and its scope."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=KEY_NAME_PATTERN)
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$", repr=False)
    targets: tuple[Target, ...] | None = Field(
        default=None, description="Routing targets it may use; None: all."
    )
    accounts: tuple[AccountName, ...] | None = Field(
        default=None, description="WhatsAppAccounts it may use; None: all."
    )

    @property
    def digest(self) -> bytes:
        return bytes.fromhex(self.sha256)

    @property
    def unrestricted(self) -> bool:
        return self.targets is None and self.accounts is None


_ENTRIES: Final = TypeAdapter(list[ApiKey])


class KeysError(ValueError):
    """The key entries cannot be used; the message names the entry and field, never a value."""


def parse_keys(text: str) -> tuple[ApiKey, ...]:
    """The entries of a keys document (JSON, or YAML); raises KeysError naming what is wrong.

    Names must be unique (they scope idempotency), and so must hashes (one key, one client).
    """
    try:
        data = yaml.safe_load(text) if text.strip() else []
    except yaml.YAMLError:
        raise KeysError("the keys are neither JSON nor YAML") from None
    if data is None:
        data = []
    try:
        entries = tuple(_ENTRIES.validate_python(data))
    except ValidationError as error:
        first = error.errors(include_input=False)[0]
        where = "keys" + "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in first.get("loc", ())
        )
        raise KeysError(f"{where}: {first.get('msg', 'invalid')}") from None
    seen_names: set[str] = set()
    seen_hashes: set[str] = set()
    for index, entry in enumerate(entries):
        if entry.name in seen_names:
            raise KeysError(f"keys[{index}].name: {entry.name!r} is used twice")
        if entry.sha256.lower() in seen_hashes:
            raise KeysError(f"keys[{index}].sha256: the same key is listed twice")
        seen_names.add(entry.name)
        seen_hashes.add(entry.sha256.lower())
    return entries


def key_digest(key: str) -> bytes:
    """What an entry's `sha256` is the hex of."""
    return hashlib.sha256(key.encode("utf-8")).digest()


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; None when there is no such
    header, it has another scheme, or the token is not an RFC 6750 token."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_CHARS:
        return None
    return token if TOKEN_PATTERN.match(token) else None


def authenticate(entries: Sequence[ApiKey], token: str) -> ApiKey | None:
    """The entry whose hash is the token's, comparing with every entry in constant time."""
    digest = key_digest(token)
    found: ApiKey | None = None
    for entry in entries:
        if hmac.compare_digest(entry.digest, digest) and found is None:
            found = entry
    return found


@dataclass
class _Loaded:
    stamp: tuple[int, int, int] | None
    entries: tuple[ApiKey, ...]


class KeyStore:
    """The current entries: from `text` (the environment's, fixed), or from `path`, re-read
    when its inode, size or mtime changed (a Secret volume swaps a symlink), checked at
    most every `reload_s` seconds. A file that turns bad keeps the entries it had (logged,
    naming the field); a file that cannot be read at start is an error for the caller."""

    def __init__(
        self,
        *,
        path: Path | None = None,
        text: str | None = None,
        reload_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if (path is None) == (text is None):
            raise ValueError("give the keys as a path or as text")
        self.path = path
        self.reload_s = reload_s
        self._clock = clock
        self._checked_at = clock()
        if text is not None:
            self._loaded = _Loaded(None, parse_keys(text))
        else:
            assert path is not None
            self._loaded = _Loaded(_stamp(path), _read(path))

    @classmethod
    def from_settings(cls, keys_file: Path, env_value: str | None, reload_s: float) -> KeyStore:
        """The environment's entries when set and not empty, else the file's."""
        if env_value and env_value.strip():
            return cls(text=env_value)
        return cls(path=keys_file, reload_s=reload_s)

    @property
    def entries(self) -> tuple[ApiKey, ...]:
        self._maybe_reload()
        return self._loaded.entries

    def _maybe_reload(self) -> None:
        if self.path is None:
            return
        now = self._clock()
        if now - self._checked_at < self.reload_s:
            return
        self._checked_at = now
        try:
            stamp = _stamp(self.path)
            if stamp == self._loaded.stamp:
                return
            self._loaded = _Loaded(stamp, _read(self.path))
        except (OSError, KeysError) as error:
            log.error(
                "API keys file not reloaded; the previous keys stay in use",
                extra={"keys_file": str(self.path), "reason": _safe(error)},
            )
            return
        log.info(
            "API keys reloaded",
            extra={"keys": [entry.name for entry in self._loaded.entries]},
        )


def _stamp(path: Path) -> tuple[int, int, int]:
    status = path.stat()
    return (status.st_ino, status.st_size, status.st_mtime_ns)


def _read(path: Path) -> tuple[ApiKey, ...]:
    if path.stat().st_size > MAX_KEYS_FILE_BYTES:
        raise KeysError(f"{path}: larger than {MAX_KEYS_FILE_BYTES} bytes")
    try:
        return parse_keys(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise KeysError(f"{path}: not UTF-8 text") from None


def _safe(error: Exception) -> str:
    """KeysError messages name entries and fields; an OSError only its kind."""
    if isinstance(error, KeysError):
        return str(error)
    return type(error).__name__ + (f": {error.strerror}" if isinstance(error, OSError) else "")


def env_keys() -> str | None:
    """The keys environment variable's value (`contract.api_settings.KEYS_ENV`)."""
    return os.environ.get(KEYS_ENV)


def entries_json(entries: Sequence[ApiKey]) -> str:
    """The keys document for `entries` (tests and tooling write it)."""
    return json.dumps([entry.model_dump(exclude_none=True) for entry in entries])
