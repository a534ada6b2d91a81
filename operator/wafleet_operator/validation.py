"""Pure: what is wrong with an account that its schema could not reject.

The API server enforces the CRD schema (types, patterns, enums, ranges, CEL
rules). What it cannot know is the cluster around the resource: whether the
referenced Secrets exist and hold the named keys, whether a bucket name is one
S3 accepts, whether the children's names fit. The operator checks those before
it creates or changes anything, so a bad spec never reaches the cluster half
applied. Every problem names the field a user must fix.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic.alias_generators import to_camel

from wafleet_operator.api import WhatsAppAccountSpec
from wafleet_operator.specs.naming import CHILD_PREFIX, MAX_ACCOUNT_NAME_LENGTH
from wafleet_operator.status import Problem

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class SecretNeed:
    """A key the account needs from a Secret, and the spec fields that name them.

    Two fields, because the fix differs: a Secret that does not exist is fixed
    at ``<ref>.name`` (or by creating it), a missing key at the field that
    names the key (``<ref>.key``, ``<ref>.accessKeyIdKey``, ...), which is the
    one a problem must point at.
    """

    ref: str
    secret: str
    key: str
    key_field: str

    @property
    def name_field(self) -> str:
        return f"{self.ref}.name"


def problems_from_validation_error(error: ValidationError, root: str = "spec") -> list[Problem]:
    """Turn pydantic's error locations into the camelCase field paths users see in YAML."""
    problems = []
    for item in error.errors():
        parts = [root]
        for loc in item["loc"]:
            if isinstance(loc, int):
                parts[-1] += f"[{loc}]"
            else:
                parts.append(to_camel(str(loc)))
        problems.append(Problem(".".join(parts), str(item["msg"])))
    return problems


def parse_spec(spec: Mapping[str, Any]) -> tuple[WhatsAppAccountSpec | None, list[Problem]]:
    """Parse the spec; a spec that fails our models (a CEL rule an old API server skipped) is a problem."""
    try:
        return WhatsAppAccountSpec.model_validate(dict(spec)), []
    except ValidationError as error:
        return None, problems_from_validation_error(error)


def secret_needs(spec: WhatsAppAccountSpec) -> list[SecretNeed]:
    """Every Secret key the runner's pod will mount or read."""
    needs: list[SecretNeed] = []
    snapshot = spec.snapshot
    if snapshot is None:
        return needs
    enc_ref = "spec.snapshot.encryptionKeySecret"
    enc = snapshot.encryption_key_secret
    needs.append(SecretNeed(enc_ref, enc.name, enc.key, f"{enc_ref}.key"))
    creds = snapshot.credentials_secret
    if creds is not None:
        creds_ref = "spec.snapshot.credentialsSecret"
        for key, field in (
            (creds.access_key_id_key, "accessKeyIdKey"),
            (creds.secret_access_key_key, "secretAccessKeyKey"),
        ):
            needs.append(SecretNeed(creds_ref, creds.name, key, f"{creds_ref}.{field}"))
    return needs


def bucket_name_problem(bucket: str) -> str | None:
    """S3's bucket naming rules beyond what the CRD pattern can express."""
    if not _BUCKET.match(bucket):
        return f"{bucket!r} is not a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)"
    if ".." in bucket or ".-" in bucket or "-." in bucket:
        return f"{bucket!r} is not a valid S3 bucket name (no adjacent dots or dot-hyphen pairs)"
    try:
        ipaddress.IPv4Address(bucket)
    except ValueError:
        pass
    else:
        return f"{bucket!r} is not a valid S3 bucket name (it looks like an IP address)"
    if bucket.startswith(("xn--", "sthree-")) or bucket.endswith(("-s3alias", "--ol-s3")):
        return f"{bucket!r} is not a valid S3 bucket name (reserved prefix or suffix)"
    return None


def find_problems(
    name: str,
    spec: WhatsAppAccountSpec,
    secrets: Mapping[str, frozenset[str]],
) -> list[Problem]:
    """Problems of a parsed spec, given the keys of the Secrets that exist (name → keys).

    Only key names are ever looked at, never Secret values.
    """
    problems: list[Problem] = []
    if len(name) > MAX_ACCOUNT_NAME_LENGTH:
        problems.append(
            Problem(
                "metadata.name",
                f"at most {MAX_ACCOUNT_NAME_LENGTH} characters, so the StatefulSet "
                f"{CHILD_PREFIX}{name} fits Kubernetes' name limits",
            )
        )
    if spec.snapshot is not None:
        bucket_problem = bucket_name_problem(spec.snapshot.bucket)
        if bucket_problem:
            problems.append(Problem("spec.snapshot.bucket", bucket_problem))
    elif spec.restore_from is not None:
        problems.append(
            Problem("spec.restoreFrom", "needs spec.snapshot: there is no store to restore from")
        )
    for need in secret_needs(spec):
        keys = secrets.get(need.secret)
        if keys is None:
            problems.append(Problem(need.name_field, f"Secret {need.secret!r} not found"))
        elif need.key not in keys:
            problems.append(
                Problem(need.key_field, f"Secret {need.secret!r} has no key {need.key!r}")
            )
    return _dedupe(problems)


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[str, str]] = set()
    unique = []
    for problem in problems:
        if (problem.field, problem.message) not in seen:
            seen.add((problem.field, problem.message))
            unique.append(problem)
    return unique
