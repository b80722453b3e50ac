"""Small helpers every suite uses: where things are, free ports, manifests on disk."""

from __future__ import annotations

from pathlib import Path

import yaml
from inference_gateway.bench.igw_process import VLLM_LABELS, gateway_yaml  # noqa: F401  (defined once, there)
from inference_gateway.operator.ports import free_port  # noqa: F401  (the suites import it from here)

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def write_manifests(directory: Path, name: str, docs: list[dict] | str) -> Path:
    path = directory / name
    path.write_text(docs if isinstance(docs, str) else yaml.safe_dump_all(docs, sort_keys=False))
    return path
