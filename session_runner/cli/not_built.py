"""One message for commands whose capability has not landed yet.

They exit 2 (usage error) rather than pretending to work, so scripts notice.
"""

from __future__ import annotations

import typer

EXIT_NOT_BUILT = 2


def not_built(command: str, issue: str) -> None:
    """Print one line naming what is missing and exit 2."""
    typer.echo(f"{command}: not built yet (lands with the {issue} work)", err=True)
    raise typer.Exit(code=EXIT_NOT_BUILT)
