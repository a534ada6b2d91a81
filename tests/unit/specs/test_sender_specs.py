"""A SenderPool's Kubernetes children: pinned by golden files, and each rule they follow."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from session_runner.contract.sender_settings import (
    CREDENTIALS_MOUNT_PATH,
    SENDER_ENV_PREFIX,
    SenderSettings,
)
from wafleet_operator.api.sender_pool import SenderPool, SenderPoolSpec
from wafleet_operator.config import OperatorSettings
from wafleet_operator.specs import build_children
from wafleet_operator.specs.labels import labels, selector_labels, sender_labels
from wafleet_operator.specs.naming import (
    MAX_SENDER_POOL_NAME_LENGTH,
    child_name,
    sender_child_name,
    sender_pool_name_problem,
)
from wafleet_operator.specs.sender import (
    SENDER_APPLY_ORDER,
    KedaAuthentication,
    KedaAuthKind,
    PoolRef,
    SenderImageNotAllowedError,
    SenderWiring,
    build_scaled_object,
    build_sender_children,
    build_sender_deployment,
    build_sender_env,
    build_sender_pdb,
    build_sender_service_account,
    build_sender_settings,
    sender_image,
    sender_image_problem,
)

from .cases import CASES
from .golden import check_golden_file

CHART_VALUES = Path(__file__).resolve().parents[3] / "charts" / "wafleet" / "values.yaml"
KUBERNETES_VERSIONS = ["1.30", kubernetes_validate.latest_version()]

#: Fixed, so the golden files do not depend on the environment the tests run in.
SETTINGS = OperatorSettings(
    runner_image="ghcr.io/wafleet/runner:0.1.0",
    runner_image_pull_policy="IfNotPresent",
    runner_image_allow_list="registry.example.com/wafleet/*",
)


def _wiring(queue: str, *, endpoint: str | None = None) -> SenderWiring:
    url = f"https://sqs.eu-west-1.amazonaws.com/123456789012/{queue}"
    return SenderWiring(
        queue_url=url,
        dead_letter_queue_url=f"{url}-dlq",
        ledger_table="wafleet-outbound-ledger",
        aws_region="eu-west-1",
        aws_endpoint_url=endpoint,
    )


@dataclass(frozen=True)
class PoolCase:
    """A SenderPool as the API server would hand it to the operator, and what the
    operator knows beside it (its queues, its scale decision, KEDA's authentication)."""

    name: str
    namespace: str
    uid: str
    spec: dict[str, Any]
    wiring: SenderWiring
    replicas: int | None = None
    keda_authentication: KedaAuthentication | None = None
    settings: OperatorSettings = field(default=SETTINGS)

    def body(self) -> dict[str, Any]:
        return {
            "apiVersion": "wafleet.io/v1alpha1",
            "kind": "SenderPool",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "uid": self.uid,
                "generation": 2,
            },
            "spec": self.spec,
        }

    @property
    def pool(self) -> PoolRef:
        return PoolRef.from_pool(SenderPool.model_validate(self.body()))

    @property
    def parsed(self) -> SenderPoolSpec:
        return SenderPoolSpec.model_validate(self.spec)

    def children(self) -> list[dict[str, Any]]:
        return build_sender_children(
            self.pool,
            self.parsed,
            self.settings,
            self.wiring,
            replicas=self.replicas,
            keda_authentication=self.keda_authentication,
        )

    def deployment(self, **spec_changes: Any) -> dict[str, Any]:
        spec = SenderPoolSpec.model_validate({**self.spec, **spec_changes})
        return build_sender_deployment(
            self.pool, spec, self.settings, self.wiring, replicas=self.replicas
        )


