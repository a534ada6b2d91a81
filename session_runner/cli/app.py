"""`wafleet` (also `kubectl wafleet`): the operator's command line for people.

Commands whose capability has not landed exit 2 with one line saying so.
"""

from __future__ import annotations

import typer

from session_runner import __version__
from session_runner.not_built import not_built

app = typer.Typer(
    name="wafleet",
    help="Run WhatsApp accounts on Kubernetes: status, login, send, snapshots.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def version() -> None:
    """Print the client version."""
    typer.echo(__version__)


@app.command()
def status() -> None:
    """Show every account's phase, lease holder and last snapshot."""
    not_built("wafleet status", "operator")


@app.command()
def qr(account: str = typer.Argument(..., help="WhatsAppAccount name.")) -> None:
    """Draw the account's login QR code in the terminal."""
    del account
    not_built("wafleet qr", "engines")


@app.command()
def send() -> None:
    """Send one message."""
    not_built("wafleet send", "sender pool")


@app.command()
def bulk() -> None:
    """Start a bulk send from a CSV and follow it with a progress bar."""
    not_built("wafleet bulk", "bulk send")


@app.command()
def snapshot(account: str = typer.Argument(..., help="WhatsAppAccount name.")) -> None:
    """Take a snapshot of the account's session now."""
    del account
    not_built("wafleet snapshot", "snapshots")


@app.command()
def restore(account: str = typer.Argument(..., help="WhatsAppAccount name.")) -> None:
    """Restore the account from a chosen snapshot."""
    del account
    not_built("wafleet restore", "snapshots")


def main() -> None:
    """Console-script entry point (`wafleet` and the kubectl plugin `kubectl-wafleet`)."""
    app()


if __name__ == "__main__":
    main()
