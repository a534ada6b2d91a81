"""Table test of which key-encryption keys the store's snapshots still need (key rotation)."""

from __future__ import annotations

import pytest

from session_runner.session.snapshot.keys import KeyUsage, key_usage, key_usage_line

A, B, C = "a" * 16, "b" * 16, "c" * 16


@pytest.mark.parametrize(
    ("case", "snapshots", "ring", "current", "expected", "says"),
    [
        (
            "one key, in use",
            [A, A],
            [A],
            A,
            KeyUsage(A, (A,), (), ()),
            [f"snapshots need key(s) {A} (current)"],
        ),
        (
            "just rotated: the old key is still needed",
            [A, A],
            [A, B],
            B,
            KeyUsage(B, (A,), (), ()),
            [f"snapshots need key(s) {A}", f"new snapshots use {B} (current)"],
        ),
        (
            "mid-rotation: both needed",
            [A, B],
            [A, B],
            B,
            KeyUsage(B, (A, B), (), ()),
            [f"snapshots need key(s) {A}, {B} (current)"],
        ),
        (
            "retention dropped the old snapshots: the old key may go",
            [B, B],
            [A, B],
            B,
            KeyUsage(B, (B,), (A,), ()),
            [f"no longer needed: {A} (may be removed from the Secret)"],
        ),
        (
            "a key removed too early",
            [A, B],
            [B],
            B,
            KeyUsage(B, (A, B), (), (A,)),
            [f"not in the key ring: {A}"],
        ),
        (
            "no snapshot yet",
            [],
            [A, C],
            A,
            KeyUsage(A, (), (C,), ()),
            ["no snapshot needs a key", f"no longer needed: {C}"],
        ),
    ],
)
def test_key_usage(
    case: str,
    snapshots: list[str],
    ring: list[str],
    current: str,
    expected: KeyUsage,
    says: list[str],
) -> None:
    usage = key_usage(snapshots, ring, current)
    assert usage == expected, case
    line = key_usage_line(usage)
    for part in says:
        assert part in line, case
    assert current not in usage.removable, case  # the current key is never removable
