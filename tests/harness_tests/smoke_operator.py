"""A tiny real kopf operator, run by test_kopf_smoke.py against the emulator.

On create of a Widget it makes a ConfigMap child owned by the Widget and
writes the Widget's status; on delete it leaves a "farewell" ConfigMap (so
the test can see the deletion handler ran before kopf released its finalizer).
Nothing here knows it talks to an emulator: kopf logs in from KUBECONFIG.
"""

from __future__ import annotations

from typing import Any

import kopf
import kubernetes

GROUP, VERSION, PLURAL = "smoke.wafleet.test", "v1", "widgets"

CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"{PLURAL}.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": PLURAL, "singular": "widget", "kind": "Widget", "shortNames": ["wdg"]},
        "versions": [
            {
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.watching.server_timeout = 30


@kopf.on.create(GROUP, VERSION, PLURAL)
def create_child(
    body: kopf.Body, spec: kopf.Spec, name: str, namespace: str, patch: kopf.Patch, **_: Any
) -> dict[str, str]:
    child: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{name}-child"},
        "data": {"greeting": str(spec.get("greeting", ""))},
    }
    kopf.adopt(child)
    kubernetes.client.CoreV1Api().create_namespaced_config_map(namespace, child)
    patch.status["phase"] = "Ready"
    kopf.info(
        body, reason="ChildCreated", message=f"created {name}-child"
    )  # posted as a core/v1 Event
    return {"child": f"{name}-child"}


@kopf.on.delete(GROUP, VERSION, PLURAL)
def say_farewell(name: str, namespace: str, **_: Any) -> None:
    farewell = {"metadata": {"name": f"{name}-farewell"}, "data": {"bye": name}}
    kubernetes.client.CoreV1Api().create_namespaced_config_map(namespace, farewell)
