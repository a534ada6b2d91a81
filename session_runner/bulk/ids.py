"""A bulk job's id and its rows' message ids: `bulk-<12 hex>` and `<jobId>:<row>`.

A leaf module (no imports of its own), so the senders and the status
forwarders can recognise a bulk row's id, to count its outcome, without
loading the CSV reader.
"""

from __future__ import annotations

import re
from typing import Final

JOB_ID_PATTERN: Final = r"bulk-[0-9a-f]{12}"
_BULK_MESSAGE_ID: Final = re.compile(rf"^({JOB_ID_PATTERN}):([1-9][0-9]{{0,9}})$")


def message_id(job_id: str, row: int) -> str:
    """The idempotency key of row `row` of job `job_id`."""
    return f"{job_id}:{row}"


def parse_message_id(value: str) -> tuple[str, int] | None:
    """(job id, row) of a bulk row's message id; None for any other id."""
    match = _BULK_MESSAGE_ID.match(value)
    if match is None:
        return None
    return match.group(1), int(match.group(2))
