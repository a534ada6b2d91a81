"""Pure: what a kubelet would run for one container of a Pod, as a local process.

No kubelet exists here, so the harness plays one for wafleet's own pods (see
kubelet.py). This module is its decision: from the Pod as the API server
stores it, the Secrets it references and a folder for its volumes, the argv,
environment and files of the process, exactly as the pod spec declares them:

* ``command``/``args`` over the image's entrypoint (only images whose
  entrypoint the harness knows can run; the runner image's is
  ``wafleet-runner``);
* ``env``: literal values, ``fieldRef`` (downward API), ``secretKeyRef`` and
  ``configMapKeyRef`` resolved from the real objects; a missing key or object
  that is not optional is the kubelet's ``CreateContainerConfigError``;
  literal values, ``command`` and ``args`` are expanded as the kubelet does
  (``expand``: ``$(VAR)`` by a variable defined earlier in the container's
  env, ``$$`` a literal ``$``, anything else left as written);
* volumes: ``emptyDir`` becomes an empty folder, ``secret`` writes its items
  (or every key) with the declared mode; each mount path is mapped to its
  folder, and any env value under a mount path is rewritten to that folder
  (a process here shares one filesystem; in a pod the path is the mount);
* ports: each pod has its own network namespace in a cluster, processes here
  share the host's, so every ``containerPort`` gets a host port and env values
  equal to a container port are rewritten to it (like a port mapping);
  probes are reached through the same mapping.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Obj = Mapping[str, Any]


class PodConfigError(Exception):
    """The container cannot start; ``reason`` is the kubelet's waiting reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class FileToWrite:
    path: Path
    content: bytes
    mode: int


@dataclass(frozen=True)
class Launch:
    """One container as a process: run ``argv`` with ``env`` after creating dirs and files."""

    argv: list[str]
    env: dict[str, str]
    dirs: list[Path]
    files: list[FileToWrite]
    #: containerPort → host port
    ports: dict[int, int]
    #: path of the readiness probe on the host, e.g. http://127.0.0.1:40123/readyz
    readiness_url: str | None
    mounts: dict[str, Path] = field(default_factory=dict)


def _field_ref(pod: Obj, path: str) -> str:
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.hostIP": "127.0.0.1",
    }
    if path in simple:
        return str(simple[path] or "")
    for prefix, source in (("metadata.labels", "labels"), ("metadata.annotations", "annotations")):
        if path.startswith(f"{prefix}['") and path.endswith("']"):
            return str((meta.get(source) or {}).get(path[len(prefix) + 2 : -2], ""))
    raise PodConfigError("CreateContainerConfigError", f"unsupported fieldRef {path!r}")


def _key_ref(
    kind: str,
    ref: Obj,
    lookup: Callable[[str], Mapping[str, bytes] | None],
) -> str | None:
    data = lookup(str(ref["name"]))
    optional = bool(ref.get("optional", False))
    if data is None:
        if optional:
            return None
        raise PodConfigError("CreateContainerConfigError", f'{kind} "{ref["name"]}" not found')
    key = str(ref["key"])
    if key not in data:
        if optional:
            return None
        raise PodConfigError(
            "CreateContainerConfigError", f"couldn't find key {key} in {kind} {ref['name']}"
        )
    return data[key].decode("utf-8")


def expand(value: str, defined: Mapping[str, str]) -> str:
    """Kubernetes' variable expansion (k8s.io/kubernetes third_party/forked/golang/expansion).

    ``$(NAME)`` becomes ``defined[NAME]``, or stays ``$(NAME)`` when NAME is not
    defined; ``$$`` becomes ``$``; a ``$`` before anything else, and an
    unterminated ``$(``, stay as written. One pass: an expanded value is not
    expanded again.
    """
    out: list[str] = []
    cursor = 0
    while cursor < len(value):
        char = value[cursor]
        if char != "$" or cursor + 1 == len(value):
            out.append(char)
            cursor += 1
            continue
        following = value[cursor + 1]
        if following == "$":
            out.append("$")
            cursor += 2
        elif following == "(":
            close = value.find(")", cursor + 2)
            if close == -1:
                out.append("$(")
                cursor += 2
            else:
                name = value[cursor + 2 : close]
                out.append(defined.get(name, f"$({name})"))
                cursor = close + 1
        else:
            out.append("$" + following)
            cursor += 2
    return "".join(out)


def decode_secret(secret: Obj) -> dict[str, bytes]:
    """A Secret's data as bytes (stringData never comes back from the server)."""
    return {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}


def _rewrite(value: str, mounts: Mapping[str, Path], ports: Mapping[int, int]) -> str:
    for mount_path in sorted(mounts, key=len, reverse=True):
        if value == mount_path or value.startswith(mount_path.rstrip("/") + "/"):
            return str(mounts[mount_path]) + value[len(mount_path) :]
    if value.isdigit() and int(value) in ports:
        return str(ports[int(value)])
    return value


