"""Pure: what is wrong with an account that its schema could not reject.

The API server enforces the CRD schema (types, patterns, enums, ranges, CEL
rules). What it cannot know is the cluster around the resource: whether the
referenced Secrets exist and hold the named keys, whether the key-encryption key
is a key at all, whether a bucket name is one S3 accepts, whether the image is
one the operator's settings allow. The operator checks those before it creates
or changes anything, so a bad spec never reaches the cluster half applied. It
also repeats every schema rule (the models' pydantic twins of the CRD, and the
account name's rule), the second line behind an API server that holds an older
CRD. Every problem names the field a user must fix.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic.alias_generators import to_camel

from session_runner.contract.keyrule import kek_length_problem
from wafleet_operator.api import CEL_ERROR_TYPE, WhatsAppAccountSpec
from wafleet_operator.api.whatsapp_account import (
    MAX_ACCOUNT_NAME_LENGTH as MAX_ACCOUNT_NAME_LENGTH,  # re-exported: pinned to specs.naming's
)
from wafleet_operator.api.whatsapp_account import account_name_problem
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


#: Where pydantic names the member of a union that failed (``int``,
#: ``constrained-str``, ``function-after[...]``): not a field, so not in the path.
_UNION_TAGS = frozenset({"int", "str", "float", "bool", "none"})


def _is_field(loc: str) -> bool:
    return loc.isidentifier() and loc not in _UNION_TAGS


def problems_from_validation_error(error: ValidationError, root: str = "spec") -> list[Problem]:
    """Turn pydantic's error locations into the camelCase field paths users see in YAML.

    A value that fails every member of a union (an int-or-string quantity) is one
    problem at its field, saying what each member wanted.
    """
    messages: dict[str, list[str]] = {}
    for item in error.errors():
        parts = [root]
        for loc in item["loc"]:
            if isinstance(loc, int):
                parts[-1] += f"[{loc}]"
            elif _is_field(str(loc)):
                parts.append(to_camel(str(loc)))
        if item["type"] == CEL_ERROR_TYPE:
            # A cross-field rule fails on its object; its field_path names the field to fix.
            field_path = str((item.get("ctx") or {}).get("field_path") or "")
            parts.extend(part for part in field_path.split(".") if part)
        said = messages.setdefault(".".join(parts), [])
        if str(item["msg"]) not in said:
            said.append(str(item["msg"]))
    return [Problem(field, ", or ".join(said)) for field, said in messages.items()]


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


def kek_problems(data: Mapping[str, str], key: str) -> dict[str, str]:
    """Why the key-encryption key, or a retired one beside it, is not a key: key name → why.

    ``data`` is the Secret's data as the API returns it (base64 values). The runner
    loads ``key`` and every ``key.<suffix>`` (``key.1``, ``key.2`` … kept after a
    rotation to read older snapshots) with the same rule, and exits on the first
    that is not a key. The answer holds lengths at most, never a value.
    """
    found: dict[str, str] = {}
    for name in sorted(data):
        if name != key and not name.startswith(f"{key}."):
            continue
        try:
            value = base64.b64decode(data[name] or "", validate=True)
        except (binascii.Error, ValueError):
            found[name] = "is not base64 in the Secret's data"
            continue
        problem = kek_length_problem(value)
        if problem is not None:
            found[name] = problem
    return found


def image_allowed(image: str, allow_list: Collection[str]) -> bool:
    """Whether an image is on the allow-list: an entry names one image exactly, or ends
    with ``*`` to allow every image that starts with the rest (``registry.example/wafleet/*``)."""
    return any(
        image.startswith(entry[:-1]) if entry.endswith("*") else image == entry
        for entry in allow_list
    )


def image_problem(image: str | None, allow_list: Collection[str]) -> str | None:
    """Why ``spec.image`` may not run, or None. The runner's pod gets the account's
    Secrets and a token for its Lease, so only images the operator's settings name run."""
    if image is None or image_allowed(image, allow_list):
        return None
    allowed = ", ".join(sorted(allow_list)) or "none"
    return (
        f"image {image!r} is not on the operator's allow-list ({allowed}); "
        "ask the operator's administrator to add it (WAFLEET_RUNNER_IMAGE_ALLOW_LIST)"
    )


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
    *,
    allowed_images: Collection[str],
    bad_keks: Mapping[str, str] | None = None,
) -> list[Problem]:
    """Problems of a parsed spec, given the keys of the Secrets that exist (name → keys),
    the images the operator's settings allow, and what :func:`kek_problems` found wrong
    in the encryption-key Secret (key name → why; never a value).
    """
    problems: list[Problem] = []
    name_problem = account_name_problem(name)
    if name_problem:
        problems.append(Problem("metadata.name", name_problem))
    image = image_problem(spec.image, allowed_images)
    if image:
        problems.append(Problem("spec.image", image))
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
    if spec.snapshot is not None and bad_keks:
        enc = spec.snapshot.encryption_key_secret
        for key, why in sorted(bad_keks.items()):
            problems.append(
                Problem(
                    "spec.snapshot.encryptionKeySecret.key",
                    f"Secret {enc.name!r} key {key!r} is not a key-encryption key: it {why}",
                )
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
