"""`wafleet` (also `kubectl wafleet`): the operator's command line for people.

`send`, `bulk` and `messages` go through the HTTP API when given `--api URL`
(and an API key), else directly to AWS and the cluster. Commands whose
capability has not landed exit 2 with one line saying so.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from session_runner import __version__
from session_runner.cli.accounts import (
    get_account,
    list_accounts,
    qr_text,
    status_row,
    verify_answer,
)
from session_runner.cli.bulk_app import bulk_app
from session_runner.cli.cluster import fetch as _fetch
from session_runner.cli.cluster import namespace_of as _namespace
from session_runner.cli.messages import Goal
from session_runner.cli.messages_app import messages_app
from session_runner.cli.not_built import not_built
from session_runner.cli.options import (
    api_access,
    api_key_option,
    api_option,
    fail,
    target_problem,
)
from session_runner.cli.problems import EXIT_USAGE, CommandError
from session_runner.contract.annotations import (
    SNAPSHOT_REQUEST_ANNOTATION,
    VERIFY_REQUEST_ANNOTATION,
)
from session_runner.contract.resources import account_path
from session_runner.kube.client import MERGE_PATCH, KubeClient
from session_runner.kube.errors import APINotFoundError
from session_runner.sender.ledger_decision import LedgerState

app = typer.Typer(
    name="wafleet",
    help="Run WhatsApp accounts on Kubernetes: status, login, send, bulk sends, snapshots.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(bulk_app)
app.add_typer(messages_app)


@app.command()
def version() -> None:
    """Print the client version."""
    typer.echo(__version__)


@app.command()
def status(
    namespace: str | None = typer.Option(None, "--namespace", "-n", help="Only this namespace."),
) -> None:
    """Show every account's phase, readiness, lease holder, fencing token, last snapshot and verify."""
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
        "VERIFIED",
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
    namespace: str | None = typer.Option(
        None, "--namespace", "-n", help="Default: the kubeconfig context's namespace."
    ),
) -> None:
    """Draw the account's login QR code in the terminal (scan it with WhatsApp > Linked devices)."""
    namespace = _namespace(namespace)
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
def send(
    pool: str | None = typer.Option(None, "--pool", help="SenderPool to send through."),
    to: str = typer.Option(..., "--to", help="Recipient, E.164 (+14155550123)."),
    text: str | None = typer.Option(None, "--text", help="The message; a media file's caption."),
    template: str | None = typer.Option(
        None, "--template", help="A vendor template: Meta's name, or Twilio's Content SID."
    ),
    language: str | None = typer.Option(
        None, "--language", help="With --template: its language (en, en_US ...; default en)."
    ),
    var: list[str] = typer.Option(
        [], "--var", help="With --template: a variable, KEY=VALUE (repeat for each)."
    ),
    media: str | None = typer.Option(
        None, "--media", help="A media file's URL, which the vendor downloads."
    ),
    media_type: str | None = typer.Option(
        None, "--media-type", help="With --media: its type (default: from the file name)."
    ),
    idempotency_key: str | None = typer.Option(
        None, "--idempotency-key", help="Send once per key, however often this is repeated."
    ),
    target: str | None = typer.Option(
        None, "--target", help="With --api: the routing target itself, instead of --pool."
    ),
    namespace: str | None = typer.Option(
        None, "--namespace", "-n", help="Default: the kubeconfig context's namespace."
    ),
    api: str | None = api_option(),
    api_key: str | None = api_key_option(),
    topic: str = typer.Option(
        "wafleet-outbound", "--topic", help="Directly: the outbound SNS topic (name or ARN)."
    ),
    ledger_table: str = typer.Option(
        "wafleet-outbound-ledger", "--ledger-table", help="Directly: the ledger's DynamoDB table."
    ),
    wait: bool = typer.Option(False, "--wait", help="Follow the message until sent or failed."),
    until: str = typer.Option(
        "sent",
        "--until",
        help="With --wait, follow it further: sent, delivered or read (from delivery statuses).",
    ),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait with --wait."),
) -> None:
    """Send one message through a SenderPool (exactly once per --idempotency-key): a text,
    a template (--template, --var), or a media file by URL (--media, --text its caption).

    With --api URL (or WAFLEET_API_URL), through the HTTP API with --api-key (or
    WAFLEET_API_KEY). Else directly: AWS is reached as boto3 does (AWS_ENDPOINT_URL,
    AWS_DEFAULT_REGION, credentials chain) and the pool read from the cluster. Exit 0
    when accepted (with --wait: when sent, or as far as --until says), 1 when it failed
    or did not get there in time, 2 for bad arguments.
    """
    from session_runner.cli.send import SendError, pool_target
    from session_runner.cli.send_api import send_through_api
    from session_runner.cli.send_content import message_content

    try:
        content = message_content(
            text=text,
            template=template,
            language=language,
            variable_pairs=var,
            media=media,
            media_type=media_type,
        )
        access = api_access(api, api_key)
        if until not in {goal.value for goal in Goal}:
            raise CommandError(
                f"--until: one of {', '.join(goal.value for goal in Goal)}, not {until!r}",
                EXIT_USAGE,
            )
        problem = target_problem(pool, target, access is not None)
        if problem is not None:
            raise CommandError(problem, EXIT_USAGE)
    except CommandError as error:
        fail("wafleet send", error)
    if access is None:
        assert pool is not None
        _send_directly(
            pool, to, content, idempotency_key, namespace, topic, ledger_table, wait, until, timeout
        )
        return
    if target is None:
        assert pool is not None
        ns = _namespace(namespace)
        try:
            target = asyncio.run(_fetch(lambda client: pool_target(client, ns, pool)))
        except SendError as error:
            fail("wafleet send", CommandError(str(error)))
    try:
        message_id, outcome = asyncio.run(
            send_through_api(
                access,
                target=target,
                to=to,
                content=content,
                idempotency_key=idempotency_key,
                target_option="--pool" if pool else "--target",
                goal=Goal(until) if wait else None,
                timeout_s=timeout,
            )
        )
    except CommandError as error:
        fail("wafleet send", error)
    typer.echo(f"{message_id}: {outcome}")


