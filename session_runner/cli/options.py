"""The options the messaging commands share, and the choices they make from them. Pure.

`--api URL` (or WAFLEET_API_URL) sends through the HTTP API with `--api-key`
(or WAFLEET_API_KEY); without it, a command works directly: the cluster
through the kubeconfig, AWS through boto3's usual environment. The key is a
secret: help never shows its value, and no line the CLI prints carries it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

import typer

from session_runner.cli.api_client import (
    API_KEY_ENV,
    API_URL_ENV,
    api_key_problem,
    api_url_problem,
)
from session_runner.cli.problems import EXIT_USAGE, CommandError


def api_option() -> Any:
    return typer.Option(
        None,
        "--api",
        envvar=API_URL_ENV,
        show_default=False,
        help="The wafleet HTTP API's URL: go through it instead of AWS and the cluster.",
    )


def api_key_option() -> Any:
    return typer.Option(
        None,
        "--api-key",
        envvar=API_KEY_ENV,
        show_default=False,
        show_envvar=True,
        help="The API key, with --api (prefer the environment variable: a flag shows in `ps`).",
    )


def namespace_option() -> Any:
    return typer.Option(
        None, "--namespace", "-n", help="Default: the kubeconfig context's namespace."
    )


@dataclass(frozen=True)
class ApiAccess:
    """Where the API is and the key to call it with (repr hides the key)."""

    url: str
    key: str

    def __repr__(self) -> str:
        return f"ApiAccess(url={self.url!r}, key=<hidden>)"


def api_access(url: str | None, key: str | None) -> ApiAccess | None:
    """The API to go through, None to work directly; CommandError (exit 2) for a bad URL or
    key. A key without --api is ignored: it may well sit in the environment for other uses."""
    if url is None:
        return None
    url = url.strip()
    key = key.strip() if key else key
    for problem in (api_url_problem(url), api_key_problem(key)):
        if problem is not None:
            raise CommandError(problem, EXIT_USAGE)
    assert key is not None
    return ApiAccess(url=url, key=key)


def target_problem(pool: str | None, target: str | None, through_api: bool) -> str | None:
    """Why `--pool` / `--target` cannot say where messages go, or None.

    `--pool NAME` reads the SenderPool's spec.target from the cluster (either way);
    `--target` names the routing target itself, through the API only: the API checks
    that a pool routes it, while a direct send relies on reading the pool for that.
    """
    if pool and target:
        return "--pool, --target: give one of them, not both"
    if not pool and not target:
        return "--pool: required (the SenderPool to send through; or --target with --api)"
    if target and not through_api:
        return (
            "--target: only with --api (a direct send reads the pool's target and checks "
            "its queue: give --pool)"
        )
    return None


def fail(command: str, error: CommandError) -> NoReturn:
    """End `command` with its error's line on stderr and its exit code."""
    typer.echo(f"{command}: {error.line}", err=True)
    raise typer.Exit(code=error.code)
