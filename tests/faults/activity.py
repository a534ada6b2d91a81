"""Reading the local engine's activity log: live intervals per runner, and their overlaps.

The local engine appends `{"event": "active"|"inactive", "identity", "t"}`
lines (fsynced) with `t = time.monotonic()`. CLOCK_MONOTONIC is system-wide
on Linux, so lines written by different processes compare directly.

Two things end or suspend an interval without a line, and the harness knows
both because it caused them:

* SIGKILL: the engine dies with its runner and writes nothing, so the
  interval ends at the kill (`killed_at`, taken after the kill was sent).
* SIGSTOP: the runner and its in-process engine are frozen and can do
  nothing until SIGCONT, so the frozen window is cut out of its interval
  (`frozen`). What remains after the SIGCONT, up to its "inactive" line, is
  the time the woken runner needed to notice its deadline and kill the
  engine; that part *does* count, minus `wake_grace` (the few event-loop
  ticks it takes on a loaded machine), and is reported separately.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

Span = tuple[float, float | None]


def intervals(log: Path, key: str = "identity") -> dict[str, list[Span]]:
    """Per identity (or per `key`, e.g. "pid": a restarted runner keeps its pod name but not its
    pid), the [active, inactive) intervals (end None: still open at the log's end)."""
    spans: dict[str, list[Span]] = {}
    if not log.exists():
        return spans
    for line in log.read_text().splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        mine = spans.setdefault(str(record[key]), [])
        if record["event"] == "active":
            mine.append((record["t"], None))
        elif mine and mine[-1][1] is None:
            mine[-1] = (mine[-1][0], record["t"])
    return spans


def active_now(log: Path) -> set[str]:
    """Identities whose last interval has no end yet."""
    return {who for who, spans in intervals(log).items() if spans and spans[-1][1] is None}


def overlaps(log: Path, killed_at: Mapping[str, float]) -> list[tuple[str, str]]:
    """Pairs of identities whose live intervals overlapped (a killed runner's ends at its kill).

    The simple form for tests without pauses; `find_overlaps` handles frozen windows.
    """
    flat = []
    for who, spans in intervals(log).items():
        for start, end in spans:
            flat.append((start, end if end is not None else killed_at.get(who, float("inf")), who))
    flat.sort()
    return [(a[2], b[2]) for a, b in itertools.pairwise(flat) if b[0] < a[1] and a[2] != b[2]]


@dataclass(frozen=True)
class Overlap:
    """Two runners live at once over [start, end) on the monotonic clock."""

    first: str
    second: str
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Piece:
    """A piece of one runner's live time; `after_wake` marks the piece right after a SIGCONT."""

    who: str
    start: float
    end: float
    after_wake: bool = False


def _cut(who: str, start: float, end: float, frozen: Sequence[tuple[float, float]]) -> list[Piece]:
    """[start, end) minus the frozen windows; the piece following a window is `after_wake`."""
    pieces: list[Piece] = []
    cursor, wake = start, False
    for stop_at, cont_at in sorted(frozen):
        if cont_at <= cursor or stop_at >= end:
            continue
        if stop_at > cursor:
            pieces.append(Piece(who, cursor, stop_at, wake))
        cursor, wake = max(cursor, cont_at), True
    if cursor < end:
        pieces.append(Piece(who, cursor, end, wake))
    return pieces


def live_pieces(
    spans: Mapping[str, Sequence[Span]],
    *,
    killed_at: Mapping[str, Sequence[float]],
    frozen: Mapping[str, Sequence[tuple[float, float]]],
    end_of_trial: float,
) -> list[Piece]:
    """Every runner's live time with frozen windows removed.

    An interval without an end stops at the first kill of that runner after its
    start (the engine died with the process), else at `end_of_trial`.
    """
    pieces: list[Piece] = []
    for who, mine in spans.items():
        for start, end in mine:
            if end is None:
                kills = [k for k in killed_at.get(who, ()) if k >= start]
                end = min(kills) if kills else end_of_trial
            pieces.extend(_cut(who, start, end, frozen.get(who, ())))
    return pieces


def find_overlaps(pieces: Sequence[Piece], *, wake_grace: float) -> list[Overlap]:
    """Overlaps between different runners' pieces, each after-wake piece shortened by `wake_grace`."""
    trimmed = []
    for piece in pieces:
        start = piece.start + wake_grace if piece.after_wake else piece.start
        if start < piece.end:
            trimmed.append(Piece(piece.who, start, piece.end, piece.after_wake))
    found = []
    for a, b in itertools.combinations(trimmed, 2):
        if a.who == b.who:
            continue
        start, end = max(a.start, b.start), min(a.end, b.end)
        if start < end:
            found.append(Overlap(a.who, b.who, start, end))
    return sorted(found, key=lambda o: o.start)


def wake_to_kill(pieces: Sequence[Piece]) -> list[float]:
    """How long each woken runner stayed live before its engine went inactive."""
    return [p.end - p.start for p in pieces if p.after_wake]
