"""Print the requirements an image installs: pyproject.toml's `dependencies` plus groups.

    python requirements/group.py operator > /tmp/runtime.txt
    pip install -c requirements/constraints.txt -r /tmp/runtime.txt

The Dockerfiles install their group's requirements in a layer of their own
(rebuilt only when pyproject.toml or the pins change) and then the project
with `--no-deps`. Standard library only: it runs in the bare build stage.
A group naming `wafleet[...]` (dev) is expanded in place.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
_SELF = re.compile(r"^wafleet\[([^\]]+)\]$")


def requirements(groups: list[str], pyproject: Path = PYPROJECT) -> list[str]:
    """`dependencies` and every requirement of `groups`, in order, without repeats."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    extras: dict[str, list[str]] = project.get("optional-dependencies", {})
    out: list[str] = []
    seen_groups: set[str] = set()

    def add(items: list[str]) -> None:
        for item in items:
            match = _SELF.match(item.replace(" ", ""))
            if match:
                for group in match.group(1).split(","):
                    add_group(group)
            elif item not in out:
                out.append(item)

    def add_group(group: str) -> None:
        if group in seen_groups:
            return
        if group not in extras:
            raise SystemExit(f"no group {group!r} in {pyproject} (have: {', '.join(extras)})")
        seen_groups.add(group)
        add(extras[group])

    add(project.get("dependencies", []))
    for group in groups:
        add_group(group)
    return out


def main(argv: list[str]) -> int:
    if not argv:
        print(f"usage: {Path(__file__).name} GROUP [GROUP...]", file=sys.stderr)
        return 2
    print("\n".join(requirements(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
