"""`wafleet messages show ID`: a message's state and history.

Through the API (`--api`): `GET /v1/messages/{id}`. Directly: the same three
reads the API makes (its record, the ledger entry, the delivery attributes, in
DynamoDB with the caller's AWS credentials) and the API's own pure
`message_state.summarize`, so either way prints the same lines.
"""

from __future__ import annotations

import asyncio
import re

import typer

from session_runner.cli.api_client import ApiClient
from session_runner.cli.messages import MessageView, from_summary, message_lines
from session_runner.cli.options import (
    ApiAccess,
    api_access,
    api_key_option,
    api_option,
    fail,
)
from session_runner.cli.problems import EXIT_USAGE, CommandError
from session_runner.cli.send_api import view_of
from session_runner.sender.message import MESSAGE_ID_PATTERN

COMMAND = "wafleet messages show"
_MESSAGE_ID = re.compile(MESSAGE_ID_PATTERN)

messages_app = typer.Typer(
    name="messages",
    help="Where messages are: their state and history.",
    no_args_is_help=True,
)


async def read_through_api(access: ApiAccess, message_id: str) -> MessageView:
    async with ApiClient(access.url, access.key, fields={"message_id": "ID"}) as client:
        return view_of(await client.message(message_id))


async def read_direct(message_id: str, ledger_table: str, requests_table: str) -> MessageView:
    """The message as the API would answer it, read from DynamoDB directly."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from session_runner.api.message_state import summarize
    from session_runner.api.records import MessageRecords, RecordsError
    from session_runner.cli.send import aws_failure
    from session_runner.dynamodb import client_config
    from session_runner.sender.ledger import Ledger, LedgerError

    try:
        dynamodb = boto3.client("dynamodb", config=client_config(5.0))
        records = MessageRecords(dynamodb, requests_table, ledger_table)
        record, entry, delivery = await asyncio.gather(
            records.get(message_id),
            Ledger(dynamodb, ledger_table).get(message_id),
            records.delivery(message_id),
        )
    except (RecordsError, LedgerError) as error:
        raise CommandError(f"AWS: {error}") from None
    except (BotoCoreError, ClientError) as error:
        raise CommandError(aws_failure(error)) from None
    summary = summarize(record, entry, delivery)
    if summary is None:
        raise CommandError(f"no message {message_id} (in {ledger_table})")
    return from_summary(message_id, summary, record, entry)


@messages_app.command("show")
def show(
    message_id: str = typer.Argument(..., metavar="ID", help="The message's id."),
    api: str | None = api_option(),
    api_key: str | None = api_key_option(),
    ledger_table: str = typer.Option(
        "wafleet-outbound-ledger", "--ledger-table", help="Directly: the ledger's DynamoDB table."
    ),
    requests_table: str | None = typer.Option(
        None,
        "--requests-table",
        help="Directly: the API's message records (default: the ledger's table, as the API).",
    ),
) -> None:
    """Show a message's state (queued, sending, sent, delivered, read, failed with the
    vendor's reason) and the steps it went through.

    Exit 0 when shown, 1 when there is no such message or it could not be read.
    """
    try:
        access = api_access(api, api_key)
        if not _MESSAGE_ID.match(message_id):
            raise CommandError(f"ID: not a message id ({MESSAGE_ID_PATTERN})", EXIT_USAGE)
        if access is not None:
            view = asyncio.run(read_through_api(access, message_id))
        else:
            view = asyncio.run(
                read_direct(message_id, ledger_table, requests_table or ledger_table)
            )
    except CommandError as error:
        fail(COMMAND, error)
    for line in message_lines(view):
        typer.echo(line)
