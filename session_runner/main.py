"""`wafleet-runner`: the one image that runs every wafleet worker process.

Each subcommand is one Deployment/StatefulSet role. All of them also run on a
laptop against a kubeconfig or the embedded moto server, for development.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import typer
from pydantic_settings import BaseSettings

from session_runner import __version__

SettingsT = TypeVar("SettingsT", bound=BaseSettings)

app = typer.Typer(
    name="wafleet-runner",
    help="wafleet's worker processes: session, sender, ingest, dispatcher, api.",
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
def session(
    account: str | None = typer.Option(None, help="WhatsAppAccount name (WAFLEET_ACCOUNT_NAME)."),
    namespace: str | None = typer.Option(None, help="Its namespace (WAFLEET_NAMESPACE)."),
    identity: str | None = typer.Option(None, help="Lease holder identity (WAFLEET_POD_NAME)."),
    engine: str | None = typer.Option(None, help="browser, protocol or local (WAFLEET_ENGINE)."),
    phone: str | None = typer.Option(
        None, help="The account's E.164 number (WAFLEET_PHONE_NUMBER)."
    ),
    lease_backend: str | None = typer.Option(
        None, help="kubernetes or dynamodb (WAFLEET_LEASE_BACKEND)."
    ),
    session_dir: Path | None = typer.Option(None, help="Session folder (WAFLEET_SESSION_DIR)."),
    health_port: int | None = typer.Option(None, help="Probe port, 0 to disable."),
) -> None:
    """Hold the account's lease, restore its snapshot, run its WhatsApp engine."""
    from pydantic import ValidationError

    from session_runner.contract.settings import RunnerSettings
    from session_runner.session.main import main as run

    flags: dict[str, tuple[str, object]] = {
        "account_name": ("--account", account),
        "namespace": ("--namespace", namespace),
        "pod_name": ("--identity", identity),
        "engine": ("--engine", engine),
        "phone_number": ("--phone", phone),
        "lease_backend": ("--lease-backend", lease_backend),
        "session_dir": ("--session-dir", session_dir),
        "health_port": ("--health-port", health_port),
    }
    overrides = {key: value for key, (_, value) in flags.items() if value is not None}
    try:
        settings = RunnerSettings.model_validate(overrides)
    except ValidationError as error:
        for item in error.errors():
            name = ".".join(str(part) for part in item["loc"]) or "settings"
            flag = flags.get(name, ("--" + name.replace("_", "-"), None))[0]
            typer.echo(
                f"wafleet-runner session: {flag} (WAFLEET_{name.upper()}): {item['msg']}", err=True
            )
        raise typer.Exit(code=2) from None
    raise typer.Exit(code=run(settings))


def _settings_from_env(model: type[SettingsT], prefix: str, command: str) -> SettingsT:
    """The command's settings, all from the environment; a bad one exits 2 naming its variable."""
    from pydantic import ValidationError

    try:
        return model.model_validate({})
    except ValidationError as error:
        for item in error.errors():
            name = ".".join(str(part) for part in item["loc"]) or "settings"
            typer.echo(f"wafleet-runner {command}: {prefix}{name.upper()}: {item['msg']}", err=True)
        raise typer.Exit(code=2) from None


@app.command()
def sender() -> None:
    """Consume a SenderPool's queue and send each message once through its vendor.

    Configured by WAFLEET_SENDER_* variables (the operator renders them).
    """
    from session_runner.contract.sender_settings import SENDER_ENV_PREFIX, SenderSettings
    from session_runner.sender.main import main as run

    settings = _settings_from_env(SenderSettings, SENDER_ENV_PREFIX, "sender")
    raise typer.Exit(code=run(settings))


@app.command()
def ingest() -> None:
    """Receive vendor webhooks (Meta, Twilio): verify, normalise, publish events.

    Configured by WAFLEET_INGEST_* variables.
    """
    from session_runner.contract.ingest_settings import INGEST_ENV_PREFIX, IngestSettings
    from session_runner.ingest.main import main as run

    settings = _settings_from_env(IngestSettings, INGEST_ENV_PREFIX, "ingest")
    raise typer.Exit(code=run(settings))


@app.command()
def dispatcher() -> None:
    """Deliver events to WebhookSubscriptions: signed, retried, tombstoned.

    Configured by WAFLEET_DISPATCHER_* variables.
    """
    from session_runner.contract.dispatcher_settings import (
        DISPATCHER_ENV_PREFIX,
        DispatcherSettings,
    )
    from session_runner.dispatcher.main import main as run

    settings = _settings_from_env(DispatcherSettings, DISPATCHER_ENV_PREFIX, "dispatcher")
    raise typer.Exit(code=run(settings))


@app.command()
def api() -> None:
    """Serve the HTTP API: send, bulk send, read job and message state.

    Configured by WAFLEET_API_* variables (and WAFLEET_BULK_* for bulk sends).
    """
    from session_runner.api.main import main as run
    from session_runner.contract.api_settings import API_ENV_PREFIX, ApiSettings

    settings = _settings_from_env(ApiSettings, API_ENV_PREFIX, "api")
    raise typer.Exit(code=run(settings))


@app.command("bulk-worker")
def bulk_worker() -> None:
    """Publish bulk jobs' rows: claim a job, stream its CSV, publish each valid row once.

    Configured by WAFLEET_BULK_* variables.
    """
    from session_runner.bulk.main import main as run
    from session_runner.contract.bulk_settings import BULK_ENV_PREFIX, BulkSettings

    settings = _settings_from_env(BulkSettings, BULK_ENV_PREFIX, "bulk-worker")
    raise typer.Exit(code=run(settings))


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