POOLS: dict[str, PoolCase] = {
    # Marketing through the Meta Cloud API, scaled by the operator (now at 4 replicas).
    "sender-meta-cloud": PoolCase(
        name="marketing-meta",
        namespace="default",
        uid="7e1f3a2b-4c5d-4e6f-8a9b-0c1d2e3f4a01",
        spec={
            "vendor": "meta-cloud",
            "target": "marketing-meta",
            "credentialsSecret": {"name": "meta-cloud-credentials"},
            "phoneNumbers": ["+14155550100", "+14155550101"],
            "rateLimitPerSecond": 80,
            "concurrency": 16,
            "replicas": {"min": 1, "max": 20},
            "backlogPerReplica": 500,
            "queue": {"maxReceiveCount": 3, "visibilityTimeoutSeconds": 120},
        },
        wiring=_wiring("wafleet-default-marketing-meta"),
        replicas=4,
    ),
    # Through an account's own session: no credentials, idle at zero, a pinned image.
    "sender-session": PoolCase(
        name="demo",
        namespace="tenant-a",
        uid="7e1f3a2b-4c5d-4e6f-8a9b-0c1d2e3f4a02",
        spec={
            "vendor": "session",
            "target": "demo-session",
            "accountRef": {"name": "demo"},
            "rateLimitPerSecond": 0.5,
            "concurrency": 1,
            "replicas": {"min": 0, "max": 1},
            "image": "registry.example.com/wafleet/runner:0.2.0-rc1",
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
        },
        wiring=_wiring("wafleet-tenant-a-demo"),
    ),
    # Twilio scaled by KEDA, against an SQS-compatible endpoint, with a cluster-wide auth.
    "sender-keda": PoolCase(
        name="otp-twilio",
        namespace="default",
        uid="7e1f3a2b-4c5d-4e6f-8a9b-0c1d2e3f4a03",
        spec={
            "vendor": "twilio",
            "target": "otp-twilio",
            "credentialsSecret": {"name": "twilio-credentials"},
            "phoneNumbers": ["+14155550199"],
            "rateLimitPerSecond": 1,
            "replicas": {"min": 0, "max": 10},
            "backlogPerReplica": 50,
            "scaling": {"provider": "keda", "stabilizationWindowSeconds": 120},
            "queue": {"messageRetentionSeconds": 600},
        },
        wiring=_wiring("wafleet-default-otp-twilio", endpoint="http://localstack.aws.svc:4566"),
        replicas=3,  # passed, and ignored: KEDA owns the replicas
        keda_authentication=KedaAuthentication(name="wafleet-sqs"),
    ),
    # Twilio off EKS: static AWS keys from a Secret, under key names of its own.
    "sender-aws-keys": PoolCase(
        name="otp-eu",
        namespace="tenant-b",
        uid="7e1f3a2b-4c5d-4e6f-8a9b-0c1d2e3f4a04",
        spec={
            "vendor": "twilio",
            "target": "otp-eu",
            "credentialsSecret": {"name": "twilio-credentials"},
            "awsCredentialsSecret": {
                "name": "sender-aws",
                "accessKeyIdKey": "access-key-id",
                "secretAccessKeyKey": "secret-access-key",
            },
            "phoneNumbers": ["+447700900123"],
            "rateLimitPerSecond": 5,
            "replicas": {"min": 0, "max": 3},
        },
        wiring=_wiring("wafleet-tenant-b-otp-eu"),
        replicas=1,
    ),
}
POOL_IDS = list(POOLS)


