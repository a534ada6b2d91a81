"""Whether a fence may lift by itself, and what a fenced runner reports."""

from __future__ import annotations

import pytest

from session_runner.session.fence import Fence, FenceReason, may_lift


@pytest.mark.parametrize(
    ("reason", "can_read_annotations", "expected"),
    [
        # A person set wafleet.io/fenced: removing it lets the runner compete again.
        (FenceReason.ANNOTATION, True, True),
        # ... but a runner that cannot read annotations would never see it removed.
        (FenceReason.ANNOTATION, False, False),
        # Another client took the session: nothing observable says it is safe again.
        (FenceReason.CONFLICT, True, False),
        (FenceReason.CONFLICT, False, False),
    ],
)
def test_only_an_annotation_fence_lifts_by_itself(
    reason: FenceReason, can_read_annotations: bool, expected: bool
) -> None:
    assert may_lift(reason, can_read_annotations=can_read_annotations) is expected


@pytest.mark.parametrize(
    ("fence", "message"),
    [
        (Fence(FenceReason.ANNOTATION), "the wafleet.io/fenced annotation is set"),
        (
            Fence(FenceReason.CONFLICT, "stream replaced"),
            "WhatsApp says another client took the session: stream replaced",
        ),
        # The detail is only words: whatever WhatsApp says, the reason decides the rule.
        (
            Fence(FenceReason.CONFLICT, "the wafleet.io/fenced annotation"),
            "WhatsApp says another client took the session: the wafleet.io/fenced annotation",
        ),
    ],
)
def test_the_fenced_report_says_why(fence: Fence, message: str) -> None:
    assert fence.message == message
