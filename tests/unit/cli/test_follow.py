"""`wafleet send --wait --until`: when following a message's delivery is over."""

from __future__ import annotations

import pytest

from session_runner.cli.send import reached
from session_runner.session.engines.events import AckStatus

S, D, R, P, F = (
    AckStatus.SENT,
    AckStatus.DELIVERED,
    AckStatus.READ,
    AckStatus.PLAYED,
    AckStatus.FAILED,
)


@pytest.mark.parametrize(
    ("status", "until", "over"),
    [
        (None, D, False),  # no status event yet: keep following
        (S, D, False),
        (D, D, True),
        (R, D, True),  # read overtook delivered (receipts arrive out of order)
        (P, R, True),
        (D, R, False),
        (F, D, True),  # failed is final: following ends (and the command exits 1)
        (S, S, True),
    ],
)
def test_reached(status: AckStatus | None, until: AckStatus, over: bool) -> None:
    assert reached(status, until) is over


def test_an_aws_failure_says_what_to_set_and_nothing_else() -> None:
    from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError

    from session_runner.cli.send import aws_failure

    assert "AWS_DEFAULT_REGION" in aws_failure(NoRegionError())
    assert "AWS_ACCESS_KEY_ID" in aws_failure(NoCredentialsError())
    denied = ClientError(
        {"Error": {"Code": "AuthorizationError", "Message": "not allowed to publish"}}, "Publish"
    )
    assert aws_failure(denied) == "AWS: AuthorizationError: not allowed to publish"
