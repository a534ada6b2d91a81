"""Memory of a set of processes as PSS, the figure that does not count shared pages twice.

RSS sums over Chromium's processes count its shared binary once per process and
overstate it 2-4x; PSS splits each shared page between the processes sharing it.
"""

from __future__ import annotations

from pathlib import Path


def pss_mb(pids: list[int]) -> float:
    """Sum of PSS over `pids` in MB (from /proc/PID/smaps_rollup; gone processes count 0)."""
    total_kb = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total_kb += int(line.split()[1])
                    break
        except OSError:
            continue
    return total_kb / 1024
