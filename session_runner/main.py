"""`wafleet-runner`: the one image that runs every wafleet worker process.

Each subcommand is one Deployment/StatefulSet role. All of them also run on a
laptop against a kubeconfig or the embedded moto server, for development.
"""

from __future__ import annotations

import typer

from session_runner import __version__
from session_runner.not_built import not_built

app = typer.Typer(
    name="wafleet-runner",
    help="wafleet's worker processes: session, sender, dispatcher, api.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback(invoke_without_command=True)
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit()


@app.command()
def session() -> None:
    """Hold the account's lease, restore its snapshot, run its WhatsApp engine."""
    not_built("wafleet-runner session", "session runner")


@app.command()
def sender() -> None:
    """Consume a SenderPool's queue and send idempotently through its vendor."""
    not_built("wafleet-runner sender", "sender pool")


@app.command()
def dispatcher() -> None:
    """Deliver events to WebhookSubscriptions: signed, retried, tombstoned."""
    not_built("wafleet-runner dispatcher", "webhook dispatcher")


@app.command()
def api() -> None:
    """Serve the HTTP API: send, bulk send, read job and message state."""
    not_built("wafleet-runner api", "HTTP API")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
