"""Sample CRDs and small helpers shared by the emulator tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx

Obj = dict[str, Any]

GROUP = "samples.wafleet.test"
WIDGETS = f"/apis/{GROUP}/v1/namespaces/default/widgets"
GADGETS = f"/apis/{GROUP}/v1/gadgets"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"

# Namespaced, with a status subresource and printer columns (like WhatsAppAccount).
WIDGET_CRD: Obj = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"widgets.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {
            "plural": "widgets",
            "singular": "widget",
            "kind": "Widget",
            "shortNames": ["wdg"],
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                    {
                        "name": "Ready",
                        "type": "string",
                        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
                    },
                ],
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

# Cluster-scoped, without a status subresource.
GADGET_CRD: Obj = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"gadgets.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Cluster",
        "names": {"plural": "gadgets", "kind": "Gadget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
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


def widget(name: str, **spec: Any) -> Obj:
    return {"apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec}


def configmap(name: str, data: dict[str, str] | None = None, **metadata: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, **metadata},
        "data": data or {},
    }


def created(http: httpx.Client, path: str, body: Obj) -> Obj:
    """POST and insist on 201."""
    response = http.post(path, json=body)
    assert response.status_code == 201, response.text
    result: Obj = response.json()
    return result


def merge_patch(http: httpx.Client, path: str, patch: Obj) -> httpx.Response:
    return http.patch(
        path, content=json.dumps(patch), headers={"Content-Type": "application/merge-patch+json"}
    )


def json_patch(http: httpx.Client, path: str, ops: list[Obj]) -> httpx.Response:
    return http.patch(
        path, content=json.dumps(ops), headers={"Content-Type": "application/json-patch+json"}
    )


def watch_events(http: httpx.Client, path: str, **params: str) -> Iterator[Obj]:
    """The events of one watch request, in order, as they arrive."""
    with http.stream("GET", path, params={"watch": "true", **params}) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line:
                event: Obj = json.loads(line)
                yield event


# With a structural schema: pruning, defaults and validation apply.
THERMOSTAT_CRD: Obj = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"thermostats.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": "thermostats", "kind": "Thermostat"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["phone"],
                                "properties": {
                                    "phone": {"type": "string", "pattern": r"^\+[1-9]\d{1,14}$"},
                                    "mode": {
                                        "type": "string",
                                        "enum": ["heat", "cool"],
                                        "default": "heat",
                                    },
                                    "target": {"type": "integer", "minimum": 5, "default": 20},
                                    "limits": {
                                        "type": "object",
                                        "default": {},
                                        "properties": {"max": {"type": "integer", "default": 30}},
                                    },
                                    "note": {"type": "string", "nullable": True},
                                    "extra": {
                                        "type": "object",
                                        "x-kubernetes-preserve-unknown-fields": True,
                                    },
                                    "tags": {
                                        "type": "object",
                                        "additionalProperties": {"type": "string"},
                                    },
                                },
                            },
                            "status": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            },
                        },
                    }
                },
            }
        ],
    },
}
THERMOSTATS = f"/apis/{GROUP}/v1/namespaces/default/thermostats"


def thermostat(name: str, **spec: Any) -> Obj:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "Thermostat",
        "metadata": {"name": name},
        "spec": spec,
    }
