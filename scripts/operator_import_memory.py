"""The operator's memory after import, as its image has it: `python scripts/operator_import_memory.py`.

The dev venv holds `kubernetes` and `kubernetes_asyncio` for the tests, and
kopf imports both whenever they are installed (kopf._cogs.helpers.thirdparty),
so `make bench ONLY=operator`, which runs the operator from the dev venv,
cannot show what leaving kubernetes_asyncio out of the operator image saves.
This script imports the operator in a child interpreter with those packages
hidden (an import hook refusing them, as if not installed), then reports RSS
and PSS (/proc/self/smaps_rollup), median of 3:

- before: `kubernetes` hidden, kubernetes_asyncio's client and config imported
  (the operator image until issue 14: its kube.py used them);
- after: both hidden (the image since: session_runner.kube is its client).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

CHILD = """
import gc, importlib.abc, json, sys
from pathlib import Path
hidden = set(sys.argv[1].split(","))
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in hidden:
            raise ModuleNotFoundError(name)
        return None
sys.meta_path.insert(0, Hide())
if "kubernetes_asyncio" not in hidden:
    import kubernetes_asyncio.client, kubernetes_asyncio.config
import wafleet_operator.main, wafleet_operator.handlers.startup
gc.collect()
lines = Path("/proc/self/smaps_rollup").read_text().splitlines()
kb = {l.split(":")[0]: int(l.split()[1]) for l in lines if l.startswith(("Rss:", "Pss:"))}
print(json.dumps({"rss_mb": kb["Rss"] / 1024, "pss_mb": kb["Pss"] / 1024}))
"""

CASES = {"before": "kubernetes", "after": "kubernetes,kubernetes_asyncio"}


def measure(hidden: str, runs: int = 3) -> dict[str, float]:
    """Median RSS and PSS (MB) of `runs` children importing the operator with `hidden` hidden."""
    samples = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", CHILD, hidden], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(runs)
    ]
    return {key: round(statistics.median(s[key] for s in samples), 1) for key in samples[0]}


def main() -> None:
    for case, hidden in CASES.items():
        print(case, measure(hidden))


if __name__ == "__main__":
    main()
