"""The backend contract (session_runner/session/lease/backend.py), one suite for every backend:
Kubernetes (a real kube-apiserver's coordination.k8s.io/v1 Leases, over HTTPS), DynamoDB
(moto server over HTTP), in-memory."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from session_runner.session.lease.record import LeaseConflict, LeaseNotFound, LeaseRecord
from tests.integration.lease.conftest import LeaseKit

WHEN = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


def claim(holder: str | None = "a", transitions: int = 0, version: str = "") -> LeaseRecord:
    return LeaseRecord(
        holder=holder,
        lease_duration_s=15.0,
        acquire_time=WHEN if holder else None,
        renew_time=WHEN,
        transitions=transitions,
        version=version,
    )


def same_content(a: LeaseRecord, b: LeaseRecord) -> bool:
    return replace(a, version="") == replace(b, version="")


async def test_get_of_a_missing_lease_is_none(lease_kit: LeaseKit) -> None:
    assert await lease_kit.backend("nobody").get() is None


async def test_get_returns_what_was_written(lease_kit: LeaseKit) -> None:
    backend = lease_kit.backend("alice")
    created = await backend.create(claim(transitions=4))
    assert created.version
    read = await backend.get()
    assert read == created
    assert same_content(read, claim(transitions=4))
    assert read.acquire_time == WHEN
    assert read.acquire_time.tzinfo is not None


async def test_create_twice_conflicts(lease_kit: LeaseKit) -> None:
    a, b = lease_kit.backend("alice"), lease_kit.backend("alice")
    await a.create(claim("a"))
    with pytest.raises(LeaseConflict):
        await b.create(claim("b"))
    read = await a.get()
    assert read is not None
    assert read.holder == "a"


async def test_update_replaces_and_moves_the_version(lease_kit: LeaseKit) -> None:
    backend = lease_kit.backend("alice")
    created = await backend.create(claim("a"))
    later = datetime(2024, 5, 1, 12, 0, 5, tzinfo=UTC)
    updated = await backend.update(replace(created, renew_time=later))
    assert updated.version != created.version
    assert updated.renew_time == later
    assert await backend.get() == updated


async def test_update_with_a_stale_version_conflicts(lease_kit: LeaseKit) -> None:
    a, b = lease_kit.backend("alice"), lease_kit.backend("alice")
    created = await a.create(claim("a"))
    seen_by_b = await b.get()
    assert seen_by_b is not None
    await a.update(replace(created, renew_time=datetime(2024, 5, 2, tzinfo=UTC)))
    with pytest.raises(LeaseConflict):
        await b.update(replace(seen_by_b, holder="b", transitions=1))
    read = await a.get()
    assert read is not None
    assert read.holder == "a"
    assert read.transitions == 0


async def test_exactly_one_of_two_claims_on_one_version_wins(lease_kit: LeaseKit) -> None:
    a, b = lease_kit.backend("alice"), lease_kit.backend("alice")
    created = await a.create(claim(None, transitions=2))
    won = await a.update(replace(created, holder="a", transitions=3))
    with pytest.raises(LeaseConflict):
        await b.update(replace(created, holder="b", transitions=3))
    assert await b.get() == won


async def test_update_after_delete_is_not_found_and_does_not_recreate(
    lease_kit: LeaseKit,
) -> None:
    backend = lease_kit.backend("alice")
    created = await backend.create(claim("a"))
    await lease_kit.delete("alice")
    with pytest.raises(LeaseNotFound):
        await backend.update(replace(created, renew_time=datetime(2024, 5, 2, tzinfo=UTC)))
    assert await backend.get() is None


async def test_transitions_and_release_survive_a_round_trip(lease_kit: LeaseKit) -> None:
    backend = lease_kit.backend("alice")
    current = await backend.create(claim("a", transitions=0))
    for holder, transitions in [("b", 1), (None, 1), ("c", 2), ("c", 2)]:
        current = await backend.update(replace(claim(holder, transitions), version=current.version))
        read = await backend.get()
        assert read == current
        assert read.holder == holder
        assert read.transitions == transitions


async def test_leases_are_independent(lease_kit: LeaseKit) -> None:
    alice, bob = lease_kit.backend("alice"), lease_kit.backend("bob")
    await alice.create(claim("a"))
    assert await bob.get() is None
    await bob.create(claim("b"))
    assert (await alice.get()).holder == "a"  # type: ignore[union-attr]
