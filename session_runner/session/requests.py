"""On-demand requests: which annotation values to serve now.

A person (through the CLI) asks the runner for a snapshot or a verification
by writing a new value (a timestamp) into wafleet.io/snapshot-request or
wafleet.io/verify-request. Each new value is served once, by the runner that
holds the lease:

- the values seen on the runner's first poll count as served, so a restart
  does not repeat a request (a verification downloads the whole snapshot);
- a runner without the lease serves nothing and remembers nothing, so a
  request made while it waits is served once it leads;
- removing the annotation asks for nothing, and setting it back to the value
  served repeats nothing (`contract.annotations.is_new_request`).

`next_requests` is the whole rule, pure; the runner's annotation watcher
only polls and carries out what it returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from session_runner.contract.annotations import (
    SNAPSHOT_REQUEST_ANNOTATION,
    VERIFY_REQUEST_ANNOTATION,
    is_new_request,
)


@dataclass(frozen=True)
class Served:
    """The request values already served (or seen at start-up)."""

    snapshot: str | None = None
    verify: str | None = None


@dataclass(frozen=True)
class Requests:
    """What to do after one poll: the requests to serve now, and what counts as served then."""

    served: Served
    verify: str | None = None  # verify the latest snapshot, answering this request
    snapshot: str | None = None  # take a snapshot now, for this request


def next_requests(
    served: Served | None, annotations: Mapping[str, str], *, leading: bool
) -> Requests:
    """Pure: the requests one poll of the account's annotations asks to serve.

    `served` is None before the first successful poll: whatever that poll
    finds counts as served. `leading`: this runner holds the lease.
    """
    snapshot = annotations.get(SNAPSHOT_REQUEST_ANNOTATION)
    verify = annotations.get(VERIFY_REQUEST_ANNOTATION)
    if served is None:
        return Requests(Served(snapshot=snapshot, verify=verify))
    if not leading:
        return Requests(served)
    new_verify = verify if is_new_request(verify, served.verify) else None
    new_snapshot = snapshot if is_new_request(snapshot, served.snapshot) else None
    return Requests(
        Served(
            snapshot=new_snapshot if new_snapshot is not None else served.snapshot,
            verify=new_verify if new_verify is not None else served.verify,
        ),
        verify=new_verify,
        snapshot=new_snapshot,
    )
