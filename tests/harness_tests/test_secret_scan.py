"""The secret scanner finds a value in every form a log line could carry it, and nothing else."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.harness.kube import KubeApi, scan_for_secrets
from tests.harness.secret_scan import MIN_SECRET_BYTES, Leak, describe, find_leaks, secret_forms

KEK = bytes(range(200, 232))  # not valid UTF-8, as a random key usually is not
AWS_SECRET = b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"


@pytest.mark.parametrize(
    ("case", "text", "found"),
    [
        ("as text", f"secret={AWS_SECRET.decode()} in a log line", True),
        ("base64", f"data: {base64.b64encode(AWS_SECRET).decode()}", True),
        ("base64 unpadded", base64.b64encode(AWS_SECRET).decode().rstrip("="), True),
        ("urlsafe base64", base64.urlsafe_b64encode(AWS_SECRET).decode(), True),
        ("hex", AWS_SECRET.hex(), True),
        ("absent", "the key is mounted at /etc/wafleet/snapshot-key/key", False),
        ("a prefix only", AWS_SECRET.decode()[:8], False),
    ],
)
def test_a_text_secret_is_found_in_every_form(case: str, text: str, found: bool) -> None:
    leaks = find_leaks({"s3/AWS_SECRET_ACCESS_KEY": AWS_SECRET}, {"operator log": text})
    assert bool(leaks) is found, case


@pytest.mark.parametrize(
    ("case", "text", "found"),
    [
        ("hex of the raw key", KEK.hex(), True),
        ("base64 of the raw key", base64.b64encode(KEK).decode(), True),
        ("raw key bytes as latin-1", KEK.decode("latin-1"), False),  # not a text form
    ],
)
def test_a_binary_key_is_found_as_base64_and_hex(case: str, text: str, found: bool) -> None:
    assert bool(find_leaks({"kek/key": KEK}, {"event": text})) is found, case


def test_a_key_stored_as_base64_is_also_found_in_the_forms_of_what_it_decodes_to() -> None:
    stored = base64.b64encode(KEK)  # what a person puts in the Secret
    assert find_leaks({"kek/key": stored}, {"log": f"kek={KEK.hex()}"}) == [Leak("kek/key", "log")]


def test_values_too_short_to_mean_anything_are_not_searched() -> None:
    assert secret_forms(b"testing") == set()
    assert secret_forms(b"x" * (MIN_SECRET_BYTES - 1)) == set()
    assert secret_forms(b"x" * MIN_SECRET_BYTES)


def test_the_report_names_the_secret_and_the_place_never_the_value() -> None:
    leaks = find_leaks({"s3/key": AWS_SECRET}, {"status of waa/demo": AWS_SECRET.decode()})
    message = describe(leaks)
    assert "s3/key" in message
    assert "status of waa/demo" in message
    assert AWS_SECRET.decode() not in message


def test_the_namespace_scan_finds_a_secret_value_in_an_event(kube_api: KubeApi) -> None:
    """The scan every integration test gets at teardown fails on a leak (on the real server)."""
    value = "a-secret-value-that-must-stay-in-its-secret"
    with kube_api.http() as http:
        http.post(
            f"/api/v1/namespaces/{kube_api.namespace}/secrets",
            json={"metadata": {"name": "creds"}, "stringData": {"password": value}},
        ).raise_for_status()
        scan_for_secrets(kube_api)  # nothing leaked yet
        http.post(
            f"/api/v1/namespaces/{kube_api.namespace}/events",
            json={
                "metadata": {"name": "leak"},
                "involvedObject": {
                    "kind": "Secret",
                    "name": "creds",
                    "namespace": kube_api.namespace,
                },
                "reason": "Careless",
                "message": f"connecting with password {value}",
                "type": "Warning",
            },
        ).raise_for_status()
        with pytest.raises(AssertionError) as caught:
            scan_for_secrets(kube_api)
        # Let the namespace go clean: the fixture's own scan must not fail this test.
        http.delete(f"/api/v1/namespaces/{kube_api.namespace}/events/leak").raise_for_status()
    assert "creds/password" in str(caught.value)
    assert "/events" in str(caught.value)
    assert value not in str(caught.value)


def test_a_registered_log_file_is_scanned(kube_api: KubeApi, tmp_path: Path) -> None:
    log = tmp_path / "runner.log"
    log.write_text(f"key={KEK.hex()}\n")
    kube_api.known_secrets["kek/key"] = KEK
    kube_api.log_files["runner log"] = log
    with pytest.raises(AssertionError, match="runner log"):
        scan_for_secrets(kube_api)
    log.write_text("key loaded\n")
