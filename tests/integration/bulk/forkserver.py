"""Bulk worker processes, started fast: a fork server that has imported the worker once.

`python -m tests.integration.bulk.forkserver` reads JSON commands on stdin:

    {"spawn": {"env": {...}, "log": "/path"}}  -> {"pid": N}
    {"reap": true}                              -> {"exited": [[pid, returncode], ...]}

A spawned child is a real, separate process running `session_runner.bulk.main.main` with
exactly that environment (the settings come from it, as in a pod); the test SIGKILLs it by
pid. Forking from a process that imported boto3 and the worker once (and has no threads)
saves each trial the ~1 s of a Python start on a loaded two-core machine, which is what
makes a hundred kill trials fit in a CI test. Children die with the server (PDEATHSIG),
and the server dies with the test (it is started with `dies_with_parent`).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
from typing import Any

PR_SET_PDEATHSIG = 1


def _child(env: dict[str, str], log: str) -> None:
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # the server's command pipe is not the worker's
    os.close(null)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.environ.update(env)
    code = 1
    try:
        from session_runner.bulk.main import main
        from session_runner.contract.bulk_settings import BulkSettings

        code = main(BulkSettings())
    except BaseException as error:  # the log says why; the exit code says it failed
        print(f"bulk worker crashed: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _warm() -> None:
    """Import what a worker imports, and load the AWS service models it uses (no threads,
    no connections: nothing a fork could break)."""
    import boto3

    import session_runner.bulk.main
    import session_runner.bulk.worker  # noqa: F401

    boto3.setup_default_session()
    for service in ("s3", "sns", "dynamodb"):
        boto3.client(service, region_name="us-east-1")


def _answer(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def serve() -> None:
    _warm()
    _answer({"ready": True})
    for line in sys.stdin:
        command = json.loads(line)
        if "spawn" in command:
            spawn = command["spawn"]
            pid = os.fork()
            if pid == 0:
                _child(spawn["env"], spawn["log"])
            _answer({"pid": pid})
        elif "reap" in command:
            exited: list[list[int]] = []
            while True:
                try:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                exited.append([pid, os.waitstatus_to_exitcode(status)])
            _answer({"exited": exited})


if __name__ == "__main__":
    serve()
