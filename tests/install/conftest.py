"""Fixtures for the install artefacts: CRDs, chart, Dockerfile, and the real helm binary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from support import helmchart

REPO = helmchart.REPO
CHART = helmchart.CHART


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def helm() -> Path:
    try:
        return helmchart.helm_binary()
    except helmchart.tool_unavailable() as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def run_helm(helm: Path):
    return helmchart.run_helm


@pytest.fixture(scope="session")
def render(helm: Path):
    """``render("--set", "a=b", ...)`` -> the parsed objects of ``helm template``."""
    return helmchart.render


@pytest.fixture(scope="session")
def default_objects(render) -> list[dict[str, Any]]:
    return render(include_crds=True)
