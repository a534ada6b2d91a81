"""What a SenderPool's AWS resources are called and how they are configured. Pure.

Names are derived from the pool's namespace and name (so `kubectl get sp`
and the SQS console read alike) and fit SQS's limit of 80 characters from
[A-Za-z0-9_-]. A name can still be reused: a pool deleted and re-created
under the same name, or another cluster sharing the AWS account. So every
queue carries the pool's uid as a tag, and `queue_owner` decides whether a
queue found under our name is ours to adopt, ours already, or someone
else's, which is never touched.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any, Final

from session_runner.contract.outbound import TARGET_ATTRIBUTE

#: Tags on every queue wafleet creates (SQS tag keys allow ':', '/', '.').
POOL_UID_TAG: Final = "wafleet.io/pool-uid"
POOL_TAG: Final = "wafleet.io/pool"
SQS_NAME_MAX: Final = 80
DLQ_SUFFIX: Final = "-dlq"


def queue_name(prefix: str, namespace: str, pool: str) -> str:
    """`<prefix>-<namespace>-<pool>`, shortened with a hash when it would not fit (DLQ included)."""
    name = f"{prefix}-{namespace}-{pool}"
    room = SQS_NAME_MAX - len(DLQ_SUFFIX)
    if len(name) <= room:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name[: room - 11]}-{digest}"


def dead_letter_queue_name(queue: str) -> str:
    return f"{queue}{DLQ_SUFFIX}"


def redrive_policy(dead_letter_arn: str, max_receive_count: int) -> str:
    """SQS's RedrivePolicy attribute: after `max_receive_count` receives, the DLQ gets it."""
    return json.dumps(
        {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": max_receive_count}
    )


def filter_policy(target: str) -> str:
    """The subscription's FilterPolicy: this pool receives only messages for its target."""
    return json.dumps({TARGET_ATTRIBUTE: [target]})


class Owner(StrEnum):
    MISSING = "missing"  # no queue by that name: create it, tagged
    OURS = "ours"  # tagged with this pool's uid
    FOREIGN = "foreign"  # tagged with another uid, or untagged: never touched


def queue_owner(exists: bool, tags: dict[str, Any] | None, uid: str) -> Owner:
    """Whose queue a queue found under our name is. Untagged counts as foreign: wafleet
    always tags on create, so an untagged queue was made by someone else."""
    if not exists:
        return Owner.MISSING
    if (tags or {}).get(POOL_UID_TAG) == uid:
        return Owner.OURS
    return Owner.FOREIGN
