"""Custom resources against their CRD's openAPIV3Schema: pruning, defaulting, validation.

A real API server, for every write of a custom resource, drops fields the
structural schema does not know (unless `x-kubernetes-preserve-unknown-fields`
or `additionalProperties` allow them), fills in `default:` values (also
nested, also inside defaulted objects; a null where the field is not
`nullable` counts as absent), and refuses the write with 422 Invalid when the
result breaks the schema. The operator reads defaulted specs, so the
emulator does the same, in that order.

Validation is JSON Schema (draft 4, which OpenAPI 3.0 schemas follow) via
`jsonschema`: type, required, enum, pattern, minimum/maximum, lengths,
item counts, oneOf/anyOf/allOf/not. NOT checked: `format`,
`x-kubernetes-validations` (CEL rules), list-type/map-key uniqueness, and
metadata beyond what the store itself checks. Messages follow the real
server's shape (`spec.x: Invalid value: ...`) but are not byte-identical.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema

from .errors import Cause, cause

Obj = dict[str, Any]

_ROOT_FIELDS = ("apiVersion", "kind", "metadata")


def prune(
    value: Any, schema: Obj, *, root: bool = False, unknown: list[str] | None = None, path: str = ""
) -> Any:
    """`value` without the fields `schema` does not declare (a new value); their paths go to `unknown`."""
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        keep_unknown = (
            bool(schema.get("x-kubernetes-preserve-unknown-fields")) or additional is True
        )
        embedded = root or bool(schema.get("x-kubernetes-embedded-resource"))
        result: Obj = {}
        for key, child in value.items():
            if embedded and key in _ROOT_FIELDS:
                result[key] = copy.deepcopy(child)  # an object's own header is never pruned
            elif key in props:
                result[key] = prune(
                    child, props[key], unknown=unknown, path=f"{path}.{key}" if path else key
                )
            elif isinstance(additional, dict):
                result[key] = prune(
                    child, additional, unknown=unknown, path=f"{path}.{key}" if path else key
                )
            elif keep_unknown:
                result[key] = copy.deepcopy(child)
            elif unknown is not None:
                unknown.append(f"{path}.{key}" if path else key)
        return result
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [
            prune(item, schema["items"], unknown=unknown, path=f"{path}[{i}]")
            for i, item in enumerate(value)
        ]
    return copy.deepcopy(value)


def apply_defaults(value: Any, schema: Obj) -> Any:
    """Fill in `default:` values, recursively, in place (returns `value`)."""
    if isinstance(value, dict):
        props: Obj = schema.get("properties") or {}
        for key, sub in props.items():
            if key in value and value[key] is None and not sub.get("nullable") and "default" in sub:
                del value[key]
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                value[key] = apply_defaults(value[key], sub)
        additional = schema.get("additionalProperties")
        if isinstance(additional, dict):
            for key in [k for k in value if k not in props]:
                value[key] = apply_defaults(value[key], additional)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            value[index] = apply_defaults(item, schema["items"])
    return value


def _as_json_schema(schema: Any) -> Any:
    """OpenAPI's `nullable: true` is JSON Schema's `type: [t, "null"]`."""
    if isinstance(schema, list):
        return [_as_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {
        k: _as_json_schema(v) if k not in ("default", "enum", "example") else v
        for k, v in schema.items()
    }
    if converted.get("nullable") and isinstance(converted.get("type"), str):
        converted["type"] = [converted["type"], "null"]
        if "enum" in converted:
            converted["enum"] = [*converted["enum"], None]
    return converted


def validator(schema: Obj) -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(_as_json_schema(schema))


def _field(path: list[Any]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


_PHRASES = {
    "pattern": "should match '{}'",
    "minimum": "should be greater than or equal to {}",
    "maximum": "should be less than or equal to {}",
    "minLength": "should be at least {} chars long",
    "maxLength": "may not be longer than {}",
    "minItems": "should have at least {} items",
    "maxItems": "must have at most {} items",
}


def problems(obj: Obj, check: jsonschema.Draft4Validator) -> list[Cause]:
    """The schema violations of `obj` as 422 causes, like the real server's field errors."""
    causes: list[Cause] = []
    for error in sorted(check.iter_errors(obj), key=lambda e: [str(p) for p in e.absolute_path]):
        path = list(error.absolute_path)
        field = _field(path)
        shown = json.dumps(error.instance)
        if error.validator == "required":
            for missing in error.validator_value:
                if isinstance(error.instance, dict) and missing not in error.instance:
                    causes.append(
                        cause(_field([*path, missing]), "FieldValueRequired", "Required value")
                    )
        elif error.validator == "enum":
            allowed = ", ".join(json.dumps(v) for v in error.validator_value)
            causes.append(
                cause(
                    field,
                    "FieldValueNotSupported",
                    f"Unsupported value: {shown}: supported values: {allowed}",
                )
            )
        elif error.validator == "type":
            causes.append(
                cause(
                    field,
                    "FieldValueTypeInvalid",
                    f"Invalid value: {shown}: {field} in body must be of type {error.validator_value}",
                )
            )
        else:
            phrase = _PHRASES.get(str(error.validator), "{}").format(
                error.validator_value if error.validator in _PHRASES else error.message
            )
            causes.append(
                cause(
                    field, "FieldValueInvalid", f"Invalid value: {shown}: {field} in body {phrase}"
                )
            )
    return causes