def _pod(deployment: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return pod


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = _pod(deployment)["containers"]
    assert isinstance(container, dict)
    return container


def _kind(children: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [child for child in children if child["kind"] == kind]
    return found


# ------------------------------------------------------------------ all children


@pytest.mark.parametrize("case", POOL_IDS)
def test_golden(case: str) -> None:
    check_golden_file(case, POOLS[case].children())


@pytest.mark.parametrize("case", POOL_IDS)
def test_apply_order_and_names(case: str) -> None:
    c = POOLS[case]
    kinds = tuple(child["kind"] for child in c.children())
    keda = c.parsed.scaling.provider.value == "keda"
    assert kinds == (SENDER_APPLY_ORDER if keda else SENDER_APPLY_ORDER[:-1])
    assert {child["metadata"]["name"] for child in c.children()} == {f"sp-{c.name}"}


@pytest.mark.parametrize("case", POOL_IDS)
def test_every_child_is_owned_labelled_and_namespaced(case: str) -> None:
    c = POOLS[case]
    owner = {
        "apiVersion": "wafleet.io/v1alpha1",
        "kind": "SenderPool",
        "name": c.name,
        "uid": c.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }
    for child in c.children():
        meta = child["metadata"]
        assert meta["ownerReferences"] == [owner], child["kind"]
        assert meta["labels"] == sender_labels(c.name), child["kind"]
        assert meta["labels"]["wafleet.io/sender-pool"] == c.name
        assert "wafleet.io/account" not in meta["labels"]
        assert meta["namespace"] == c.namespace, child["kind"]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("case", POOL_IDS)
def test_children_are_valid_kubernetes_objects(case: str, version: str) -> None:
    """Offline against the API's own OpenAPI schemas, strict: no unknown fields.
    (The ScaledObject is KEDA's: test_scaled_object_* check it.)"""
    for child in POOLS[case].children():
        if child["kind"] != "ScaledObject":
            kubernetes_validate.validate(child, version, strict=True)


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}[{index}]")
    else:
        yield path, node


@pytest.mark.parametrize("case", POOL_IDS)
def test_vendor_credentials_are_a_mounted_secret_never_env(case: str) -> None:
    """The vendor's Secret only as a volume; the one secretKeyRef allowed is to the AWS keys
    of spec.awsCredentialsSecret (boto3 reads them from the environment)."""
    c = POOLS[case]
    secret = c.parsed.credentials_secret
    aws = c.parsed.aws_credentials_secret
    for child in c.children():
        assert child["kind"] != "Secret"
        for path, value in _walk(child):
            assert not path.endswith((".data", ".stringData")), path
            if secret is not None and value == secret.name:
                assert path.endswith(".secret.secretName"), path
    env = _container(c.deployment())["env"]
    refs = [e["valueFrom"]["secretKeyRef"] for e in env if "secretKeyRef" in e.get("valueFrom", {})]
    if aws is None:
        assert refs == []
    else:
        assert [e["name"] for e in env if "secretKeyRef" in e.get("valueFrom", {})] == [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
        ]
        assert {ref["name"] for ref in refs} == {aws.name}


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        pytest.param(None, [], id="none: the pod's ambient identity"),
        pytest.param(
            {"name": "aws"},
            [
                (
                    "AWS_ACCESS_KEY_ID",
                    {"name": "aws", "key": "AWS_ACCESS_KEY_ID", "optional": False},
                ),
                (
                    "AWS_SECRET_ACCESS_KEY",
                    {"name": "aws", "key": "AWS_SECRET_ACCESS_KEY", "optional": False},
                ),
            ],
            id="default key names",
        ),
        pytest.param(
            {"name": "aws", "accessKeyIdKey": "id", "secretAccessKeyKey": "secret"},
            [
                ("AWS_ACCESS_KEY_ID", {"name": "aws", "key": "id", "optional": False}),
                ("AWS_SECRET_ACCESS_KEY", {"name": "aws", "key": "secret", "optional": False}),
            ],
            id="the Secret's own key names",
        ),
    ],
)
def test_aws_keys_reach_the_sender_as_secret_key_refs_only(
    ref: dict[str, str] | None, expected: list[tuple[str, dict[str, Any]]]
) -> None:
    """Never a value: the kubelet resolves the references, so the keys pass neither through
    the operator nor the Deployment; not optional, so a missing key stops the pod."""
    c = POOLS["sender-meta-cloud"]
    spec = SenderPoolSpec.model_validate({**c.spec, "awsCredentialsSecret": ref})
    env = build_sender_env(c.pool, spec, c.wiring)
    assert [e["name"] for e in env] == sorted(e["name"] for e in env)
    aws = [(e["name"], e["valueFrom"]["secretKeyRef"]) for e in env if e["name"].startswith("AWS_")]
    assert aws == expected
    assert all(set(e) == {"name", "valueFrom"} for e in env if e["name"].startswith("AWS_"))


def test_credentials_volume_is_the_whole_secret_read_only() -> None:
    deployment = POOLS["sender-meta-cloud"].deployment()
    volumes = {v["name"]: v for v in _pod(deployment)["volumes"]}
    mounts = {m["name"]: m for m in _container(deployment)["volumeMounts"]}
    assert volumes["vendor-credentials"] == {
        "name": "vendor-credentials",
        "secret": {"secretName": "meta-cloud-credentials", "defaultMode": 0o400},
    }
    assert mounts["vendor-credentials"] == {
        "name": "vendor-credentials",
        "mountPath": CREDENTIALS_MOUNT_PATH,
        "readOnly": True,
    }
    assert set(volumes) == set(mounts) == {"tmp", "vendor-credentials"}
    session = POOLS["sender-session"].deployment()
    assert [v["name"] for v in _pod(session)["volumes"]] == ["tmp"]
    assert [m["name"] for m in _container(session)["volumeMounts"]] == ["tmp"]


