"""The API's settings load back from the environment they render."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from session_runner.contract.api_settings import ApiSettings


def test_settings_round_trip_through_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = ApiSettings(
        namespace="shop",
        outbound_topic="arn:aws:sns:eu-west-1:1:wafleet-outbound",
        aws_endpoint_url="http://moto:5000",
        keys_file=Path("/keys/keys.json"),
        max_upload_bytes=1 << 20,
    )
    for name, value in settings.as_env().items():
        monkeypatch.setenv(name, value)
    assert ApiSettings() == settings


@pytest.mark.parametrize(
    ("field", "value"),
    [("namespace", "Not_A_Namespace"), ("port", 70000), ("max_body_bytes", 10)],
)
def test_bad_settings_name_their_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as raised:
        ApiSettings.model_validate({field: value})
    assert raised.value.errors()[0]["loc"] == (field,)
