"""The HTTP vendor adapters a SenderPool can send through, by the pool's `spec.vendor`.

`create_adapter` is the one way the sender builds one: it checks the
credentials (the files of the pool's Secret, by key) before any request, so a
misconfigured pool fails at start naming the missing key, never its value.
The `session` vendor sends through our own accounts and is not here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import aiohttp

from session_runner.sender.vendors import meta_cloud, twilio
from session_runner.sender.vendors.base import (
    AdapterConfigError,
    Lookup,
    LookupResult,
    Outcome,
    SendResult,
    VendorAdapter,
)


@dataclass(frozen=True)
class _Vendor:
    required: tuple[str, ...]
    options: frozenset[str]
    build: Callable[..., VendorAdapter]


VENDORS: Final[Mapping[str, _Vendor]] = {
    meta_cloud.VENDOR: _Vendor(
        meta_cloud.CREDENTIAL_KEYS, frozenset({"timeout"}), meta_cloud.from_credentials
    ),
    twilio.VENDOR: _Vendor(
        twilio.CREDENTIAL_KEYS, frozenset({"timeout", "status_callback"}), twilio.from_credentials
    ),
}


def missing_credentials(vendor: str, credentials: Mapping[str, str]) -> list[str]:
    """The required keys absent or empty in `credentials` (names only)."""
    return [key for key in VENDORS[vendor].required if not str(credentials.get(key, "")).strip()]


def create_adapter(
    vendor: str,
    credentials: Mapping[str, str],
    *,
    base_url: str | None = None,
    session: aiohttp.ClientSession | None = None,
    **options: Any,
) -> VendorAdapter:
    """The adapter for `vendor` (meta-cloud, twilio). Options: `timeout` (aiohttp.ClientTimeout);
    twilio also `status_callback` (the URL our id is added to). Raises AdapterConfigError."""
    if vendor not in VENDORS:
        raise AdapterConfigError(f"unknown vendor {vendor!r}; known: {', '.join(sorted(VENDORS))}")
    missing = missing_credentials(vendor, credentials)
    if missing:
        raise AdapterConfigError(f"vendor {vendor}: missing credential key(s) {', '.join(missing)}")
    unsupported = sorted(set(options) - VENDORS[vendor].options)
    if unsupported:
        raise AdapterConfigError(f"vendor {vendor}: unsupported option(s) {', '.join(unsupported)}")
    return VENDORS[vendor].build(credentials, base_url=base_url, session=session, **options)


__all__ = [
    "VENDORS",
    "AdapterConfigError",
    "Lookup",
    "LookupResult",
    "Outcome",
    "SendResult",
    "VendorAdapter",
    "create_adapter",
    "missing_credentials",
]
