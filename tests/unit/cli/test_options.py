"""`--api`, `--api-key`, `--pool` and `--target`: which way a command goes, and refusals naming
the option (never showing the key)."""

from __future__ import annotations

import pytest

from session_runner.cli.api_client import api_key_problem, api_url_problem, path_segment
from session_runner.cli.options import ApiAccess, api_access, target_problem
from session_runner.cli.problems import EXIT_USAGE, CommandError

KEY = "wfk_Zm9vYmFyYmF6cXV4LXNlY3JldC1rZXk"


@pytest.mark.parametrize(
    ("url", "key", "access"),
    [
        (None, None, None),  # direct
        (None, KEY, None),  # a key in the environment does not turn the API on
        ("http://127.0.0.1:8080", KEY, ApiAccess("http://127.0.0.1:8080", KEY)),
        (
            " https://api.example/wafleet/ ",
            f" {KEY}\n",
            ApiAccess("https://api.example/wafleet/", KEY),
        ),
    ],
)
def test_api_access(url: str | None, key: str | None, access: ApiAccess | None) -> None:
    assert api_access(url, key) == access


@pytest.mark.parametrize(
    ("url", "key", "said"),
    [
        ("http://api", None, "--api-key: required with --api (or set WAFLEET_API_KEY)"),
        ("http://api", "", "--api-key: required"),
        ("http://api", "has space", "--api-key: not an API key"),
        ("http://api", "x" * 513, "--api-key: not an API key"),
        ("http://api", "ключ", "--api-key: not an API key"),
        ("api.example:8080", KEY, "--api: an http:// or https:// URL"),
        ("ftp://api", KEY, "--api: an http:// or https:// URL"),
        ("http://api?x=1", KEY, "--api: the API's base URL, without a query"),
    ],
)
def test_bad_api_access_exits_2_naming_the_option_not_the_key(
    url: str, key: str | None, said: str
) -> None:
    with pytest.raises(CommandError) as refused:
        api_access(url, key)
    assert refused.value.code == EXIT_USAGE
    assert refused.value.line.startswith(said)
    if key and key.strip():
        assert key.strip() not in refused.value.line


def test_the_access_repr_hides_the_key() -> None:
    assert KEY not in repr(ApiAccess("http://api", KEY))


@pytest.mark.parametrize(
    ("pool", "target", "api", "said"),
    [
        ("p", None, False, None),
        ("p", None, True, None),
        (None, "alpha", True, None),
        (None, "alpha", False, "--target: only with --api"),
        ("p", "alpha", True, "--pool, --target: give one of them"),
        (None, None, True, "--pool: required"),
        (None, None, False, "--pool: required"),
        ("", "", False, "--pool: required"),
    ],
)
def test_target_problem(pool: str | None, target: str | None, api: bool, said: str | None) -> None:
    problem = target_problem(pool, target, api)
    if said is None:
        assert problem is None
    else:
        assert problem is not None
        assert problem.startswith(said)


@pytest.mark.parametrize(
    ("key", "ok"),
    [(KEY, True), ("abc-._~+/==", True), ("a=b", False), ("", False), (None, False)],
)
def test_api_key_problem(key: str | None, ok: bool) -> None:
    assert (api_key_problem(key) is None) is ok


@pytest.mark.parametrize(
    ("url", "ok"),
    [("http://h", True), ("https://h:1/p", True), ("h:1", False), ("http://", False)],
)
def test_api_url_problem(url: str, ok: bool) -> None:
    assert (api_url_problem(url) is None) is ok


@pytest.mark.parametrize(
    ("value", "segment"),
    [("bulk-ab12:3", "bulk-ab12:3"), ("api-0f", "api-0f"), ("a/b", "a%2Fb"), ("a b", "a%20b")],
)
def test_path_segment(value: str, segment: str) -> None:
    assert path_segment(value) == segment
