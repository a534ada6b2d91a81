"""An in-process Kubernetes API server emulator reached over real HTTP.

No kube-apiserver or Docker exists where the tests run, so this package
serves the parts of the Kubernetes API that wafleet, kopf, the kubernetes
clients and kubectl use, with the real server's semantics. Tests use it
through the `kube_api` fixture (tests/harness/kube.py); directly:

    with KubeEmulator() as kube:
        kube.write_kubeconfig(tmp_path / "kubeconfig")
        ...  # talk to kube.url with any client

Modules, one job each: resources (per-type rules as data), store (the write
rules), admission (per-request checks and defaults), controllers (GC, namespace and CRD lifecycle), watch (change records
and watch buffers), selectors, patch (merge/JSON/strategic), apply
(server-side apply), schema (CRD pruning/defaulting/validation), routing,
discovery, openapi, tables (kubectl's server-side printing), faults
(fault injection), server (HTTP), runner (thread + event loop).

Differences from a real API server (each also noted where it lives):
- no authentication or authorization (any token works), no admission
  webhooks, no API priority and fairness, no protobuf or CBOR (JSON and YAML
  only: kubectl's typed generators such as `kubectl create configmap` send
  protobuf and get 415; `kubectl apply/create -f` work);
- one stored copy per group/plural: a multi-version CRD serves every version
  without conversion (apiVersion is rewritten on read); core/v1 and
  events.k8s.io/v1 Events are separate stores;
- built-in kinds are not validated beyond names and metadata rules and get
  no defaulting except namespaces (phase, finalizer, name label); custom
  resources are pruned, defaulted and validated against their schema
  without `format` and CEL (`x-kubernetes-validations`) checks;
- strategic merge patch on built-ins is a JSON merge patch (lists replaced,
  directives dropped); server-side apply has no ownership conflicts and
  treats every list as atomic; managedFields record Apply managers only;
- lists ignore resourceVersion/resourceVersionMatch (always the current
  state); `continue` pages over the current state, not a snapshot;
- no controllers besides garbage collection (uid-based, background for
  dependents), namespace and CRD cleanup: Deployments get no ReplicaSets,
  Pods never run, Services get no IPs, Pods have no grace period;
- /scale subresources are not served; `generation` is kept for custom
  resources, CRDs, Deployments and StatefulSets only;
- watches of a deleted CRD's resources are not closed; a server-side watch
  timeout happens only when `timeoutSeconds` is given.
"""

from .errors import ApiError
from .faults import FaultRule, Faults
from .resources import ResourceRegistry, ResourceType
from .runner import CONTEXT, TOKEN, KubeEmulator
from .server import EmulatorSettings, RequestRecord
from .store import ObjectStore

__all__ = [
    "CONTEXT",
    "TOKEN",
    "ApiError",
    "EmulatorSettings",
    "FaultRule",
    "Faults",
    "KubeEmulator",
    "ObjectStore",
    "RequestRecord",
    "ResourceRegistry",
    "ResourceType",
]
