"""Where the control-plane binaries come from, the envtest way.

Order: ``KUBEBUILDER_ASSETS`` (the folder controller-runtime's envtest and
``setup-envtest use`` fill) when it is set; else the zstd-compressed binaries
in ``../shared/kube`` beside the checkout, decompressed once into a cache
outside the checkout (checked against the sha256 sums its README lists); etcd
comes from ``KUBEBUILDER_ASSETS`` or from Debian's ``etcd-server`` on PATH.

`find_assets` never raises: it returns the folder or the reason there is none,
so the fixture can skip (or, under CI, fail) saying exactly why.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SHARED_KUBE = REPO.parent / "shared" / "kube"
BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
VERSION = "v1.36.2"


@dataclass(frozen=True)
class Assets:
    """Paths of the four binaries a control plane needs."""

    apiserver: Path
    controller_manager: Path
    scheduler: Path
    etcd: Path


def cache_dir() -> Path:
    """Outside the checkout, so a clean clone (and `git clean`) keeps it."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "wafleet" / f"kubebuilder-assets-{VERSION}"


def find_assets() -> Assets | str:
    """The binaries, or a one-line reason why they are not here."""
    env_dir = os.environ.get("KUBEBUILDER_ASSETS")
    if env_dir:
        folder = Path(env_dir)
        missing = [b for b in BINARIES if not (folder / b).is_file()]
        if missing:
            return f"KUBEBUILDER_ASSETS={folder} lacks {', '.join(missing)}"
    elif SHARED_KUBE.is_dir():
        folder = cache_dir()
        reason = _decompress_shared(folder)
        if reason:
            return reason
    else:
        return f"no control plane: KUBEBUILDER_ASSETS is unset and {SHARED_KUBE} does not exist"
    etcd = folder / "etcd" if (folder / "etcd").is_file() else _which("etcd")
    if etcd is None:
        return "etcd is not installed (apt-get install etcd-server) nor in KUBEBUILDER_ASSETS"
    return Assets(
        apiserver=folder / "kube-apiserver",
        controller_manager=folder / "kube-controller-manager",
        scheduler=folder / "kube-scheduler",
        etcd=etcd,
    )


def _which(name: str) -> Path | None:
    found = shutil.which(name)
    return Path(found) if found else None


def expected_sums(readme: Path) -> dict[str, str]:
    """`kube-apiserver.zst` → sha256, from the table in shared/kube/README.md."""
    sums: dict[str, str] = {}
    for line in readme.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\|\s*([\w-]+)\.zst\s*\|.*\|\s*([0-9a-f]{64})\s*\|", line)
        if match:
            sums[match.group(1)] = match.group(2)
    return sums


def _decompress_shared(folder: Path) -> str | None:
    """Decompress each binary once (atomically); a wrong checksum is a reason, not a binary."""
    import zstandard

    sums = expected_sums(SHARED_KUBE / "README.md")
    folder.mkdir(parents=True, exist_ok=True)
    for name in BINARIES:
        target = folder / name
        if target.is_file() and os.access(target, os.X_OK):
            continue
        source = SHARED_KUBE / f"{name}.zst"
        if not source.is_file():
            return f"{source} is missing"
        tmp = folder / f".{name}.{os.getpid()}.tmp"
        digest = hashlib.sha256()
        with source.open("rb") as src, tmp.open("wb") as dst:
            reader = zstandard.ZstdDecompressor().stream_reader(src)
            while chunk := reader.read(1 << 20):
                digest.update(chunk)
                dst.write(chunk)
        if name in sums and digest.hexdigest() != sums[name]:
            tmp.unlink()
            return f"{source} decompresses to sha256 {digest.hexdigest()}, not {sums[name]}"
        tmp.chmod(0o755)
        tmp.replace(target)
    return None
