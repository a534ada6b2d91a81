"""The runner's settings for one account, and how they reach its pod.

``session_runner.contract.settings.RunnerSettings`` is the operator↔runner contract:
this module fills it from the account and renders it with its own ``as_env()``,
so a field added there reaches the pod without anyone writing its name twice.
The values that are only known in the pod (its name and namespace) come from
the downward API, and credentials from Secret references: no secret value is
ever written into a manifest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from session_runner.contract.settings import ENV_PREFIX, RunnerSettings
from session_runner.contract.settings import Engine as RunnerEngine
from session_runner.session.engines.registry import LOCAL_ENV_PREFIX
from wafleet_operator.api import Engine, LocalLogin, WhatsAppAccountSpec
from wafleet_operator.specs.container import secret_key_env, settings_env
from wafleet_operator.specs.settings_values import without_environment

from .account import AccountRef
from .naming import child_name, pod_name

#: Where the session emptyDir is mounted; the engine's state lives below it.
STATE_MOUNT_PATH = "/var/lib/wafleet"
SESSION_DIR = f"{STATE_MOUNT_PATH}/session"
#: Where the encryption-key Secret is mounted, as a directory holding every key of the
#: Secret: the current key-encryption key is the file named by
#: spec.snapshot.encryptionKeySecret.key, retired ones are ``<key>.1``, ``<key>.2`` …
#: beside it (what ``load_keyring`` reads), so a rotation is a Secret edit.
SNAPSHOT_KEY_MOUNT_PATH = "/etc/wafleet/snapshot-key"

HEALTH_PORT = 8081
METRICS_PORT = 9090

#: How long the kubelet waits after SIGTERM before killing the runner. On
#: SIGTERM the runner stops the engine, takes a final snapshot and uploads it,
#: then releases the Lease so the next pod starts at once. The browser engine
#: must close Chromium to quiesce the profile (a profile copied while Chromium
#: writes can be torn), copy it and upload the changed chunks: 120 s. The
#: protocol engine's SQLite online backup needs no quiescing and is small, and
#: the local engine has almost nothing to save: 60 s.
TERMINATION_GRACE_SECONDS: Final[Mapping[Engine, int]] = {
    Engine.BROWSER: 120,
    Engine.PROTOCOL: 60,
    Engine.LOCAL: 60,
}

#: The runner must be done before the kubelet's SIGKILL: it gives the engine
#: stop and the final snapshot the grace period minus this margin, then
#: releases the Lease (one request) and exits, snapshot finished or not.
STOP_MARGIN_SECONDS = 10


def stop_timeout_seconds(engine: Engine) -> float:
    """The runner's budget for stopping the engine and its final snapshot."""
    return float(TERMINATION_GRACE_SECONDS[engine] - STOP_MARGIN_SECONDS)


POD_NAME_ENV = f"{ENV_PREFIX}POD_NAME"
NAMESPACE_ENV = f"{ENV_PREFIX}NAMESPACE"

#: Settings whose values the pod learns from the downward API, not from the spec.
FIELD_REF_ENV: dict[str, str] = {
    POD_NAME_ENV: "metadata.name",
    NAMESPACE_ENV: "metadata.namespace",
}

#: The local engine's peer logs in this long after its QR appears (0: at once).
LOCAL_AUTO_LOGIN_ENV = f"{LOCAL_ENV_PREFIX}AUTO_LOGIN_AFTER_S"

AWS_ACCESS_KEY_ID_ENV = "AWS_ACCESS_KEY_ID"
AWS_SECRET_ACCESS_KEY_ENV = "AWS_SECRET_ACCESS_KEY"


def snapshot_key_file(spec: WhatsAppAccountSpec) -> str | None:
    """Path of the mounted key-encryption key, or None without snapshots."""
    if spec.snapshot is None:
        return None
    return f"{SNAPSHOT_KEY_MOUNT_PATH}/{spec.snapshot.encryption_key_secret.key}"


