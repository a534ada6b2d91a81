"""The kubelet stand-in's decision: a Pod as the API server stores it → the process to run.

Each row is a semantic a real kubelet has and wafleet's pods rely on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.control_plane.podspec import Launch, PodConfigError, build_launch, expand

SECRETS = {
    "s3": {"AWS_ACCESS_KEY_ID": b"AKIA-known", "AWS_SECRET_ACCESS_KEY": b"s3cr3t"},
    "kek": {"key": b"\x01" * 32},
    "kek-rotated": {"key": b"\x02" * 32, "key.1": b"\x01" * 32},
}
CONFIG_MAPS = {"kube-root-ca.crt": {"ca.crt": b"-----BEGIN CERTIFICATE-----"}}


def pod(container: dict[str, Any], volumes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "waa-demo-0",
            "namespace": "ns1",
            "uid": "u-1",
            "labels": {"app": "x"},
        },
        "spec": {
            "nodeName": "node-a",
            "serviceAccountName": "waa-demo",
            "containers": [{"name": "runner", "image": "wafleet/runner:1.0", **container}],
            "volumes": volumes or [],
        },
    }


def launch(p: dict[str, Any], root: Path) -> Launch:
    ports: Iterator[int] = iter(range(40000, 40100))
    return build_launch(
        p,
        container_name="runner",
        secrets=SECRETS.get,
        config_maps=CONFIG_MAPS.get,
        volume_root=root,
        host_ports=lambda: next(ports),
        entrypoints={"wafleet/runner": ["/venv/bin/wafleet-runner"]},
        base_env={"PATH": "/usr/bin"},
        service_account_token="the-token",
    )


ENV_ROWS = [
    ("literal", {"name": "A", "value": "1"}, "1"),
    ("empty value omitted by the server", {"name": "A"}, ""),
    (
        "downward name",
        {"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        "waa-demo-0",
    ),
    (
        "downward namespace",
        {"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        "ns1",
    ),
    (
        "downward label",
        {"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        "x",
    ),
    (
        "secretKeyRef",
        {"name": "A", "valueFrom": {"secretKeyRef": {"name": "s3", "key": "AWS_ACCESS_KEY_ID"}}},
        "AKIA-known",
    ),
    (
        "optional missing secret",
        {
            "name": "A",
            "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k", "optional": True}},
        },
        None,
    ),
    (
        "path under a mount is rewritten",
        {"name": "A", "value": "/var/lib/wafleet/session"},
        "MOUNT/session",
    ),
    ("a container port is mapped", {"name": "A", "value": "8081"}, "40000"),
]


#: k8s.io/kubernetes third_party/forked/golang/expansion, as the kubelet applies it.
EXPAND_ROWS = [
    ("no reference", "plain", "plain"),
    ("a defined variable", "$(A)", "1"),
    ("inside text", "x-$(A)-y", "x-1-y"),
    ("two references", "$(A)$(B)", "1two"),
    ("an undefined variable stays as written", "$(NOPE)", "$(NOPE)"),
    ("$$ is a literal $", "$$(A)", "$(A)"),
    ("$$$$ is two", "$$$$", "$$"),
    ("$ before another character stays", "$A and $", "$A and $"),
    ("an unterminated reference stays", "$(A", "$(A"),
    ("an empty name stays", "$()", "$()"),
    ("one pass: a value is not expanded again", "$(C)", "$(A)"),
]


@pytest.mark.parametrize(("why", "value", "expected"), EXPAND_ROWS, ids=[r[0] for r in EXPAND_ROWS])
def test_expand(why: str, value: str, expected: str) -> None:
    assert expand(value, {"A": "1", "B": "two", "C": "$(A)"}) == expected


EXPANSION_ENV_ROWS = [
    (
        "a literal refers to a secretKeyRef defined before it",
        [
            {
                "name": "AWS_SECRET_ACCESS_KEY",
                "valueFrom": {"secretKeyRef": {"name": "s3", "key": "AWS_SECRET_ACCESS_KEY"}},
            },
            {"name": "P", "value": "$(AWS_SECRET_ACCESS_KEY)"},
        ],
        "s3cr3t",
    ),
    (
        "escaped, the literal text arrives",
        [
            {
                "name": "AWS_SECRET_ACCESS_KEY",
                "valueFrom": {"secretKeyRef": {"name": "s3", "key": "AWS_SECRET_ACCESS_KEY"}},
            },
            {"name": "P", "value": "$$(AWS_SECRET_ACCESS_KEY)"},
        ],
        "$(AWS_SECRET_ACCESS_KEY)",
    ),
    (
        "a variable defined after is not expanded",
        [{"name": "P", "value": "$(Q)"}, {"name": "Q", "value": "late"}],
        "$(Q)",
    ),
    (
        "the image's environment is not the container's env",
        [{"name": "P", "value": "$(PATH)"}],
        "$(PATH)",
    ),
]


@pytest.mark.parametrize(
    ("why", "items", "expected"), EXPANSION_ENV_ROWS, ids=[r[0] for r in EXPANSION_ENV_ROWS]
)
def test_env_values_are_expanded_like_the_kubelet(
    why: str, items: list[dict[str, Any]], expected: str, tmp_path: Path
) -> None:
    assert launch(pod({"env": items}), tmp_path).env["P"] == expected


def test_command_and_args_are_expanded_but_not_the_image_entrypoint(tmp_path: Path) -> None:
    env = [{"name": "MODE", "value": "session"}]
    assert launch(pod({"env": env, "args": ["$(MODE)", "$$(MODE)"]}), tmp_path).argv == [
        "/venv/bin/wafleet-runner",
        "session",
        "$(MODE)",
    ]
    assert launch(pod({"env": env, "command": ["echo", "$(MODE)"]}), tmp_path).argv == [
        "echo",
        "session",
    ]


@pytest.mark.parametrize(("why", "item", "expected"), ENV_ROWS, ids=[r[0] for r in ENV_ROWS])
def test_env(why: str, item: dict[str, Any], expected: str | None, tmp_path: Path) -> None:
    p = pod(
        {
            "env": [item],
            "ports": [{"containerPort": 8081}],
            "volumeMounts": [{"name": "session", "mountPath": "/var/lib/wafleet"}],
        },
        [{"name": "session", "emptyDir": {}}],
    )
    env = launch(p, tmp_path).env
    if expected is None:
        assert "A" not in env
    else:
        assert env["A"] == expected.replace("MOUNT", str(tmp_path / "session"))


ERROR_ROWS = [
    (
        "missing secret",
        {"name": "A", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}},
        'secret "nope" not found',
    ),
    (
        "missing key",
        {"name": "A", "valueFrom": {"secretKeyRef": {"name": "s3", "key": "nope"}}},
        "couldn't find key nope",
    ),
]


@pytest.mark.parametrize(("why", "item", "message"), ERROR_ROWS, ids=[r[0] for r in ERROR_ROWS])
def test_a_missing_secret_or_key_is_a_create_container_config_error(
    why: str, item: dict[str, Any], message: str, tmp_path: Path
) -> None:
    with pytest.raises(PodConfigError, match=message) as caught:
        launch(pod({"env": [item]}), tmp_path)
    assert caught.value.reason == "CreateContainerConfigError"


def test_the_image_entrypoint_runs_with_the_pods_args(tmp_path: Path) -> None:
    assert launch(pod({"args": ["session"]}), tmp_path).argv == [
        "/venv/bin/wafleet-runner",
        "session",
    ]
    assert launch(pod({"command": ["sh"], "args": ["-c", "true"]}), tmp_path).argv == [
        "sh",
        "-c",
        "true",
    ]
    with pytest.raises(PodConfigError) as caught:
        launch(
            {
                **pod({}),
                "spec": {**pod({})["spec"], "containers": [{"name": "runner", "image": "nginx:1"}]},
            },
            tmp_path,
        )
    assert caught.value.reason == "ErrImagePull"


def test_a_secret_volume_writes_its_items_with_the_declared_mode(tmp_path: Path) -> None:
    p = pod(
        {"volumeMounts": [{"name": "key", "mountPath": "/etc/wafleet/snapshot-key"}]},
        [
            {
                "name": "key",
                "secret": {
                    "secretName": "kek",
                    "items": [{"key": "key", "path": "key"}],
                    "defaultMode": 0o400,
                },
            }
        ],
    )
    files = launch(p, tmp_path).files
    assert [(f.path, f.content, f.mode) for f in files] == [
        (tmp_path / "key" / "key", b"\x01" * 32, 0o400)
    ]


def test_a_secret_volume_without_items_writes_every_key_of_the_secret(tmp_path: Path) -> None:
    """How the operator mounts the encryption key: the current key and the retired ones."""
    p = pod(
        {"volumeMounts": [{"name": "key", "mountPath": "/etc/wafleet/snapshot-key"}]},
        [{"name": "key", "secret": {"secretName": "kek-rotated", "defaultMode": 0o400}}],
    )
    files = launch(p, tmp_path).files
    assert sorted((f.path.name, f.content, f.mode) for f in files) == [
        ("key", b"\x02" * 32, 0o400),
        ("key.1", b"\x01" * 32, 0o400),
    ]


def test_the_projected_service_account_volume_holds_the_token_ca_and_namespace(
    tmp_path: Path,
) -> None:
    mount = "/var/run/secrets/kubernetes.io/serviceaccount"
    p = pod(
        {"volumeMounts": [{"name": "kube-api-access", "mountPath": mount}]},
        [
            {
                "name": "kube-api-access",
                "projected": {
                    "defaultMode": 0o644,
                    "sources": [
                        {"serviceAccountToken": {"path": "token"}},
                        {
                            "configMap": {
                                "name": "kube-root-ca.crt",
                                "items": [{"key": "ca.crt", "path": "ca.crt"}],
                            }
                        },
                        {
                            "downwardAPI": {
                                "items": [
                                    {
                                        "path": "namespace",
                                        "fieldRef": {"fieldPath": "metadata.namespace"},
                                    }
                                ]
                            }
                        },
                        {
                            "configMap": {
                                "name": "openshift-service-ca.crt",
                                "items": [{"key": "service-ca.crt", "path": "service-ca.crt"}],
                            }
                        },
                    ],
                },
            }
        ],
    )
    result = launch(p, tmp_path)
    folder = tmp_path / "kube-api-access"
    assert {f.path.name: f.content for f in result.files} == {
        "token": b"the-token",
        "ca.crt": b"-----BEGIN CERTIFICATE-----",
        "namespace": b"ns1",
    }
    assert result.mounts[mount] == folder


def test_the_readiness_probe_is_reached_through_the_port_mapping(tmp_path: Path) -> None:
    p = pod(
        {
            "ports": [
                {"name": "health", "containerPort": 8081},
                {"name": "metrics", "containerPort": 9090},
            ],
            "readinessProbe": {"httpGet": {"path": "/readyz", "port": "health"}},
        }
    )
    result = launch(p, tmp_path)
    assert result.ports == {8081: 40000, 9090: 40001}
    assert result.readiness_url == "http://127.0.0.1:40000/readyz"