def _send_directly(
    pool: str,
    to: str,
    content: dict[str, Any],
    idempotency_key: str | None,
    namespace: str | None,
    topic: str,
    ledger_table: str,
    wait: bool,
    until: str,
    timeout: float,
) -> None:
    """`wafleet send` without the API: the pool's target from the cluster, the message
    published to the outbound topic, the ledger (and delivery statuses) followed."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError
    from pydantic import ValidationError

    from session_runner.cli.send import (
        SendError,
        aws_failure,
        describe,
        follow,
        follow_delivery,
        pool_target,
        reached,
        topic_arn,
    )
    from session_runner.events.delivery import DeliveryError, DeliveryLedger
    from session_runner.sender.ledger import Ledger, LedgerError
    from session_runner.sender.message import OutboundMessage, new_message_id
    from session_runner.sender.publish import publish
    from session_runner.session.engines.events import AckStatus

    goals = {s.value: s for s in (AckStatus.SENT, AckStatus.DELIVERED, AckStatus.READ)}
    namespace = _namespace(namespace)
    try:
        target = asyncio.run(_fetch(lambda client: pool_target(client, namespace, pool)))
        message = OutboundMessage.model_validate(
            {"id": idempotency_key or new_message_id(), "target": target, "to": to, **content}
        )
    except SendError as error:
        typer.echo(f"wafleet send: {error}", err=True)
        raise typer.Exit(code=1) from None
    except ValidationError as error:
        for item in error.errors():
            field = {"id": "--idempotency-key"}.get(str(item["loc"][0]), f"--{item['loc'][0]}")
            typer.echo(f"wafleet send: {field}: {item['msg']}", err=True)
        raise typer.Exit(code=2) from None

    async def publish_and_follow() -> str:
        sns = boto3.client("sns")
        await publish(sns, await asyncio.to_thread(topic_arn, sns, topic), message)
        if not wait:
            return "published"
        started = time.monotonic()
        dynamodb = boto3.client("dynamodb")
        entry = await follow(Ledger(dynamodb, ledger_table), message.id, timeout)
        if entry is None or entry.state is not LedgerState.SENT:
            raise SendError(describe(entry))
        goal = goals[until]
        if goal is AckStatus.SENT:
            return describe(entry)
        left = max(0.0, timeout - (time.monotonic() - started))
        status = await follow_delivery(
            DeliveryLedger(dynamodb, ledger_table), message.id, goal, left
        )
        if status is None or not reached(status, goal) or status is AckStatus.FAILED:
            seen = status.value if status is not None else "no delivery status yet"
            raise SendError(f"{describe(entry)}, not {goal.value}: {seen}")
        return f"{describe(entry)}, {status.value}"

    try:
        outcome = asyncio.run(publish_and_follow())
    except SendError as error:
        typer.echo(f"wafleet send: {message.id}: {error}", err=True)
        raise typer.Exit(code=1) from None
    except (BotoCoreError, ClientError, LedgerError, DeliveryError) as error:
        typer.echo(f"wafleet send: {message.id}: {aws_failure(error)}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(f"{message.id}: {outcome}")


@app.command()
def snapshot(
    account: str = typer.Argument(..., help="WhatsAppAccount name."),
    namespace: str | None = typer.Option(
        None, "--namespace", "-n", help="Default: the kubeconfig context's namespace."
    ),
) -> None:
    """Ask the account's runner for a snapshot now (it watches the wafleet.io/snapshot-request annotation)."""
    namespace = _namespace(namespace)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    patch = {"metadata": {"annotations": {SNAPSHOT_REQUEST_ANNOTATION: stamp}}}
    asyncio.run(
        _fetch(
            lambda client: client.request(
                "PATCH", account_path(namespace, account), patch, content_type=MERGE_PATCH
            )
        )
    )
    typer.echo(
        f"{namespace}/{account}: snapshot requested at {stamp}; "
        "`wafleet status` shows it under SNAPSHOT once taken"
    )