# ------------------------------------------------------------------ the Deployment


@pytest.mark.parametrize(
    ("replicas", "expected"),
    [
        pytest.param(4, 4, id="the operator's decision"),
        pytest.param(None, 1, id="none yet: the minimum"),
        pytest.param(0, 1, id="below the bounds: the minimum"),
        pytest.param(99, 20, id="above the bounds: the maximum"),
    ],
)
def test_operator_scaled_deployment_carries_the_decision_within_bounds(
    replicas: int | None, expected: int
) -> None:
    c = dataclasses.replace(POOLS["sender-meta-cloud"], replicas=replicas)
    assert c.deployment()["spec"]["replicas"] == expected


@pytest.mark.parametrize("replicas", [None, 0, 3])
def test_keda_scaled_deployment_has_no_replicas(replicas: int | None) -> None:
    """KEDA's HPA owns them; a server-side apply naming them would take them back."""
    c = dataclasses.replace(POOLS["sender-keda"], replicas=replicas)
    assert "replicas" not in c.deployment()["spec"]
    assert "replicas" not in _kind(c.children(), "Deployment")["spec"]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"replicas": {"min": 0, "max": 3}}, id="bounds"),
        pytest.param({"backlogPerReplica": 7}, id="backlog per replica"),
        pytest.param({"scaling": {"provider": "keda"}}, id="provider"),
        pytest.param({"scaling": {"stabilizationWindowSeconds": 0}}, id="window"),
        pytest.param(
            {
                "queue": {
                    "maxReceiveCount": 3,
                    "visibilityTimeoutSeconds": 120,
                    "messageRetentionSeconds": 60,
                }
            },
            id="retention (the sender never sees it: SQS drops what expires)",
        ),
    ],
)
def test_scaling_never_restarts_a_sender(change: dict[str, Any]) -> None:
    """The pod template holds nothing the scaler or the queue's lifetime changes."""
    c = POOLS["sender-meta-cloud"]
    template = c.deployment()["spec"]["template"]
    assert c.deployment(**change)["spec"]["template"] == template
    other_decision = dataclasses.replace(c, replicas=9)
    assert other_decision.deployment()["spec"]["template"] == template
    later = dataclasses.replace(c.pool, generation=c.pool.generation + 5)
    rebuilt = build_sender_deployment(later, c.parsed, SETTINGS, c.wiring, replicas=4)
    assert rebuilt["spec"]["template"] == template


def test_a_rollout_keeps_draining_the_queue() -> None:
    spec = POOLS["sender-meta-cloud"].deployment()["spec"]
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
    }


@pytest.mark.parametrize("case", POOL_IDS)
def test_locked_down_pod_like_the_charts(case: str) -> None:
    values = yaml.safe_load(CHART_VALUES.read_text(encoding="utf-8"))
    deployment = POOLS[case].deployment()
    pod = _pod(deployment)
    assert pod["securityContext"] == values["podSecurityContext"]
    assert _container(deployment)["securityContext"] == values["securityContext"]
    assert pod["serviceAccountName"] == f"sp-{POOLS[case].name}"
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    assert _container(deployment)["args"] == ["sender"]


def test_probes_on_the_named_health_port() -> None:
    container = _container(POOLS["sender-meta-cloud"].deployment())
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "health": 8081,
        "metrics": 9090,
    }
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}


def test_resources_default_without_cpu_limit_or_replaced_whole() -> None:
    default = _container(POOLS["sender-meta-cloud"].deployment())["resources"]
    assert default == {
        "requests": {"cpu": "50m", "memory": "128Mi"},
        "limits": {"memory": "256Mi"},
    }
    custom = _container(POOLS["sender-session"].deployment())["resources"]
    assert custom == {"requests": {"cpu": "100m", "memory": "128Mi"}}


# ------------------------------------------------------------------ the image


