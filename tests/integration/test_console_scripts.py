"""The installed console scripts, run as a person runs them: help, version, unbuilt parts.

Unbuilt subcommands must fail loudly (exit 2, one line saying so) rather than
start and do nothing, and `wafleet-operator --help` must answer without
looking for a cluster (it used to start kopf whatever its arguments were).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def run(script: str, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    # A kubeconfig that does not exist: nothing here may need a cluster.
    env = {**os.environ, "KUBECONFIG": "/nonexistent/kubeconfig", "COLUMNS": "200", **extra_env}
    return subprocess.run(
        [str(BIN / script), *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


@pytest.mark.parametrize(
    ("script", "args", "expect"),
    [
        ("wafleet", ("restore", "demo"), "wafleet restore: not built yet"),
        ("kubectl-wafleet", ("restore", "demo"), "wafleet restore: not built yet"),
    ],
)
def test_unbuilt_subcommands_exit_2_with_one_line(
    script: str, args: tuple[str, ...], expect: str
) -> None:
    done = run(script, *args)
    assert done.returncode == 2
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(expect)


def test_a_sender_without_its_settings_names_each_missing_variable_and_exits_2() -> None:
    done = run("wafleet-runner", "sender")
    assert done.returncode == 2
    said = done.stderr
    for variable in ("WAFLEET_SENDER_POOL", "WAFLEET_SENDER_VENDOR", "WAFLEET_SENDER_QUEUE_URL"):
        assert f"wafleet-runner sender: {variable}:" in said, said


def test_a_dispatcher_with_a_bad_setting_names_it_and_exits_2() -> None:
    env = {
        **os.environ,
        "KUBECONFIG": "/nonexistent/kubeconfig",
        "WAFLEET_DISPATCHER_ALLOWED_NETWORKS": "10.0.0.0/8, ten",
        "WAFLEET_DISPATCHER_CONCURRENCY_PER_SUBSCRIBER": "0",
    }
    done = subprocess.run(
        [str(BIN / "wafleet-runner"), "dispatcher"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "wafleet-runner dispatcher: WAFLEET_DISPATCHER_ALLOWED_NETWORKS:" in done.stderr
    assert "'ten'" in done.stderr
    assert "WAFLEET_DISPATCHER_CONCURRENCY_PER_SUBSCRIBER" in done.stderr


@pytest.mark.parametrize(
    ("script", "args", "expect"),
    [
        ("wafleet-operator", ("--help",), "WAFLEET_NAMESPACE"),
        ("wafleet-operator", ("--version",), "wafleet-operator 0."),
        ("wafleet-runner", ("--help",), "session"),
        ("wafleet-runner", ("session", "--help"), "WAFLEET_"),
        ("wafleet", ("--help",), "status"),
        ("kubectl-wafleet", ("--help",), "messages"),
        ("wafleet", ("bulk", "--help"), "errors"),
        ("wafleet", ("bulk", "start", "--help"), "--follow"),
        ("wafleet", ("messages", "show", "--help"), "--api"),
    ],
)
def test_help_and_version_answer_without_a_cluster(
    script: str, args: tuple[str, ...], expect: str
) -> None:
    done = run(script, *args)
    assert done.returncode == 0, done.stderr
    assert expect in done.stdout


def test_operator_names_an_unknown_flag() -> None:
    done = run("wafleet-operator", "--namespace", "x")
    assert done.returncode == 2
    assert "--namespace" in done.stderr


def test_help_names_the_api_key_variable_and_never_shows_its_value() -> None:
    key = "wfk_not-to-be-shown-0123456789"
    for args in (("send", "--help"), ("bulk", "start", "--help"), ("messages", "show", "--help")):
        done = run("wafleet", *args, WAFLEET_API_KEY=key)
        assert done.returncode == 0, done.stderr
        assert "WAFLEET_API_KEY" in done.stdout
        assert key not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (("bulk", "/nonexistent/list.csv", "--pool", "p"), "wafleet bulk: FILE: no such file"),
        (("bulk", "list.csv"), "wafleet bulk: --pool: required"),
        (
            ("send", "--to", "+14155550123", "--text", "x", "--until", "seen", "--pool", "p"),
            "wafleet send: --until: one of sent, delivered, read",
        ),
        (
            ("send", "--to", "+1", "--text", "x", "--target", "t", "--api", "http://127.0.0.1:9"),
            "wafleet send: --api-key: required with --api",
        ),
        (("messages", "show", "a b"), "wafleet messages show: ID: not a message id"),
    ],
)
def test_bad_arguments_exit_2_naming_them_before_anything_is_reached(
    args: tuple[str, ...], expect: str
) -> None:
    done = run("wafleet", *args, WAFLEET_API_KEY="")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(expect), done.stderr