async def _request_verify(
    client: KubeClient, namespace: str, account: str, wait: bool, wait_seconds: float
) -> tuple[int, str, bool]:
    """Set the verify-request annotation; with `wait`, poll until the runner answers it.

    Returns (exit code, line, whether the line is an error for stderr); the
    runner's answer, damaged or not, is the command's result and goes to stdout.
    """
    try:
        body = await get_account(client, namespace, account)
    except APINotFoundError:
        return 1, f"no WhatsAppAccount {namespace}/{account} (HTTP 404)", True
    if not (body.get("spec") or {}).get("snapshot"):
        return 1, "no spec.snapshot: there is no snapshot to verify", True
    request = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    patch = {"metadata": {"annotations": {VERIFY_REQUEST_ANNOTATION: request}}}
    await client.request("PATCH", account_path(namespace, account), patch, content_type=MERGE_PATCH)
    if not wait:
        return (
            0,
            f"verification requested ({request}); the runner answers under "
            "status.runner.lastVerify (or run again with --wait)",
            False,
        )
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        runner = ((await get_account(client, namespace, account)).get("status") or {}).get(
            "runner"
        ) or {}
        answer = verify_answer(runner.get("lastVerify"), request)
        if answer is not None:
            return answer[0], answer[1], False
    return (
        1,
        f"no answer to request {request} within {wait_seconds:g} s; is a runner holding "
        "the lease? (`wafleet status` shows the phase and holder)",
        True,
    )


@app.command()
def verify(
    account: str = typer.Argument(..., help="WhatsAppAccount name."),
    namespace: str | None = typer.Option(
        None, "--namespace", "-n", help="Default: the kubeconfig context's namespace."
    ),
    wait: bool = typer.Option(False, "--wait", help="Wait for the runner's answer and print it."),
    timeout: float = typer.Option(600.0, "--timeout", help="Seconds to wait with --wait."),
) -> None:
    """Verify the latest snapshot now: every chunk downloaded and checked, nothing restored.

    Sets the wafleet.io/verify-request annotation; the runner holding the lease
    answers under status.runner.lastVerify. With --wait: exit 0 when the
    snapshot is whole, 1 when it is damaged (the damaged chunks are uploaded
    again by the next snapshot) or could not be checked. The answer also names
    the encryption key ids the kept snapshots still need, and the retired
    ones that may leave the key Secret (key rotation: docs/snapshots.md).
    """
    namespace = _namespace(namespace)
    code, line, error = asyncio.run(
        _fetch(lambda client: _request_verify(client, namespace, account, wait, timeout))
    )
    typer.echo(f"{'wafleet verify: ' if error else ''}{namespace}/{account}: {line}", err=error)
    raise typer.Exit(code=code)


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
