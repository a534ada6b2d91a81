"""The cluster as every command reaches it: the kubeconfig's API server and namespace.

Failures end the command with one line: a kubeconfig that cannot be used
exits 2 (nothing was tried), an API server that refused or did not answer 1.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp
import typer

from session_runner.kube.client import KubeClient
from session_runner.kube.connection import KubeConfigError, load_connection
from session_runner.kube.errors import APIError

T = TypeVar("T")


def connect() -> KubeClient:
    try:
        return KubeClient.connect()
    except KubeConfigError as error:
        typer.echo(f"wafleet: {error}", err=True)
        raise typer.Exit(code=2) from None


def namespace_of(option: str | None) -> str:
    """`-n` when given, else the namespace of the kubeconfig's current context (as kubectl)."""
    if option:
        return option
    try:
        return load_connection().namespace
    except KubeConfigError as error:
        typer.echo(f"wafleet: {error}", err=True)
        raise typer.Exit(code=2) from None


async def fetch(work: Callable[[KubeClient], Awaitable[T]]) -> T:
    """`work` with a client of the kubeconfig's cluster, its failures as one line."""
    async with connect() as client:
        try:
            return await work(client)
        except APIError as error:
            typer.echo(f"wafleet: {error}", err=True)
            raise typer.Exit(code=1) from None
        except (aiohttp.ClientError, OSError) as error:
            typer.echo(f"wafleet: cannot reach the API server: {error}", err=True)
            raise typer.Exit(code=1) from None
