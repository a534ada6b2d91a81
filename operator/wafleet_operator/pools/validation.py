"""What a SenderPool's schema cannot reject, each problem naming its field. Pure.

The reconciler gathers the facts (the key names of the credentials Secret and
of the AWS credentials Secret, the pools that route the same target, whether the account of a session pool
exists and which other session pools name it); this module judges them, so
every rule has a table row.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from session_runner.contract.outbound import VENDOR_CREDENTIAL_KEYS
from wafleet_operator.api.sender_pool import AwsCredentialsSecretRef, SenderPoolSpec, Vendor
from wafleet_operator.status import Problem


@dataclass(frozen=True, order=True)
class TargetClaim:
    """A pool routing some target, ordered by who was first (then by name, for ties)."""

    created: str  # metadata.creationTimestamp, RFC 3339: orders as text
    namespace: str
    name: str


def target_owner(claims: Sequence[TargetClaim]) -> TargetClaim | None:
    """Which of the pools naming one target routes it: the oldest. The topic is shared by
    the whole cluster, so two pools with one target would both receive every message."""
    return min(claims) if claims else None


def aws_credentials_problems(
    vendor: Vendor, ref: AwsCredentialsSecretRef | None, keys: Collection[str] | None
) -> list[Problem]:
    """What keeps the senders from reading their AWS keys from ``spec.awsCredentialsSecret``.

    Checked before anything is applied because the Deployment's ``secretKeyRef``s are not
    optional: a missing Secret or key would leave every sender pod in
    CreateContainerConfigError, which only ``kubectl describe pod`` shows. A session pool
    may not name one at all: it has no sender replicas, so the field would be silently
    ignored. `keys`: the Secret's key names, None when it does not exist.
    """
    if ref is None:
        return []
    if vendor is Vendor.SESSION:
        # No sender replicas: the account's runner sends, with the account's AWS identity.
        return [
            Problem(
                "spec.awsCredentialsSecret",
                "not used by a session pool: its account's runner sends, with the "
                "account's own AWS identity",
            )
        ]
    if keys is None:
        return [Problem("spec.awsCredentialsSecret.name", f"Secret {ref.name} not found")]
    missing = [
        f"{key} (the {field})"
        for key, field in (
            (ref.access_key_id_key, "accessKeyIdKey"),
            (ref.secret_access_key_key, "secretAccessKeyKey"),
        )
        if key not in keys
    ]
    if not missing:
        return []
    return [
        Problem(
            "spec.awsCredentialsSecret",
            f"Secret {ref.name} lacks key(s) {', '.join(missing)}",
        )
    ]


def pool_problems(
    me: TargetClaim,
    spec: SenderPoolSpec,
    *,
    secret_keys: Collection[str] | None,
    aws_secret_keys: Collection[str] | None,
    target_claims: Sequence[TargetClaim],
    account_exists: bool | None,
    image_problem: str | None,
    name_problem: str | None,
    account_claims: Sequence[TargetClaim] = (),
) -> list[Problem]:
    """Every problem at once, so one edit can fix them all.

    `secret_keys`: the key names of spec.credentialsSecret, None when it does not
    exist. `aws_secret_keys`: the same for spec.awsCredentialsSecret (read only when
    the spec names one). `target_claims`: every pool (this one included) with spec.target.
    `account_exists`: for a session pool, whether spec.accountRef names an account.
    `account_claims`: every session pool (this one included) naming the same account.
    """
    problems: list[Problem] = []
    if name_problem:
        problems.append(Problem("metadata.name", name_problem))
    ref = spec.credentials_secret
    if ref is not None:
        if secret_keys is None:
            problems.append(Problem("spec.credentialsSecret.name", f"Secret {ref.name} not found"))
        else:
            missing = [k for k in VENDOR_CREDENTIAL_KEYS[spec.vendor] if k not in secret_keys]
            if missing:
                problems.append(
                    Problem(
                        "spec.credentialsSecret",
                        f"Secret {ref.name} lacks key(s) {', '.join(missing)} "
                        f"that vendor {spec.vendor} needs",
                    )
                )
    problems.extend(
        aws_credentials_problems(spec.vendor, spec.aws_credentials_secret, aws_secret_keys)
    )
    owner = target_owner(target_claims)
    if owner is not None and owner != me:
        problems.append(
            Problem(
                "spec.target",
                f"target {spec.target} is already routed by SenderPool "
                f"{owner.namespace}/{owner.name}; one target, one pool",
            )
        )
    if spec.account_ref is not None and account_exists is False:
        problems.append(
            Problem(
                "spec.accountRef.name",
                f"WhatsAppAccount {spec.account_ref.name} not found in this namespace",
            )
        )
    account_owner = target_owner(account_claims)
    if spec.account_ref is not None and account_owner is not None and account_owner != me:
        problems.append(
            Problem(
                "spec.accountRef.name",
                f"WhatsAppAccount {spec.account_ref.name} already sends for SenderPool "
                f"{account_owner.namespace}/{account_owner.name}; one session pool per account",
            )
        )
    if image_problem:
        problems.append(Problem("spec.image", image_problem))
    return problems
