"""The published OpenAPI (`/openapi.json`): every error documented as the problem it is.

Routes declare their error codes with `problems(...)` (the `Problem` model);
FastAPI files those under `application/json`, so `publish_problems` moves
every 4xx/5xx response's schema to `application/problem+json`, and drops
FastAPI's own `HTTPValidationError` models, which no answer of this API has.
Codes every route can answer (401 without a key, 413 for an oversize body,
500, 503 when a backend is unreachable) are added to each operation, so a
client generated from the schema, and schemathesis, know them all.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import Any, Final

from session_runner.api.problems import PROBLEM_MEDIA_TYPE, Problem

#: Answered by every /v1/ operation, whatever it does.
COMMON_V1: Final = (401, 413, 500, 503)
_PROBLEM_REF: Final = {"$ref": "#/components/schemas/Problem"}
_FASTAPI_MODELS: Final = ("HTTPValidationError", "ValidationError")


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` of a route that answers these codes with problems."""
    return {code: {"model": Problem, "description": HTTPStatus(code).phrase} for code in codes}


def publish_problems(schema: dict[str, Any], common: Iterable[int] = COMMON_V1) -> dict[str, Any]:
    """`schema` with every error response as `application/problem+json` (in place)."""
    for path, item in schema.get("paths", {}).items():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses: dict[str, Any] = operation["responses"]
            if path.startswith("/v1/"):
                for code in common:
                    responses.setdefault(
                        str(code), {"description": HTTPStatus(code).phrase, "content": {}}
                    )
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_MODELS:
        schemas.pop(name, None)
    return schema