def _projected(
    pod: Obj,
    folder: Path,
    sources: list[Obj],
    mode: int,
    service_account_token: str,
    config_maps: Callable[[str], Mapping[str, bytes] | None],
) -> list[FileToWrite]:
    """The files of a projected volume (the ServiceAccount admission plugin's token volume).

    A ConfigMap source that does not exist is left out: this fork of the API
    server also projects ``openshift-service-ca.crt``, whose publisher the
    harness turns off (see ../shared/kube/README.md), and nothing of wafleet
    reads it.
    """
    files: list[FileToWrite] = []
    for source in sources:
        if "serviceAccountToken" in source:
            path = str(source["serviceAccountToken"]["path"])
            files.append(FileToWrite(folder / path, service_account_token.encode(), 0o600))
        elif "configMap" in source:
            data = config_maps(str(source["configMap"]["name"]))
            for item in source["configMap"].get("items") or []:
                if data is not None and item["key"] in data:
                    files.append(FileToWrite(folder / str(item["path"]), data[item["key"]], mode))
        elif "downwardAPI" in source:
            for item in source["downwardAPI"].get("items") or []:
                value = _field_ref(pod, str(item["fieldRef"]["fieldPath"]))
                files.append(FileToWrite(folder / str(item["path"]), value.encode(), mode))
        else:
            raise PodConfigError("CreateContainerConfigError", f"projected source {source}")
    return files


def build_launch(
    pod: Obj,
    *,
    container_name: str,
    secrets: Callable[[str], Mapping[str, bytes] | None],
    config_maps: Callable[[str], Mapping[str, bytes] | None],
    volume_root: Path,
    host_ports: Callable[[], int],
    entrypoints: Mapping[str, list[str]],
    base_env: Mapping[str, str],
    service_account_token: str = "",
) -> Launch:
    """The process for container ``container_name`` of ``pod``, or PodConfigError."""
    spec = pod.get("spec") or {}
    container = next(
        (c for c in spec.get("containers") or [] if c.get("name") == container_name), None
    )
    if container is None:
        raise PodConfigError("CreateContainerConfigError", f"no container {container_name!r}")
    image = str(container.get("image", ""))
    repository = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    if container.get("command"):
        entrypoint: list[str] = []
        declared = [*container["command"], *(container.get("args") or [])]
    elif repository in entrypoints:
        entrypoint = list(entrypoints[repository])
        declared = list(container.get("args") or [])
    else:
        raise PodConfigError("ErrImagePull", f"the harness cannot run image {image!r}")

    ports = {int(p["containerPort"]): host_ports() for p in container.get("ports") or []}
    volumes = {str(v["name"]): v for v in spec.get("volumes") or []}
    dirs: list[Path] = []
    files: list[FileToWrite] = []
    mounts: dict[str, Path] = {}
    for mount in container.get("volumeMounts") or []:
        volume = volumes.get(str(mount["name"]))
        if volume is None:
            raise PodConfigError(
                "CreateContainerConfigError", f"volume {mount['name']!r} is not declared"
            )
        folder = volume_root / str(mount["name"])
        dirs.append(folder)
        mounts[str(mount["mountPath"])] = folder
        if "secret" in volume:
            source = volume["secret"]
            data = secrets(str(source["secretName"]))
            if data is None:
                if source.get("optional"):
                    continue
                raise PodConfigError(
                    "ContainerCreating", f'secret "{source["secretName"]}" not found'
                )
            mode = int(source.get("defaultMode", 0o644))
            items = source.get("items") or [{"key": k, "path": k} for k in sorted(data)]
            for item in items:
                if item["key"] not in data:
                    raise PodConfigError(
                        "ContainerCreating",
                        f"secret {source['secretName']!r} has no key {item['key']!r}",
                    )
                files.append(
                    FileToWrite(
                        folder / str(item["path"]),
                        data[item["key"]],
                        int(item.get("mode", mode)),
                    )
                )
        elif "projected" in volume:
            source = volume["projected"]
            files.extend(
                _projected(
                    pod,
                    folder,
                    source.get("sources") or [],
                    int(source.get("defaultMode", 0o644)),
                    service_account_token,
                    config_maps,
                )
            )
        elif "emptyDir" not in volume:
            raise PodConfigError(
                "CreateContainerConfigError",
                f"volume {mount['name']!r}: only emptyDir, secret and projected",
            )

    env: dict[str, str] = dict(base_env)
    if "/tmp" in mounts:
        env["TMPDIR"] = str(mounts["/tmp"])
    #: The container's own variables as the pod sees them (before the harness maps paths and
    #: ports): what `$(VAR)` refers to. The image's environment is not part of it.
    defined: dict[str, str] = {}
    for item in container.get("env") or []:
        name = str(item["name"])
        if "valueFrom" not in item:
            # The server omits an empty value.
            value: str | None = expand(str(item.get("value", "")), defined)
        else:
            source = item["valueFrom"]
            if "fieldRef" in source:
                value = _field_ref(pod, str(source["fieldRef"]["fieldPath"]))
            elif "secretKeyRef" in source:
                value = _key_ref("secret", source["secretKeyRef"], secrets)
            elif "configMapKeyRef" in source:
                value = _key_ref("configmap", source["configMapKeyRef"], config_maps)
            else:
                raise PodConfigError(
                    "CreateContainerConfigError", f"env {name}: unsupported source"
                )
        if value is not None:
            defined[name] = value
            env[name] = _rewrite(value, mounts, ports)

    # The kubelet expands the pod's command and args with the container's env (the image's
    # own entrypoint is not the pod's to expand).
    argv = entrypoint + [expand(str(arg), defined) for arg in declared]

    readiness_url = None
    probe = (container.get("readinessProbe") or {}).get("httpGet")
    if probe:
        port = probe["port"]
        if isinstance(port, str):
            port = next(
                int(p["containerPort"])
                for p in container.get("ports") or []
                if p.get("name") == port
            )
        readiness_url = (
            f"http://127.0.0.1:{ports.get(int(port), int(port))}{probe.get('path', '/')}"
        )
    return Launch(
        argv=argv,
        env=env,
        dirs=dirs,
        files=files,
        ports=ports,
        readiness_url=readiness_url,
        mounts=mounts,
    )
