"""`wafleet` (also `kubectl wafleet`): the operator's command line for people.

Commands whose capability has not landed exit 2 with one line saying so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import aiohttp
import typer
from rich.console import Console
from rich.table import Table

from session_runner import __version__
from session_runner.annotations import SNAPSHOT_REQUEST_ANNOTATION
from session_runner.cli.accounts import (
    accounts_path,
    get_account,
    list_accounts,
    qr_text,
    status_row,
)
from session_runner.kube.client import MERGE_PATCH, KubeApiError, KubeClient
from session_runner.kube.connection import KubeConfigError
from session_runner.not_built import not_built

T = TypeVar("T")

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


def _connect() -> KubeClient:
    try:
        return KubeClient.connect()
    except KubeConfigError as error:
        typer.echo(f"wafleet: {error}", err=True)
        raise typer.Exit(code=2) from None


async def _fetch(work: Callable[[KubeClient], Awaitable[T]]) -> T:
    async with _connect() as client:
        try:
            return await work(client)
        except KubeApiError as error:
            typer.echo(f"wafleet: {error}", err=True)
            raise typer.Exit(code=1) from None
        except (aiohttp.ClientError, OSError) as error:
            typer.echo(f"wafleet: cannot reach the API server: {error}", err=True)
            raise typer.Exit(code=1) from None


@app.command()
def status(
    namespace: str | None = typer.Option(None, "--namespace", "-n", help="Only this namespace."),
) -> None:
    """Show every account's phase, readiness, lease holder, fencing token and last snapshot."""
    items = asyncio.run(_fetch(lambda client: list_accounts(client, namespace)))
    table = Table(
        "NAMESPACE",
        "NAME",
        "PHONE",
        "ENGINE",
        "PHASE",
        "READY",
        "HOLDER",
        "TOKEN",
        "SNAPSHOT",
        "MESSAGE",
    )
    for account in sorted(
        items, key=lambda a: (a["metadata"].get("namespace", ""), a["metadata"]["name"])
    ):
        table.add_row(*status_row(account))
    Console().print(table)


@app.command()
def qr(
    account: str = typer.Argument(..., help="WhatsAppAccount name."),
    namespace: str = typer.Option("default", "--namespace", "-n"),
) -> None:
    """Draw the account's login QR code in the terminal (scan it with WhatsApp > Linked devices)."""
    body = asyncio.run(_fetch(lambda client: get_account(client, namespace, account)))
    status_ = body.get("status") or {}
    payload = status_.get("loginQr")
    if not payload:
        phase = status_.get("phase") or "unknown"
        typer.echo(
            f"wafleet qr: {namespace}/{account} is not awaiting login (phase {phase})", err=True
        )
        raise typer.Exit(code=1)
    typer.echo(qr_text(payload))
    typer.echo(
        f"{namespace}/{account}: scan within the QR's lifetime; it rotates, run again for the next one"
    )


@app.command()
def send() -> None:
    """Send one message."""
    not_built("wafleet send", "sender pool")


@app.command()
def bulk() -> None:
    """Start a bulk send from a CSV and follow it with a progress bar."""
    not_built("wafleet bulk", "bulk send")


@app.command()
def snapshot(
    account: str = typer.Argument(..., help="WhatsAppAccount name."),
    namespace: str = typer.Option("default", "--namespace", "-n"),
) -> None:
    """Ask the account's runner for a snapshot now (it watches the wafleet.io/snapshot-request annotation)."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    patch = {"metadata": {"annotations": {SNAPSHOT_REQUEST_ANNOTATION: stamp}}}
    asyncio.run(
        _fetch(
            lambda client: client.request(
                "PATCH", accounts_path(namespace, account), patch, content_type=MERGE_PATCH
            )
        )
    )
    typer.echo(
        f"{namespace}/{account}: snapshot requested at {stamp}; "
        "`wafleet status` shows it under SNAPSHOT once taken"
    )


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
