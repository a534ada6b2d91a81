"""The fencing rule: storage never accepts a token below the highest it accepted."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from session_runner.session.lease.fencing import token_accepts


@pytest.mark.parametrize(
    ("stored", "incoming", "accepted"),
    [
        (None, 0, True),  # nothing written yet
        (None, 7, True),
        (3, 3, True),  # the same holder writes again
        (3, 4, True),  # a later holder
        (3, 2, False),  # a holder that lost the lease
        (0, 0, True),
        (10, 0, False),  # a recreated lease restarts at 0: refused (see fencing.py)
    ],
)
def test_token_accepts(stored: int | None, incoming: int, accepted: bool) -> None:
    assert token_accepts(stored, incoming) is accepted


@given(st.lists(st.integers(min_value=0, max_value=50), max_size=40))
def test_accepted_tokens_never_decrease(writes: list[int]) -> None:
    stored: int | None = None
    accepted: list[int] = []
    for token in writes:
        if token_accepts(stored, token):
            accepted.append(token)
            stored = token
    assert accepted == sorted(accepted)
