"""A sender's settings for one pool, and how they reach its pods.

``session_runner.contract.sender_settings.SenderSettings`` is the operator↔sender
contract, as ``RunnerSettings`` is the runner's: this module fills it from the
pool and the operator's wiring and renders it with its own ``as_env()``, so a
field added there reaches the pod without anyone writing its name twice. The
pod's own name and namespace come from the downward API; the vendor's
credentials are files of the pool's Secret (mounted by the Deployment), never
settings and never environment values. Static AWS keys (``spec.awsCredentialsSecret``)
are the one exception to "no secret in the env": boto3 reads them from
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, so they are ``secretKeyRef``s the
kubelet resolves; their values never pass through the operator or the Deployment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from session_runner.contract.sender_settings import (
    CREDENTIALS_MOUNT_PATH,
    SENDER_ENV_PREFIX,
    SenderSettings,
)
from wafleet_operator.api.sender_pool import SenderPoolSpec
from wafleet_operator.specs.container import secret_key_env, settings_env
from wafleet_operator.specs.runner_config import (
    AWS_ACCESS_KEY_ID_ENV,
    AWS_SECRET_ACCESS_KEY_ENV,
    HEALTH_PORT,
    METRICS_PORT,
    literal_env_value,
)
from wafleet_operator.specs.settings_values import without_environment

from .pool import PoolRef

POD_NAME_ENV = f"{SENDER_ENV_PREFIX}POD_NAME"
NAMESPACE_ENV = f"{SENDER_ENV_PREFIX}NAMESPACE"

#: Settings whose values the pod learns from the downward API, not from the pool.
FIELD_REF_ENV: dict[str, str] = {
    POD_NAME_ENV: "metadata.name",
    NAMESPACE_ENV: "metadata.namespace",
}

#: Where the pool's credentials Secret is mounted, as a directory of its keys.
CREDENTIALS_DIR = CREDENTIALS_MOUNT_PATH


@dataclass(frozen=True, slots=True)
class SenderWiring:
    """What a pool's senders are connected to that its spec does not say.

    The queue URLs exist only once the operator has created the queues (the pool's
    ``status.queueUrl`` and ``status.deadLetterQueueUrl``); the ledger table, the
    region and the endpoint are the operator's settings (``outbound_ledger_table``,
    ``aws_region``, ``aws_endpoint_url``), the same for every pool. ``vendor_base_url``
    points every pool at a stand-in of the vendor's API (tests, demos); None is the
    vendor's public API. None of these is a secret.
    """

    queue_url: str
    dead_letter_queue_url: str
    ledger_table: str
    aws_region: str
    aws_endpoint_url: str | None = None
    vendor_base_url: str | None = None
    #: Where the vendor posts this pool's delivery statuses (`status_callback_url`).
    status_callback_url: str | None = None


def status_callback_url(
    ingest_base_url: str | None, vendor: str, namespace: str, pool: str
) -> str | None:
    """The ingest's route for a Twilio pool's status callbacks, when the ingest is deployed.

    Only Twilio takes the URL per message (its StatusCallback, where our id rides in
    the query); Meta's webhook URL is set once in the app's dashboard (docs/events.md).
    """
    if not ingest_base_url or vendor != "twilio":
        return None
    return f"{ingest_base_url.rstrip('/')}/twilio/{namespace}/{pool}"


def build_sender_settings(
    pool: PoolRef, spec: SenderPoolSpec, wiring: SenderWiring
) -> SenderSettings:
    """The settings every sender replica of the pool must load.

    ``pod_name`` is a placeholder here (each replica learns its own name from the
    downward API) and so is ``namespace``'s value (the same as the pool's, also
    from the downward API). ``sender_number`` is the first of ``spec.phoneNumbers``:
    the contract has one number per sender, the spec a list.
    """
    numbers = spec.phone_numbers or []
    values: dict[str, Any] = {
        "pool": pool.name,
        "namespace": pool.namespace,
        "vendor": spec.vendor.value,
        "target": spec.target,
        "sender_number": numbers[0] if numbers else None,
        "queue_url": wiring.queue_url,
        "dead_letter_queue_url": wiring.dead_letter_queue_url,
        "ledger_table": wiring.ledger_table,
        "aws_region": wiring.aws_region,
        "aws_endpoint_url": wiring.aws_endpoint_url,
        "rate_limit_per_second": float(spec.rate_limit_per_second),
        "concurrency": spec.concurrency,
        "max_receive_count": spec.queue.max_receive_count,
        "visibility_timeout_seconds": spec.queue.visibility_timeout_seconds,
        "credentials_dir": CREDENTIALS_DIR,
        "vendor_base_url": wiring.vendor_base_url,
        "status_callback_url": wiring.status_callback_url,
        "health_port": HEALTH_PORT,
        "metrics_port": METRICS_PORT,
    }
    return without_environment(SenderSettings, values)


def aws_credentials_env(spec: SenderPoolSpec) -> list[dict[str, Any]]:
    """``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY`` from ``spec.awsCredentialsSecret``;
    none without it. The environment is first in boto3's credentials chain, so the keys win
    over whatever ambient identity the node also offers."""
    ref = spec.aws_credentials_secret
    if ref is None:
        return []
    return [
        secret_key_env(AWS_ACCESS_KEY_ID_ENV, ref.name, ref.access_key_id_key),
        secret_key_env(AWS_SECRET_ACCESS_KEY_ENV, ref.name, ref.secret_access_key_key),
    ]


def build_sender_env(
    pool: PoolRef, spec: SenderPoolSpec, wiring: SenderWiring
) -> list[dict[str, Any]]:
    """The sender container's ``env``, sorted by name so the rendering is stable.

    Every setting is a literal value (``$`` escaped, see ``literal_env_value``)
    except the pod's name and namespace (downward API). The vendor's credentials are
    files, not env. AWS is reached with the keys of ``spec.awsCredentialsSecret``
    (``secretKeyRef``s, :func:`aws_credentials_env`) when set, else with the pod's
    ambient credentials (IRSA, Pod Identity, an instance profile, or the image's
    environment in tests).
    """
    values = build_sender_settings(pool, spec, wiring).as_env()
    env = settings_env(values, FIELD_REF_ENV, literal_env_value) + aws_credentials_env(spec)
    return sorted(env, key=lambda item: str(item["name"]))