@pytest.mark.parametrize(
    ("image", "allow_list", "expected"),
    [
        pytest.param(None, "", "ghcr.io/wafleet/runner:0.1.0", id="no override: the runner image"),
        pytest.param(
            "ghcr.io/wafleet/runner:0.1.0",
            "",
            "ghcr.io/wafleet/runner:0.1.0",
            id="the runner's own",
        ),
        pytest.param(
            "registry.example.com/wafleet/runner:0.2.0-rc1",
            "registry.example.com/wafleet/*",
            "registry.example.com/wafleet/runner:0.2.0-rc1",
            id="allowed by a prefix entry",
        ),
        pytest.param(
            "registry.example.com/wafleet/runner:0.2.0",
            "registry.example.com/wafleet/runner:0.2.0",
            "registry.example.com/wafleet/runner:0.2.0",
            id="allowed exactly",
        ),
    ],
)
def test_image_override_on_the_allow_list(
    image: str | None, allow_list: str, expected: str
) -> None:
    settings = OperatorSettings(
        runner_image="ghcr.io/wafleet/runner:0.1.0", runner_image_allow_list=allow_list
    )
    spec = POOLS["sender-meta-cloud"].parsed.model_copy(update={"image": image})
    assert sender_image_problem(spec, settings) is None
    assert sender_image(spec, settings) == expected


@pytest.mark.parametrize(
    ("image", "allow_list"),
    [
        pytest.param("evil.example/runner:1", "", id="nothing but the runner image allowed"),
        pytest.param(
            "registry.example.com/other/runner:1",
            "registry.example.com/wafleet/*",
            id="outside the prefix",
        ),
        pytest.param(
            "ghcr.io/wafleet/runner:0.1.0-evil", "", id="the runner image's name as a prefix"
        ),
    ],
)
def test_image_override_refused_by_the_accounts_rule(image: str, allow_list: str) -> None:
    """The same rule as an account's spec.image: the problem names the image and the setting,
    and no builder renders a pod with that image even if the problem went unreported."""
    settings = OperatorSettings(
        runner_image="ghcr.io/wafleet/runner:0.1.0", runner_image_allow_list=allow_list
    )
    c = POOLS["sender-meta-cloud"]
    spec = SenderPoolSpec.model_validate({**c.spec, "image": image})
    problem = sender_image_problem(spec, settings)
    assert problem is not None
    assert image in problem
    assert "WAFLEET_RUNNER_IMAGE_ALLOW_LIST" in problem
    with pytest.raises(SenderImageNotAllowedError) as refused:
        build_sender_deployment(c.pool, spec, settings, c.wiring)
    assert str(refused.value) == problem
    with pytest.raises(SenderImageNotAllowedError):
        build_sender_children(c.pool, spec, settings, c.wiring)


# ------------------------------------------------------------------ the sender's settings


def _load_env(env: list[dict[str, Any]], pod: str, namespace: str) -> dict[str, str]:
    """What the kubelet gives the container: literals unescaped, fieldRefs resolved."""
    field_values = {"metadata.name": pod, "metadata.namespace": namespace}
    loaded = {}
    for item in env:
        if "value" in item:
            loaded[item["name"]] = item["value"].replace("$$", "$")
        else:
            loaded[item["name"]] = field_values[item["valueFrom"]["fieldRef"]["fieldPath"]]
    return loaded