def build_runner_settings(account: AccountRef, spec: WhatsAppAccountSpec) -> RunnerSettings:
    """The settings the account's runner must load.

    ``pod_name`` is the pod's own name (``waa-<name>-0``): in the pod it comes
    from the downward API with the same value, and the Lease holder identity
    must be that name so ``kubectl get lease`` points at the pod.
    """
    snapshot = spec.snapshot
    snapshot_fields: dict[str, Any] = {}
    if snapshot is not None:
        key_file = snapshot_key_file(spec)
        snapshot_fields = {
            "snapshot_bucket": snapshot.bucket,
            "snapshot_prefix": snapshot.prefix,
            "snapshot_endpoint_url": snapshot.endpoint,
            "snapshot_region": snapshot.region,
            "snapshot_interval_seconds": snapshot.interval_seconds,
            "snapshot_keep_last": snapshot.retention.keep_last,
            "snapshot_keep_within_hours": snapshot.retention.keep_within_hours,
            "snapshot_encryption_key_file": key_file,
            "snapshot_adopt_uid": snapshot.adopt_from_uid,
        }
    values: dict[str, Any] = {
        "account_name": account.name,
        "namespace": account.namespace,
        "account_uid": account.uid,
        "pod_name": pod_name(account.name),
        "engine": RunnerEngine(spec.engine.value),
        "phone_number": spec.phone_number,
        "lease_name": child_name(account.name),
        "lease_duration_seconds": float(spec.lease.duration_seconds),
        "lease_renew_deadline_seconds": float(spec.lease.renew_deadline_seconds),
        "lease_retry_period_seconds": float(spec.lease.retry_period_seconds),
        "session_dir": SESSION_DIR,
        "restore_from": spec.restore_from,
        "health_port": HEALTH_PORT,
        "metrics_port": METRICS_PORT,
        "stop_timeout_seconds": stop_timeout_seconds(spec.engine),
        **snapshot_fields,
    }
    return without_environment(RunnerSettings, values)


def literal_env_value(value: str) -> str:
    """``value`` as the container sees it: every ``$`` doubled.

    Kubernetes expands ``$(VAR)`` in a literal env value with the container's
    earlier variables, and the runner's env is sorted, so a spec value such as
    a prefix of ``$(AWS_SECRET_ACCESS_KEY)`` would become the secret itself
    (and be written into object keys, logs and status). ``$$`` is Kubernetes'
    escape for a literal ``$``: escaped, every value reaches the runner verbatim.
    """
    return value.replace("$", "$$")


def build_runner_env(account: AccountRef, spec: WhatsAppAccountSpec) -> list[dict[str, Any]]:
    """The runner container's ``env``, sorted by name so the rendering is stable.

    Every setting is a literal value (``$`` escaped: ``literal_env_value``) except
    the pod's name and namespace
    (downward API: the pod knows them better than the operator) and the S3
    keys, which are ``secretKeyRef``s to the account's credentials Secret; the
    kubelet resolves them, so the values never pass through the operator or
    appear in the StatefulSet. Without a credentials Secret the runner uses the
    pod's ambient AWS credentials (IRSA, instance profile).
    """
    env = settings_env(
        build_runner_settings(account, spec).as_env(), FIELD_REF_ENV, literal_env_value
    )
    if spec.engine is Engine.LOCAL and (
        spec.local is None or spec.local.login is LocalLogin.AUTOMATIC
    ):
        # The simulated person scans at once. Outside RunnerSettings on purpose: the local
        # engine's options are the simulation's, not part of the operator<->runner contract.
        env.append({"name": LOCAL_AUTO_LOGIN_ENV, "value": "0"})
    credentials = spec.snapshot.credentials_secret if spec.snapshot else None
    if credentials is not None:
        env.append(
            secret_key_env(AWS_ACCESS_KEY_ID_ENV, credentials.name, credentials.access_key_id_key)
        )
        env.append(
            secret_key_env(
                AWS_SECRET_ACCESS_KEY_ENV, credentials.name, credentials.secret_access_key_key
            )
        )
    return sorted(env, key=lambda item: str(item["name"]))
