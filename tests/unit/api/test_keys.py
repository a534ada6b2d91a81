"""API keys: the Authorization header, the constant-time lookup, the keys document, reloads."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import pytest

from session_runner.api.keys import (
    ApiKey,
    KeysError,
    KeyStore,
    authenticate,
    bearer_token,
    entries_json,
    key_digest,
    parse_keys,
)

KEY = "wfk_0123456789abcdefghijklmnopqrstuvwxyz"
OTHER = "wfk_zyxwvutsrqponmlkjihgfedcba9876543210"


def entry(name: str, key: str, **scope: tuple[str, ...]) -> ApiKey:
    return ApiKey(name=name, sha256=hashlib.sha256(key.encode()).hexdigest(), **scope)


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (None, None),
        ("", None),
        (f"Bearer {KEY}", KEY),
        (f"bearer {KEY}", KEY),
        (f"  Bearer   {KEY}  ", KEY),
        (f"Basic {KEY}", None),
        ("Bearer", None),
        ("Bearer a b", None),
        ("Bearer " + "x" * 513, None),
        ("Bearer abc==", "abc=="),
        ("Bearer é", None),
    ],
)
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


def test_authenticate_finds_the_entry_of_the_key_only() -> None:
    entries = [entry("a", KEY), entry("b", OTHER)]
    assert authenticate(entries, KEY) == entries[0]
    assert authenticate(entries, OTHER) == entries[1]
    assert authenticate(entries, KEY + "x") is None
    assert authenticate([], KEY) is None
    assert key_digest(KEY) == bytes.fromhex(entries[0].sha256)


def test_an_entry_never_shows_its_hash() -> None:
    shown = repr(entry("crm", KEY))
    assert "crm" in shown
    assert entry("crm", KEY).sha256 not in shown


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("{not yaml: [", "neither JSON nor YAML"),
        ('{"name": "a"}', "keys: Input should be a valid list"),
        ('[{"name": "a"}]', "keys[0].sha256: Field required"),
        ('[{"name": "a", "sha256": "xyz"}]', "keys[0].sha256: String should match pattern"),
        ('[{"name": "-a", "sha256": "' + "0" * 64 + '"}]', "keys[0].name"),
        ('[{"name": "a", "sha256": "' + "0" * 64 + '", "pools": []}]', "keys[0].pools: Extra"),
        (
            '[{"name": "a", "sha256": "' + "0" * 64 + '", "targets": ["Bad!"]}]',
            "keys[0].targets[0]",
        ),
        (
            '[{"name": "a", "sha256": "'
            + "0" * 64
            + '"}, {"name": "a", "sha256": "'
            + "1" * 64
            + '"}]',
            "keys[1].name: 'a' is used twice",
        ),
        (
            '[{"name": "a", "sha256": "'
            + "0" * 64
            + '"}, {"name": "b", "sha256": "'
            + "0" * 64
            + '"}]',
            "keys[1].sha256: the same key is listed twice",
        ),
    ],
)
def test_a_bad_document_names_the_entry_and_field(document: str, problem: str) -> None:
    with pytest.raises(KeysError) as raised:
        parse_keys(document)
    assert problem in str(raised.value)


def test_documents_in_json_or_yaml() -> None:
    entries = [entry("crm", KEY, targets=("alpha",), accounts=()), entry("ops", OTHER)]
    assert parse_keys(entries_json(entries)) == tuple(entries)
    yaml_text = f"- name: crm\n  sha256: {entries[0].sha256}\n  targets: [alpha]\n  accounts: []\n"
    assert parse_keys(yaml_text)[0] == entries[0]
    assert parse_keys("") == ()


def test_a_changed_file_is_reloaded_and_a_broken_one_keeps_the_old_keys(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    now = [0.0]
    path = tmp_path / "keys.json"
    path.write_text(entries_json([entry("crm", KEY)]))
    store = KeyStore(path=path, reload_s=10.0, clock=lambda: now[0])
    assert [e.name for e in store.entries] == ["crm"]

    # A Secret volume swaps the file: new inode, new content.
    fresh = tmp_path / "keys.new"
    fresh.write_text(entries_json([entry("crm", KEY), entry("ops", OTHER)]))
    os.replace(fresh, path)
    now[0] = 5.0
    assert [e.name for e in store.entries] == ["crm"]  # not checked before reload_s
    now[0] = 10.0
    assert [e.name for e in store.entries] == ["crm", "ops"]

    broken = tmp_path / "keys.broken"
    broken.write_text(json.dumps([{"name": "crm", "sha256": "nope", "key": KEY}]))
    os.replace(broken, path)
    now[0] = 20.0
    with caplog.at_level(logging.ERROR):
        assert [e.name for e in store.entries] == ["crm", "ops"]
    assert "not reloaded" in caplog.text
    assert KEY not in caplog.text
    assert "nope" not in caplog.text

    path.unlink()
    now[0] = 30.0
    assert [e.name for e in store.entries] == ["crm", "ops"]


def test_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    store = KeyStore.from_settings(tmp_path / "absent.json", entries_json([entry("env", KEY)]), 1.0)
    assert [e.name for e in store.entries] == ["env"]
    with pytest.raises(FileNotFoundError):
        KeyStore.from_settings(tmp_path / "absent.json", "  ", 1.0)