@pytest.mark.parametrize("case", POOL_IDS)
def test_env_loads_back_into_the_senders_settings(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The contract: what the pod's environment makes SenderSettings() load is exactly what
    the operator built, with the pod's own name and namespace from the downward API."""
    c = POOLS[case]
    env = [
        e
        for e in build_sender_env(c.pool, c.parsed, c.wiring)
        if "secretKeyRef" not in e.get("valueFrom", {})  # AWS keys: not settings
    ]
    assert all(e["name"].startswith(SENDER_ENV_PREFIX) for e in env)
    for name, value in _load_env(env, "sp-x-abc", c.namespace).items():
        monkeypatch.setenv(name, value)
    loaded = SenderSettings()  # every required field from the environment
    built = build_sender_settings(c.pool, c.parsed, c.wiring)
    assert loaded == built.model_copy(update={"pod_name": "sp-x-abc"})


def test_settings_come_from_the_pool_and_the_wiring() -> None:
    c = POOLS["sender-meta-cloud"]
    settings = build_sender_settings(c.pool, c.parsed, c.wiring)
    assert (settings.pool, settings.namespace) == ("marketing-meta", "default")
    assert (settings.vendor, settings.target) == ("meta-cloud", "marketing-meta")
    assert settings.sender_number == "+14155550100"
    assert settings.queue_url == c.wiring.queue_url
    assert settings.dead_letter_queue_url == c.wiring.dead_letter_queue_url
    assert settings.ledger_table == "wafleet-outbound-ledger"
    assert (settings.aws_region, settings.aws_endpoint_url) == ("eu-west-1", None)
    assert (settings.rate_limit_per_second, settings.concurrency) == (80.0, 16)
    assert (settings.max_receive_count, settings.visibility_timeout_seconds) == (3, 120)
    assert str(settings.credentials_dir) == CREDENTIALS_MOUNT_PATH
    fields = {e["name"]: e for e in build_sender_env(c.pool, c.parsed, c.wiring)}
    assert fields[f"{SENDER_ENV_PREFIX}POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.name"
    )
    assert fields[f"{SENDER_ENV_PREFIX}NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.namespace"
    )


def test_settings_ignore_the_operators_own_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    c = POOLS["sender-meta-cloud"]
    expected = build_sender_env(c.pool, c.parsed, c.wiring)
    monkeypatch.setenv(f"{SENDER_ENV_PREFIX}CLAIM_SECONDS", "1")
    monkeypatch.setenv(f"{SENDER_ENV_PREFIX}LOG_LEVEL", "debug")
    assert build_sender_env(c.pool, c.parsed, c.wiring) == expected


def test_a_dollar_in_a_value_reaches_the_sender_verbatim() -> None:
    """Kubernetes would expand $(VAR) in a literal value; every $ is escaped."""
    c = POOLS["sender-meta-cloud"]
    wiring = dataclasses.replace(c.wiring, vendor_base_url="http://stand-in/$(AWS_SECRET)")
    env = {e["name"]: e.get("value") for e in build_sender_env(c.pool, c.parsed, wiring)}
    assert env[f"{SENDER_ENV_PREFIX}VENDOR_BASE_URL"] == "http://stand-in/$$(AWS_SECRET)"


# ------------------------------------------------------------------ identity and the budget


@pytest.mark.parametrize("case", POOL_IDS)
def test_senders_get_an_identity_and_no_kubernetes_permissions(case: str) -> None:
    """A sender never calls the API server: its pool's ServiceAccount (for IRSA or Pod
    Identity) mounts no token, the pods mount none, and nothing grants it anything."""
    c = POOLS[case]
    children = c.children()
    account = _kind(children, "ServiceAccount")
    assert account == build_sender_service_account(c.pool)
    assert account["automountServiceAccountToken"] is False
    assert _pod(_kind(children, "Deployment"))["automountServiceAccountToken"] is False
    assert _pod(_kind(children, "Deployment"))["serviceAccountName"] == account["metadata"]["name"]
    granting = {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}
    assert not [child["kind"] for child in children if child["kind"] in granting]
    assert not granting & set(SENDER_APPLY_ORDER)


@pytest.mark.parametrize("case", POOL_IDS)
def test_the_budget_guards_exactly_the_senders_one_at_a_time(case: str) -> None:
    c = POOLS[case]
    pdb = build_sender_pdb(c.pool)["spec"]
    assert pdb["maxUnavailable"] == 1
    assert "minAvailable" not in pdb
    assert pdb["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    assert pdb["selector"] == c.deployment()["spec"]["selector"]


# ------------------------------------------------------------------ the ScaledObject


def test_scaled_object_follows_the_pool() -> None:
    c = POOLS["sender-keda"]
    so = build_scaled_object(c.pool, c.parsed, c.wiring, authentication=c.keda_authentication)
    assert (so["apiVersion"], so["kind"]) == ("keda.sh/v1alpha1", "ScaledObject")
    spec = so["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": c.deployment()["metadata"]["name"],
    }
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (0, 10)
    behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior == {"scaleDown": {"stabilizationWindowSeconds": 120}}
    assert spec["cooldownPeriod"] == 120
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "aws-sqs-queue"
    assert trigger["authenticationRef"] == {
        "name": "wafleet-sqs",
        "kind": "ClusterTriggerAuthentication",
    }
    assert trigger["metadata"] == {
        "queueURL": c.wiring.queue_url,
        "queueLength": "50",
        "activationQueueLength": "0",
        "scaleOnInFlight": "true",
        "awsRegion": "eu-west-1",
        "awsEndpoint": "http://localstack.aws.svc:4566",
    }


def test_scaled_object_trigger_metadata_is_strings_only() -> None:
    """KEDA's schema: triggers[].metadata is a map of strings; a number is refused."""
    c = POOLS["sender-keda"]
    for wiring in (c.wiring, dataclasses.replace(c.wiring, aws_endpoint_url=None)):
        (trigger,) = build_scaled_object(c.pool, c.parsed, wiring)["spec"]["triggers"]
        assert all(isinstance(v, str) for v in trigger["metadata"].values())
        assert ("awsEndpoint" in trigger["metadata"]) is (wiring.aws_endpoint_url is not None)
        assert "authenticationRef" not in trigger


def test_scaled_object_namespaced_authentication() -> None:
    c = POOLS["sender-keda"]
    auth = KedaAuthentication(name="sqs", kind=KedaAuthKind.TRIGGER_AUTHENTICATION)
    (trigger,) = build_scaled_object(c.pool, c.parsed, c.wiring, authentication=auth)["spec"][
        "triggers"
    ]
    assert trigger["authenticationRef"] == {"name": "sqs", "kind": "TriggerAuthentication"}


def test_no_scaled_object_for_a_pool_the_operator_scales() -> None:
    c = POOLS["sender-meta-cloud"]
    with pytest.raises(ValueError, match="not keda"):
        build_scaled_object(c.pool, c.parsed, c.wiring)
    assert "ScaledObject" not in {child["kind"] for child in c.children()}


# ------------------------------------------------------------------ names and selectors


def test_pool_names_fit_and_never_collide_with_an_accounts_children() -> None:
    assert sender_child_name("demo") == "sp-demo" != child_name("demo")
    assert MAX_SENDER_POOL_NAME_LENGTH == 60
    longest = "p" * MAX_SENDER_POOL_NAME_LENGTH
    assert len(sender_child_name(longest)) == 63
    assert all(len(value) <= 63 for value in sender_labels(longest).values())
    assert sender_pool_name_problem(longest) is None
    problem = sender_pool_name_problem(longest + "p")
    assert problem is not None
    assert "at most 60 characters" in problem
    # No pool's child can be named like an account's: the prefixes differ from the start.
    assert not sender_child_name("waa-x").startswith("waa-")
    assert not child_name("sp-x").startswith("sp-")


def _matches(selector: dict[str, str], pod_labels: dict[str, str]) -> bool:
    return selector.items() <= pod_labels.items()


def test_an_account_and_a_pool_of_one_name_never_select_each_others_pods() -> None:
    account = CASES["browser-snapshots"]
    pool = dataclasses.replace(POOLS["sender-session"], name=account.name)
    sender_deployment = pool.deployment()
    sender_selector = sender_deployment["spec"]["selector"]["matchLabels"]
    sender_pod = sender_deployment["spec"]["template"]["metadata"]["labels"]
    account_sts = _kind(build_children(account.account, account.parsed, SETTINGS), "StatefulSet")
    account_pod = account_sts["spec"]["template"]["metadata"]["labels"]
    assert account_pod == labels(account.name)
    assert _matches(sender_selector, sender_pod)
    assert _matches(selector_labels(account.name), account_pod)
    assert not _matches(sender_selector, account_pod)
    assert not _matches(selector_labels(account.name), sender_pod)


def test_pool_ref_from_metadata_and_from_pool() -> None:
    c = POOLS["sender-meta-cloud"]
    assert PoolRef.from_metadata(c.body()["metadata"]) == c.pool
    assert c.pool == PoolRef(name="marketing-meta", namespace="default", uid=c.uid, generation=2)
    with pytest.raises(ValueError, match=r"metadata\.name, namespace and uid"):
        PoolRef.from_pool(SenderPool.model_validate({**c.body(), "metadata": {"name": "x"}}))


@pytest.mark.parametrize(
    ("base", "vendor", "url"),
    [
        (None, "twilio", None),  # no ingest deployed: Twilio is asked for no callbacks
        ("https://hooks.example.com", "twilio", "https://hooks.example.com/twilio/shop/otp"),
        (
            "https://hooks.example.com/wafleet/",
            "twilio",
            "https://hooks.example.com/wafleet/twilio/shop/otp",
        ),
        ("https://hooks.example.com", "meta-cloud", None),  # set once in Meta's dashboard
    ],
)
def test_status_callback_url(base: str | None, vendor: str, url: str | None) -> None:
    from wafleet_operator.specs.sender.settings import status_callback_url

    assert status_callback_url(base, vendor, "shop", "otp") == url
