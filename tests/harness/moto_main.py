"""The moto server process that `devserver.MotoServer` runs: moto's own application,
served without three costs of its development server and with one guarantee DynamoDB
gives.

`python -m tests.harness.moto_main -H HOST -p PORT` serves the application the
`moto_server` command serves (`DomainDispatcherApplication`: the same Flask
apps and backends, so the same answers), with:

- **connections kept alive.** `moto_server` runs werkzeug's development
  server, which closes the connection after every answer (it cannot drain a
  request body it did not read): every AWS call paid a TCP connect and a new
  server thread, and boto3 logged "Resetting dropped connection" per call.
  waitress (a production WSGI server, pure Python) keeps HTTP/1.1 connections
  open, as AWS does. One quirk of waitress 3.0.2 is worked around: it answers
  `Expect: 100-continue` on a request with an empty body (boto3 sends one
  for an empty PutObject) with `100 Continue` and then never serves it
  (`send_continue` marks the finished request unfinished), so such requests
  get no `100 Continue`, which HTTP allows (RFC 9110, 10.1.1).
- **moto's module list read once.** moto's dispatcher finds the service of
  every request by listing its own package directory (`list_of_moto_modules`:
  an `os.listdir` and an `isdir` per entry) under a lock: 32 % of the server's
  CPU under load, measured with py-spy on 2026-12-06. The package does not
  change while the server runs, so the list is read at start-up.
- **SQS's clock read cheaply.** moto's SQS asks every message of a queue
  whether it is visible or delayed on each send, receive and count, and each
  asks the time through `unix_time_millis`, which builds and subtracts two
  datetimes: 85 % of a send's CPU with 3,000 messages queued (cProfile,
  2026-12-06), which made a 10,000-row bulk job crawl through a session
  pool's queue. The same number, epoch milliseconds, comes from `time.time()`.
- **DynamoDB's writes serialised.** moto checks a ConditionExpression and then
  writes, with no lock in between: two concurrent conditional writes to one
  item could both pass (two claims of one ledger id, two records of one
  Idempotency-Key). DynamoDB serialises writes per item; here every DynamoDB
  request runs under one lock (each takes a millisecond or two; SQS's long
  polls are not touched), so concurrent tests measure our exactly-once, not
  moto's race.

- **Transactions without table copies.** moto's TransactWriteItems deep-copies
  every table it touches before it starts, to roll back on a failure: 245 ms
  for 50 puts into a 1,000-item table, 3.6 s at 6,000 items (measured
  2026-12-07), where DynamoDB's cost is per item. A transaction whose
  conditions all hold (the writes are serialised, so they still hold when it
  writes) is written item by item, undoing the items written if one fails
  part-way (and then left to moto's own code); one whose conditions fail is
  cancelled with the reasons moto gives, per item (its items are distinct, so
  judging each against the table as it is equals moto's judging in order).

- **No full collections of what the server keeps.** Python's full garbage
  collection walks every object the server holds, and a moto server holds every
  item, message and object a test stored: 14 to 105 ms pauses, every request
  held up behind them, four times in one API bench (gc.callbacks, 2026-12-07);
  real AWS does not pause our processes. What survives a full collection is
  frozen (`gc.freeze`), so the next one walks only what came since; objects
  freed by reference counting are freed as before.

What AWS answers is unchanged: these are costs and a race of the stand-in that
real AWS does not have. `tests/harness_tests/test_moto_main.py` holds it
to that.
"""

from __future__ import annotations

import argparse
import gc
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

#: waitress answers from a fixed pool of threads, and an SQS long poll holds one for up to
#: 20 s: enough for every receiver a test or the demo runs at once, with room for the rest.
THREADS: Final = 128


def serve_empty_bodies_at_once() -> None:
    """waitress's requests with `Expect: 100-continue` and no body are served without the
    `100 Continue` that would strand them (see the module's docstring)."""
    from waitress.channel import HTTPChannel
    from waitress.parser import HTTPRequestParser

    class Parser(HTTPRequestParser):  # type: ignore[misc]
        def parse_header(self, header_plus: bytes) -> None:
            super().parse_header(header_plus)
            if not self.chunked and self.content_length == 0:
                self.expect_continue = False

    HTTPChannel.parser_class = Parser


def read_module_list_once() -> None:
    """moto's dispatcher asks `backends.list_of_moto_modules()` per request: answer from a
    list read now."""
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())

    def listed() -> Iterable[str]:
        return iter(modules)

    backends.list_of_moto_modules = listed


def read_sqs_clock_cheaply() -> None:
    """SQS's per-message visibility checks read the time from `time.time()` (the same epoch
    milliseconds moto's `unix_time_millis` computes from datetimes)."""
    from moto.sqs import models

    from_datetimes = getattr(models, "unix_time_millis")  # noqa: B009  (not re-exported)

    def unix_time_millis(dt: Any = None) -> float:
        return time.time() * 1000.0 if dt is None else float(from_datetimes(dt))

    setattr(models, "unix_time_millis", unix_time_millis)  # noqa: B010


