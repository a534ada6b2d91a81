"""Run the benchmarks: every module bench/bench_<name>.py with a `run()` returning results."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Callable
from typing import cast

import bench
from bench.result import BenchResult, emit


def discover() -> dict[str, str]:
    """Map benchmark name (hyphenated, as `ONLY=` takes it) to its module."""
    found: dict[str, str] = {}
    for module in pkgutil.iter_modules(bench.__path__):
        if module.name.startswith("bench_"):
            found[module.name.removeprefix("bench_").replace("_", "-")] = f"bench.{module.name}"
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("--only", help="run just this benchmark (ONLY=name)")
    args = parser.parse_args(argv)
    available = discover()
    if args.only and args.only not in available:
        names = ", ".join(sorted(available)) or "none yet"
        print(f"ONLY={args.only}: no such benchmark (available: {names})", file=sys.stderr)
        return 2
    selected = [args.only] if args.only else sorted(available)
    if not selected:
        print("no benchmarks yet", file=sys.stderr)
        return 0
    for name in selected:
        print(f"# bench {name}", file=sys.stderr, flush=True)
        module = importlib.import_module(available[name])
        run = cast(Callable[[], list[BenchResult]], module.run)
        emit(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
