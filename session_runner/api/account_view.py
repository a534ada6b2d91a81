"""A WhatsAppAccount as the API shows it: what an integrator needs, nothing of its spec's
plumbing (Secrets' names, buckets, images). Pure: built from the object the API server
returned and, when there is one, the account's Lease (`waa-<account>`).

The Lease is the live truth about who holds the session (the account's
`status.leaseHolder` is the operator's last copy of it): the API shows the
Lease's holder and renew time when it could read it, else the status's.
Nothing here trusts the object's shape: a field of the wrong type is left
out rather than failing the answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

#: Every account's children are named so (the operator's `specs.naming.child_name`).
CHILD_PREFIX = "waa-"


class Condition(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: str
    status: str = Field(description="True, False or Unknown.")
    reason: str | None = None
    message: str | None = None
    last_transition_time: str | None = None


class LeaseView(BaseModel):
    model_config = ConfigDict(frozen=True)

    holder: str | None = Field(default=None, description="The runner holding the session.")
    fencing_token: int | None = Field(default=None, description="Its fencing token.")
    renewed_at: str | None = Field(default=None, description="The Lease's last renewal.")


class SnapshotView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    time: str | None = None
    bytes: int | None = None
    seconds: float | None = None


class Account(BaseModel):
    """One WhatsAppAccount's state."""

    model_config = ConfigDict(frozen=True)

    name: str
    namespace: str
    phone_number: str | None = None
    engine: str | None = None
    suspended: bool = False
    phase: str | None = Field(default=None, description="Pending, Connected, AwaitingLogin ...")
    ready: bool = Field(description="Its Ready condition is True.")
    conditions: list[Condition] = Field(default_factory=list)
    lease: LeaseView
    last_snapshot: SnapshotView | None = None
    awaiting_login: bool = Field(description="A QR code waits to be scanned (GET .../qr).")
    created_at: str | None = None


class AccountList(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[Account]


def lease_name(account: str) -> str:
    return f"{CHILD_PREFIX}{account}"


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _time(value: object) -> str | None:
    """A timestamp as the API server wrote it (RFC 3339), if it is one."""
    text = _str(value)
    if text is None:
        return None
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return text


def conditions_of(status: Mapping[str, Any]) -> list[Condition]:
    out: list[Condition] = []
    for item in status.get("conditions") or ():
        condition = _map(item)
        kind, state = _str(condition.get("type")), _str(condition.get("status"))
        if kind is None or state is None:
            continue
        out.append(
            Condition(
                type=kind,
                status=state,
                reason=_str(condition.get("reason")),
                message=_str(condition.get("message")),
                last_transition_time=_time(condition.get("lastTransitionTime")),
            )
        )
    return out


def lease_view(status: Mapping[str, Any], lease: Mapping[str, Any] | None) -> LeaseView:
    """The Lease's holder and renew time when read, else the status's copy of the holder."""
    spec = _map(_map(lease).get("spec"))
    holder = _str(spec.get("holderIdentity")) if lease is not None else None
    return LeaseView(
        holder=holder if lease is not None else _str(status.get("leaseHolder")),
        fencing_token=_int(status.get("fencingToken")),
        renewed_at=_time(spec.get("renewTime")),
    )


def snapshot_view(value: object) -> SnapshotView | None:
    snapshot = _map(value)
    snapshot_id = _str(snapshot.get("id"))
    if snapshot_id is None:
        return None
    return SnapshotView(
        id=snapshot_id,
        time=_time(snapshot.get("time")),
        bytes=_int(snapshot.get("bytes")),
        seconds=_number(snapshot.get("seconds")),
    )


def account_view(obj: Mapping[str, Any], lease: Mapping[str, Any] | None) -> Account:
    """The API's view of one account object (and its Lease, None when not read or absent)."""
    meta, spec, status = _map(obj.get("metadata")), _map(obj.get("spec")), _map(obj.get("status"))
    conditions = conditions_of(status)
    ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
    return Account(
        name=str(meta.get("name", "")),
        namespace=str(meta.get("namespace", "")),
        phone_number=_str(spec.get("phoneNumber")),
        engine=_str(spec.get("engine")) or "browser",
        suspended=spec.get("suspended") is True,
        phase=_str(status.get("phase")),
        ready=ready,
        conditions=conditions,
        lease=lease_view(status, lease),
        last_snapshot=snapshot_view(status.get("lastSnapshot")),
        awaiting_login=login_qr(obj) is not None,
        created_at=_time(meta.get("creationTimestamp")),
    )


def login_qr(obj: Mapping[str, Any]) -> str | None:
    """The QR payload to scan, while the account awaits a login."""
    return _str(_map(obj.get("status")).get("loginQr"))


def phase_of(obj: Mapping[str, Any]) -> str:
    return _str(_map(obj.get("status")).get("phase")) or "not started"
