"""The runner's settings and their rendering into the pod's environment."""

from __future__ import annotations

import os
from typing import Any

import pytest

from session_runner.contract.settings import ENV_PREFIX, RunnerSettings
from tests.harness.control_plane.podspec import expand
from wafleet_operator.api import WhatsAppAccountSpec
from wafleet_operator.specs.naming import pod_name
from wafleet_operator.specs.runner_config import build_runner_env, build_runner_settings

from .cases import CASE_IDS, CASES
from .golden import check_golden_document

SECRET_ENV = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


@pytest.mark.parametrize("case", CASE_IDS)
def test_golden(case: str) -> None:
    """Both outputs of the module, pinned: the typed settings the runner must load
    (unset ones shown as null, which the env leaves out so the runner's default
    applies) and the env that carries them into the pod."""
    c = CASES[case]
    check_golden_document(
        f"{case}.runner-config",
        {
            "settings": build_runner_settings(c.account, c.parsed).model_dump(mode="json"),
            "env": build_runner_env(c.account, c.parsed),
        },
    )


def test_settings_of_the_browser_account() -> None:
    c = CASES["browser-snapshots"]
    settings = build_runner_settings(c.account, c.parsed)
    assert settings.account_name == "demo"
    assert settings.namespace == "default"
    assert settings.pod_name == "waa-demo-0"
    assert settings.engine.value == "browser"
    assert settings.phone_number == "+14155550100"
    assert settings.lease_name == "waa-demo"
    assert (
        settings.lease_duration_seconds,
        settings.lease_renew_deadline_seconds,
        settings.lease_retry_period_seconds,
    ) == (15.0, 10.0, 2.0)
    assert settings.snapshot_bucket == "wafleet-sessions"
    assert settings.snapshot_prefix == "accounts/demo"
    assert settings.snapshot_endpoint_url == "http://minio.storage.svc:9000"
    assert settings.snapshot_region == "eu-west-1"
    assert settings.snapshot_interval_seconds == 600
    assert settings.snapshot_keep_last == 5
    assert settings.snapshot_keep_within_hours == 48
    assert str(settings.snapshot_encryption_key_file) == "/etc/wafleet/snapshot-key/kek"
    assert settings.restore_from == "01J9Z6Q4W8T5X2B3C4D5E6F7G8"
    assert str(settings.session_dir) == "/var/lib/wafleet/session"


def test_no_snapshot_settings_without_snapshots() -> None:
    c = CASES["local-no-snapshots"]
    settings = build_runner_settings(c.account, c.parsed)
    assert settings.snapshot_bucket is None
    assert settings.snapshot_encryption_key_file is None
    names = {item["name"] for item in build_runner_env(c.account, c.parsed)}
    assert f"{ENV_PREFIX}SNAPSHOT_BUCKET" not in names
    assert not names & SECRET_ENV


def test_builder_ignores_the_operators_own_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator's env shares the WAFLEET_ prefix; none of it may leak into a runner."""
    c = CASES["local-no-snapshots"]
    clean = build_runner_settings(c.account, c.parsed)
    monkeypatch.setenv("WAFLEET_NAMESPACE", "ops,tenant-a")
    monkeypatch.setenv("WAFLEET_LOG_LEVEL", "debug")
    monkeypatch.setenv("WAFLEET_METRICS_PORT", "8080")
    monkeypatch.setenv("WAFLEET_SNAPSHOT_BUCKET", "leaked")
    monkeypatch.setenv("WAFLEET_CHROMIUM_PATH", "/opt/elsewhere")
    assert build_runner_settings(c.account, c.parsed) == clean


@pytest.mark.parametrize("case", CASE_IDS)
def test_env_is_sorted_and_pod_identity_comes_from_the_downward_api(case: str) -> None:
    c = CASES[case]
    env = build_runner_env(c.account, c.parsed)
    names = [item["name"] for item in env]
    assert names == sorted(names)
    assert len(names) == len(set(names))
    by_name = {item["name"]: item for item in env}
    assert by_name["WAFLEET_POD_NAME"] == {
        "name": "WAFLEET_POD_NAME",
        "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}},
    }
    assert by_name["WAFLEET_NAMESPACE"] == {
        "name": "WAFLEET_NAMESPACE",
        "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}},
    }