def serialise_dynamodb() -> None:
    """One DynamoDB request at a time, as DynamoDB serialises writes to an item."""
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.Lock()
    call_action = DynamoHandler.call_action

    def atomic_call_action(self: DynamoHandler) -> Any:
        with lock:
            return call_action(self)

    DynamoHandler.call_action = atomic_call_action  # type: ignore[method-assign]


@dataclass(frozen=True)
class Judged:
    """One item of a transaction as `outcomes` judged it, for the writes that follow."""

    op_type: str
    op: dict[str, Any]
    key: dict[str, Any]
    current: Any  # moto's stored Item, or None
    reason: tuple[str | None, str | None, Any]


def transact_without_table_copies() -> None:
    """TransactWriteItems that will succeed is written item by item (see the docstring)."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import ConditionalCheckFailed, TransactionCanceledException
    from moto.dynamodb.models import DynamoDBBackend

    moto_transact = DynamoDBBackend.transact_write_items

    def key_of(backend: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
        if op_type != "Put":
            return dict(op["Key"])
        table = backend.get_table(op["TableName"])
        key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
        if table.range_key_attr is not None:
            key[table.range_key_attr] = op["Item"][table.range_key_attr]
        return key

    def outcomes(backend: Any, transact_items: list[dict[str, Any]]) -> list[Judged] | None:
        """Per item, its key, its stored item and moto's cancellation reason (`(code,
        message, item)`, or three Nones when its condition holds), judged without writing;
        None when not sure (an item named twice, an unknown operation): moto's own code
        answers those."""
        seen: set[tuple[str, str]] = set()
        judged: list[Judged] = []
        parsed: dict[str, Any] = {}  # a transaction's items usually share one condition

        def condition_of(op: dict[str, Any]) -> Any:
            args = (
                op["ConditionExpression"],
                op.get("ExpressionAttributeNames"),
                op.get("ExpressionAttributeValues"),
            )
            cache_key = repr(args)
            if cache_key not in parsed:
                parsed[cache_key] = get_filter_expression(*args)
            return parsed[cache_key]

        for item in transact_items:
            if len(item) != 1:
                return None
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                return None
            key = key_of(backend, op_type, op)
            named = (str(op["TableName"]), str(dict(sorted(key.items()))))
            if named in seen:
                return None
            seen.add(named)
            condition = op.get("ConditionExpression")
            current = backend.get_item(op["TableName"], key)
            reason: tuple[str | None, str | None, Any] = (None, None, None)
            if condition is not None and not condition_of(op).expr(current):
                old = None
                if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                    old = current.to_json()["Attributes"]
                reason = ("ConditionalCheckFailed", ConditionalCheckFailed().message, old)
            judged.append(Judged(op_type, op, key, current, reason))
        return judged

    def write(backend: Any, op_type: str, op: dict[str, Any], key: dict[str, Any]) -> None:
        """The item's write, its condition not judged again: `outcomes` just did, and no
        other DynamoDB request runs in between (`serialise_dynamodb`)."""
        if op_type == "Put":
            backend.put_item(op["TableName"], op["Item"])
        elif op_type == "Delete":
            backend.delete_item(op["TableName"], key)
        elif op_type == "Update":
            backend.update_item(
                op["TableName"],
                key,
                update_expression=op["UpdateExpression"],
                expression_attribute_names=op.get("ExpressionAttributeNames"),
                expression_attribute_values=op.get("ExpressionAttributeValues"),
            )

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        try:
            judged = outcomes(self, transact_items) if len(transact_items) <= 100 else None
        except Exception:  # whatever moto makes of it, it says so itself
            judged = None
        if judged is None:
            return moto_transact(self, transact_items)
        reasons = [one.reason for one in judged]
        if any(code is not None for code, _, _ in reasons):
            raise TransactionCanceledException(reasons)
        written: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
        try:
            for one in judged:
                table_name = one.op["TableName"]
                # as stored before this write (an update changes the stored Item in place)
                before = one.current.to_json()["Attributes"] if one.current else None
                written.append((table_name, one.key, before))
                write(self, one.op_type, one.op, one.key)
        except Exception:
            for table_name, key, before in reversed(written):
                if before is None:
                    self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, before)
            return moto_transact(self, transact_items)
        return None

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def freeze_what_full_collections_keep() -> None:
    """After each full collection, freeze what survived it (see the module docstring)."""

    def after(phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info["generation"] == 2:
            gc.freeze()

    gc.callbacks.append(after)


def application() -> Any:
    """moto's WSGI application, as `moto.server.main` builds it."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True  # type: ignore[attr-defined]  # as moto.server.main sets it
    return app


def main(argv: list[str] | None = None) -> None:
    from waitress import serve

    parser = argparse.ArgumentParser(description="moto's AWS stand-in, kept-alive connections")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))  # moto builds its URLs from it
    serve_empty_bodies_at_once()
    read_module_list_once()
    read_sqs_clock_cheaply()
    serialise_dynamodb()
    transact_without_table_copies()
    freeze_what_full_collections_keep()
    serve(
        application(),
        host=args.host,
        port=args.port,
        threads=THREADS,
        connection_limit=1000,
        channel_timeout=120,
        ident="moto",
    )


if __name__ == "__main__":
    main()
