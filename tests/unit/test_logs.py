"""JSON log lines as a process writes them: a record's `extra` must reach its line.

Each case runs `logs.configure` in a fresh interpreter (it replaces the root
logger's handlers) and reads the line the process wrote to stderr.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any


def json_lines_of(program: str) -> list[dict[str, Any]]:
    """Run `program` after `logs.configure("info", "json")`; the JSON lines it logged."""
    source = "from session_runner import logs\nlogs.configure('info', 'json')\n" + textwrap.dedent(
        program
    )
    done = subprocess.run(
        [sys.executable, "-c", source], capture_output=True, text=True, timeout=60, check=True
    )
    return [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]


def test_the_electors_extra_fields_reach_the_json_line() -> None:
    """What an incident is searched by: which process took the lease, with which token."""
    (line,) = json_lines_of(
        """
        import logging
        logging.getLogger("session_runner.session.lease.elector").info(
            "lease acquired", extra={"identity": "waa-demo-0_4f2a", "token": 7}
        )
        """
    )
    assert line["event"] == "lease acquired"
    assert line["identity"] == "waa-demo-0_4f2a"
    assert line["token"] == 7  # a number, as it was passed
    assert line["level"] == "info"
    assert line["logger"] == "session_runner.session.lease.elector"


def test_an_extra_cannot_forge_the_fields_the_formatter_sets() -> None:
    (line,) = json_lines_of(
        """
        import logging
        logging.getLogger("x").warning("real", extra={"level": "debug", "event": "forged"})
        """
    )
    assert (line["event"], line["level"]) == ("real", "warning")


def test_kopfs_settings_object_stays_out_of_every_line() -> None:
    """kopf's per-object logger attaches its whole configuration; its object reference stays."""
    (line,) = json_lines_of(
        """
        import logging
        class Settings:
            def __repr__(self) -> str:
                return "Settings(a page of configuration)"
        logging.getLogger("kopf.objects").info(
            "Handler succeeded.",
            extra={
                "settings": Settings(),
                "k8s_skip": False,
                "k8s_ref": {"kind": "WhatsAppAccount", "name": "demo"},
            },
        )
        """
    )
    assert "settings" not in line
    assert "k8s_skip" not in line
    assert line["k8s_ref"] == {"kind": "WhatsAppAccount", "name": "demo"}


def test_a_line_without_extra_is_unchanged() -> None:
    (line,) = json_lines_of(
        """
        import logging
        logging.getLogger("plain").info("hello %s", "there")
        """
    )
    assert set(line) == {"event", "level", "logger", "timestamp"}
    assert line["event"] == "hello there"
