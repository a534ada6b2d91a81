"""Request-body decoding and the PATCH formats of the real API server.

- application/merge-patch+json: RFC 7386 (null deletes, maps merge, lists replace).
- application/json-patch+json: RFC 6902 through the `jsonpatch` library (kopf
  depends on it); any failure to apply, a failed `test` op included, is 422
  like the real server (kopf relies on that 422 for its optimistic patches).
- application/strategic-merge-patch+json: custom resources refuse it with
  415, as the real server does. For built-ins it is APPROXIMATED as a merge
  patch: `$patch`/`$retainKeys`/`$setElementOrder`/`$deleteFromPrimitiveList`
  directives are dropped and lists are replaced instead of merged by their
  patchMergeKey (e.g. containers by name). Code that relies on list merging
  of strategic patches is not served faithfully.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch  # type: ignore[import-untyped,unused-ignore]
import jsonpointer  # type: ignore[import-untyped,unused-ignore]
import yaml

from .errors import ApiError, bad_request, unprocessable, unsupported_media_type

Obj = dict[str, Any]

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE, STRATEGIC, APPLY)
CUSTOM_PATCH_TYPES = (JSON_PATCH, MERGE, APPLY)


class _NoTimestampLoader(yaml.SafeLoader):
    """YAML 1.1 as the API server reads it, but timestamps stay strings (JSON has none)."""


_NoTimestampLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def decode_body(raw: bytes, content_type: str) -> Any:
    """Parse a JSON or YAML request body; anything else is 415 (clients then fall back to JSON)."""
    try:
        if content_type in ("", "application/json", MERGE, JSON_PATCH, STRATEGIC):
            return json.loads(raw or b"null")
        if content_type in ("application/yaml", APPLY):
            return yaml.load(raw.decode(), Loader=_NoTimestampLoader)
    except (ValueError, yaml.YAMLError) as exc:
        raise bad_request(f"error decoding the request body: {exc}") from None
    raise unsupported_media_type(content_type, ["application/json", "application/yaml"])


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch; returns a new value, inputs untouched."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _strip_directives(patch: Any) -> Any:
    if isinstance(patch, dict):
        return {k: _strip_directives(v) for k, v in patch.items() if not k.startswith("$")}
    if isinstance(patch, list):
        return [_strip_directives(v) for v in patch]
    return patch


def apply_patch(content_type: str, target: Obj, patch: Any, *, custom: bool) -> Obj:
    """Apply a merge, JSON or strategic patch to a copy of `target`."""
    if content_type == JSON_PATCH:
        if not isinstance(patch, list):
            raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
        try:
            result = jsonpatch.apply_patch(target, patch)
        except (
            jsonpatch.JsonPatchException,
            jsonpointer.JsonPointerException,
            KeyError,
            TypeError,
        ) as exc:
            raise unprocessable(str(exc)) from None
    elif content_type == MERGE or (content_type == STRATEGIC and not custom):
        if not isinstance(patch, dict):
            raise bad_request(
                "json: cannot unmarshal non-object into Go value of type map[string]interface {}"
            )
        body = _strip_directives(patch) if content_type == STRATEGIC else patch
        result = merge_patch(target, body)
    elif content_type == STRATEGIC:
        raise unsupported_media_type(content_type, list(CUSTOM_PATCH_TYPES))
    else:
        raise unsupported_media_type(content_type, list(PATCH_TYPES))
    if not isinstance(result, dict):
        raise ApiError(422, "Invalid", "the patch does not produce an object")
    return result
