"""Entry point of `wafleet-operator`."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Start the operator (the reconcilers land with the operator issue)."""
    del argv
    print("wafleet-operator: the reconcilers are not built yet", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
