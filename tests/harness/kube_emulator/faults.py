"""Fault injection: make chosen requests fail the way a flaky API server does.

A lease client or an operator must survive 409s, 5xx, timeouts, slowness
and dropped connections; these let a test cause exactly those, for exactly
the requests it means, without touching the code under test:

    rule = kube_api.faults.inject(method="PUT", path=r"/leases/", status=409, times=2)
    ...                       # the next two PUTs of a lease answer 409 Conflict
    assert rule.hits == 2

    kube_api.faults.inject(path=r"/leases/", delay=0.5, times=None)   # every lease call is slow
    kube_api.faults.inject(method="GET", path=r"/leases/x$", drop=True)  # connection closed, no answer
    kube_api.faults.clear()

A rule matches by HTTP method (None: any) and a regular expression searched
in the URL path (None: any path). `times` requests are affected, then the rule
retires (None: forever). The action: wait `delay` seconds, then answer
`status` with a real-looking Status body (409 Conflict, 500 InternalError,
504 Timeout, …), or `drop` the connection without any response, or, with
neither, go on to serve the request normally (latency only). The oldest
matching rule with requests left wins.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field


@dataclass
class FaultRule:
    method: str | None = None
    path: str | None = None
    times: int | None = 1
    status: int | None = None
    delay: float = 0.0
    drop: bool = False
    message: str | None = None
    hits: int = 0
    _pattern: re.Pattern[str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._pattern = re.compile(self.path) if self.path is not None else None
        self.method = self.method.upper() if self.method else None

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def matches(self, method: str, path: str) -> bool:
        if self.exhausted or (self.method is not None and self.method != method.upper()):
            return False
        return self._pattern is None or self._pattern.search(path) is not None


class Faults:
    """The fault rules of one emulator; thread-safe (tests add rules while the server runs)."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def inject(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        times: int | None = 1,
        status: int | None = None,
        delay: float = 0.0,
        drop: bool = False,
        message: str | None = None,
    ) -> FaultRule:
        """Add a rule (see the module docstring); returns it so a test can read `hits`."""
        if status is not None and drop:
            raise ValueError("a fault either answers a status or drops the connection, not both")
        rule = FaultRule(method, path, times, status, delay, drop, message)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def take(self, method: str, path: str) -> FaultRule | None:
        """The rule this request falls under (counted as hit), or None."""
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path):
                    rule.hits += 1
                    return rule
        return None
