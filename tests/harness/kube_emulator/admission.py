"""Admission: what a write must pass, and what the server fills in, before it is stored.

The checks a real API server applies to every create and update that do
not depend on what else is stored: the body's apiVersion/kind against the
URL, the name on the URL against the body (400 BadRequest, like the real
`checkName`), name syntax (422), built-in defaults (namespaces), CRD
consistency, and custom resources against their schema (pruning,
defaulting, validation, strict field validation; see schema.py).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from . import schema as structural
from .errors import bad_request, cause, invalid
from .resources import CRD_GROUP, CRD_PLURAL, ResourceType, crd_problems

Obj = dict[str, Any]

NAMESPACES = ("", "namespaces")
CRDS = (CRD_GROUP, CRD_PLURAL)
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _meta(obj: Obj) -> Obj:
    meta: Obj = obj["metadata"]
    return meta


def typed_copy(rt: ResourceType, body: Any) -> Obj:
    """A copy of a request body with apiVersion/kind checked (filled in when absent)."""
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    obj = copy.deepcopy(body)
    if obj.get("apiVersion") not in (None, "", rt.api_version):
        raise bad_request(
            f"the API version in the data ({obj['apiVersion']}) does not match the expected API version ({rt.api_version})"
        )
    if obj.get("kind") not in (None, "", rt.kind):
        raise bad_request(
            f"the kind in the data ({obj['kind']}) does not match the expected kind ({rt.kind})"
        )
    obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
    meta = obj.setdefault("metadata", {})
    if meta is None:
        meta = obj["metadata"] = {}
    if not isinstance(meta, dict):
        raise bad_request("metadata must be an object")
    return obj


def check_name_matches(rt: ResourceType, body: Any, name: str, namespace: str | None) -> None:
    meta = (body.get("metadata") or {}) if isinstance(body, dict) else {}
    if meta.get("name", "") != name:
        raise bad_request(
            f"the name of the object ({meta.get('name', '')}) does not match the name on the URL ({name})"
        )
    if rt.namespaced and meta.get("namespace") not in (None, "", namespace):
        raise bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )


def validate_name(rt: ResourceType, name: str) -> None:
    if rt.group == "rbac.authorization.k8s.io":  # RBAC names only forbid path characters
        ok, what = (
            "/" not in name and "%" not in name and name not in (".", ".."),
            "may not contain '/' or '%'",
        )
    elif rt.storage_key == NAMESPACES:
        ok, what = (
            len(name) <= 63 and bool(_LABEL.match(name)),
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
        )
    else:
        ok, what = (
            len(name) <= 253 and bool(_SUBDOMAIN.match(name)),
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        )
    if not ok:
        raise invalid(
            rt,
            name,
            [cause("metadata.name", "FieldValueInvalid", f'Invalid value: "{name}": {what}')],
        )


def admit(rt: ResourceType, obj: Obj, *, strict: bool) -> Obj:
    """Schema work before storing: prune/default/validate custom resources, validate CRDs."""
    if rt.storage_key == CRDS and (problems := crd_problems(obj)):
        raise invalid(rt, _meta(obj).get("name", ""), [cause(*p) for p in problems])
    if rt.schema is None:
        return obj
    unknown: list[str] = []
    pruned = structural.prune(obj, rt.schema, root=True, unknown=unknown)
    if strict and unknown:
        fields = ", ".join(f'unknown field "{path}"' for path in unknown)
        raise bad_request(
            f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: strict decoding error: {fields}'
        )
    admitted: Obj = structural.apply_defaults(pruned, rt.schema)
    if rt.validator is not None and (causes := structural.problems(admitted, rt.validator)):
        raise invalid(rt, _meta(obj).get("name", ""), causes)
    return admitted


def default(rt: ResourceType, obj: Obj) -> None:
    """Server-side defaults the code under test may read."""
    if rt.storage_key == NAMESPACES:
        meta = _meta(obj)
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        if "status" not in obj:
            obj["status"] = {"phase": "Active"}
