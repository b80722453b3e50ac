"""Fixtures for the install artefacts: CRDs, chart, Dockerfile, and the real helm binary."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "inference-gateway"


def _load_helm_tool():
    spec = importlib.util.spec_from_file_location("igw_tools_helm", REPO / "tools" / "helm.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def helm() -> Path:
    tool = _load_helm_tool()
    try:
        return tool.helm_path()
    except tool.ToolUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def run_helm(helm: Path):
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        """Run helm; a failure raises CalledProcessError carrying helm's stderr."""
        return subprocess.run(
            [str(helm), *args], capture_output=True, text=True, timeout=60, cwd=REPO, check=True
        )

    return run


@pytest.fixture(scope="session")
def render(run_helm):
    """``render("--set", "a=b", ...)`` -> the parsed objects of ``helm template``."""

    def _render(*extra: str, include_crds: bool = False) -> list[dict[str, Any]]:
        args = ["template", "igw", str(CHART), "--namespace", "envoy-gateway-system", *extra]
        if include_crds:
            args.append("--include-crds")
        out = run_helm(*args).stdout
        return [doc for doc in yaml.safe_load_all(out) if doc]

    return _render


@pytest.fixture(scope="session")
def default_objects(render) -> list[dict[str, Any]]:
    return render(include_crds=True)
