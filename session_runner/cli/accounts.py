"""What `wafleet status` and `wafleet qr` read: WhatsAppAccounts through the kubeconfig.

Pure helpers turn an account into a table row or a QR drawing; the I/O is one
list or get through the runner's small REST client.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import qrcode

from session_runner.contract.resources import account_path
from session_runner.kube.client import KubeClient


async def list_accounts(client: KubeClient, namespace: str | None) -> list[dict[str, Any]]:
    return list((await client.request("GET", account_path(namespace))).get("items") or [])


async def get_account(client: KubeClient, namespace: str, name: str) -> dict[str, Any]:
    return await client.request("GET", account_path(namespace, name))


def age(timestamp: str | None, now: datetime) -> str:
    """kubectl's short age: 42s, 5m, 3h, 2d."""
    if not timestamp:
        return "-"
    then = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def verified_cell(last_verify: Mapping[str, Any] | None, now: datetime) -> str:
    """The VERIFIED column: the last on-demand verification's verdict and age, `-` if none.

    OK, DAMAGED (corrupt or missing chunks), or UNCHECKED (nothing could be
    checked: no snapshot yet, or the store could not be read).
    """
    if not last_verify:
        return "-"
    if last_verify.get("ok") is True:
        verdict = "OK"
    elif last_verify.get("snapshotId"):
        verdict = "DAMAGED"
    else:
        verdict = "UNCHECKED"
    when = last_verify.get("time")
    return f"{verdict} {age(when, now)}" if when else verdict


def status_row(account: dict[str, Any], now: datetime | None = None) -> list[str]:
    """NAMESPACE NAME PHONE ENGINE PHASE READY HOLDER TOKEN SNAPSHOT VERIFIED MESSAGE."""
    now = now or datetime.now(UTC)
    meta, spec = account["metadata"], account.get("spec") or {}
    status = account.get("status") or {}
    ready: dict[str, Any] = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {}
    )
    snapshot = (status.get("lastSnapshot") or {}).get("time")
    return [
        meta.get("namespace", ""),
        meta["name"],
        spec.get("phoneNumber", ""),
        spec.get("engine", "browser"),
        status.get("phase") or "-",
        ready.get("status", "Unknown"),
        status.get("leaseHolder") or "-",
        str(status.get("fencingToken", "-")),
        age(snapshot, now) if snapshot else "-",
        verified_cell((status.get("runner") or {}).get("lastVerify"), now),
        ready.get("message", ""),
    ]


def verify_answer(last_verify: Mapping[str, Any] | None, request: str) -> tuple[int, str] | None:
    """`wafleet verify --wait`: (exit code, line) once the runner answered `request`, else None.

    Only an answer naming this request counts: an older lastVerify is the
    answer to someone else's question. 0 when every chunk verified, 1 when the
    snapshot is damaged or nothing could be checked (the message says which).
    """
    if not last_verify or last_verify.get("request") != request:
        return None
    message = str(last_verify.get("message") or "")
    snapshot = last_verify.get("snapshotId")
    if last_verify.get("ok") is True:
        return 0, f"OK: {message}"
    if not snapshot:
        return 1, f"NOT VERIFIED: {message}"
    corrupt = int(last_verify.get("corruptChunks") or 0)
    missing = int(last_verify.get("missingChunks") or 0)
    return 1, (
        f"DAMAGED: snapshot {snapshot} has {corrupt} corrupt and {missing} missing chunk(s); "
        f"{message}"
    )


def qr_text(payload: str) -> str:
    """The QR code as terminal text (two half-blocks per character row)."""
    code = qrcode.QRCode(border=2)
    code.add_data(payload)
    code.make(fit=True)
    out = io.StringIO()
    code.print_ascii(out=out, invert=True)
    return out.getvalue()