@pytest.mark.parametrize("case", CASE_IDS)
def test_credentials_only_ever_come_from_secret_refs(case: str) -> None:
    c = CASES[case]
    env = build_runner_env(c.account, c.parsed)
    for item in env:
        assert ("value" in item) != ("valueFrom" in item), item
        if "value" in item:
            # Literal values are settings, and settings are never secrets.
            assert item["name"].startswith(ENV_PREFIX), item
    secret_items = [item for item in env if item["name"] in SECRET_ENV]
    creds = c.parsed.snapshot.credentials_secret if c.parsed.snapshot else None
    if creds is None:
        assert secret_items == []
        return
    assert {item["name"]: item["valueFrom"] for item in secret_items} == {
        "AWS_ACCESS_KEY_ID": {
            "secretKeyRef": {"name": creds.name, "key": creds.access_key_id_key, "optional": False}
        },
        "AWS_SECRET_ACCESS_KEY": {
            "secretKeyRef": {
                "name": creds.name,
                "key": creds.secret_access_key_key,
                "optional": False,
            }
        },
    }


def _env_dict(env: list[dict[str, Any]], pod: str, namespace: str) -> dict[str, str]:
    """The environment the kubelet would give the container (secrets left out)."""
    resolved = {"metadata.name": pod, "metadata.namespace": namespace}
    out: dict[str, str] = {}
    for item in env:
        if "value" in item:
            out[item["name"]] = expand(item["value"], out)  # as the kubelet does
        elif "fieldRef" in item["valueFrom"]:
            out[item["name"]] = resolved[item["valueFrom"]["fieldRef"]["fieldPath"]]
    return out


@pytest.mark.parametrize("case", CASE_IDS)
def test_env_round_trips_into_the_same_settings(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the runner loads from its pod's env is what the operator meant."""
    c = CASES[case]
    expected = build_runner_settings(c.account, c.parsed)
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    env = _env_dict(build_runner_env(c.account, c.parsed), "waa-demo-0", "default")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    loaded = RunnerSettings(**{})
    identity = {"pod_name", "namespace"}
    assert loaded.model_dump(exclude=identity) == expected.model_dump(exclude=identity)
    assert (loaded.pod_name, loaded.namespace) == ("waa-demo-0", "default")

    # With the values the downward API really provides, nothing differs at all.
    for name, value in _env_dict(
        build_runner_env(c.account, c.parsed), pod_name(c.name), c.namespace
    ).items():
        monkeypatch.setenv(name, value)
    assert RunnerSettings(**{}) == expected


#: Spec values a user may write that Kubernetes would otherwise expand in the pod.
DOLLAR_ROWS = [
    ("the secret key by name", "prefix", "$(AWS_SECRET_ACCESS_KEY)"),
    ("the access key id", "prefix", "p/$(AWS_ACCESS_KEY_ID)"),
    ("another setting", "prefix", "x/$(WAFLEET_ACCOUNT_NAME)/y"),
    ("an escape already", "prefix", "a$$b"),
    ("a lone dollar", "prefix", "cost$"),
    ("an endpoint", "endpoint", "http://minio:9000/$(AWS_SECRET_ACCESS_KEY)"),
]


@pytest.mark.parametrize(("why", "field", "value"), DOLLAR_ROWS, ids=[r[0] for r in DOLLAR_ROWS])
def test_dollar_in_a_spec_value_reaches_the_runner_verbatim(
    why: str, field: str, value: str
) -> None:
    """Every literal env value is escaped, so the kubelet's `$(VAR)` expansion (applied
    here with the variables defined before it, secrets included) gives back the text."""
    c = CASES["browser-snapshots"]
    spec = WhatsAppAccountSpec.model_validate(
        {**c.spec, "snapshot": {**c.spec["snapshot"], field: value}}
    )
    expected = build_runner_settings(c.account, spec).as_env()
    env = build_runner_env(c.account, spec)
    seen: dict[str, str] = {}
    for item in env:
        # valueFrom variables are defined too (a secret's value, here a stand-in).
        seen[item["name"]] = expand(item["value"], seen) if "value" in item else "<from a ref>"
    literal = {item["name"] for item in env if "value" in item} & expected.keys()
    assert {name: seen[name] for name in literal} == {name: expected[name] for name in literal}
    assert value in seen.values()
