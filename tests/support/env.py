"""Small helpers every suite uses: where things are, free ports, manifests on disk."""

from __future__ import annotations

from pathlib import Path

import yaml
from inference_gateway.operator.ports import free_port  # noqa: F401  (the suites import it from here)

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
VLLM_LABELS = {"alibabacloud.com/inference-workload": "vllm-inference"}


def gateway_yaml(port: int) -> str:
    """The seed's GatewayClass/Gateway/HTTPRoute with the listener on `port`."""
    return (EXAMPLES / "gateway.yaml").read_text().replace("port: 8080", f"port: {port}")


def write_manifests(directory: Path, name: str, docs: list[dict] | str) -> Path:
    path = directory / name
    path.write_text(docs if isinstance(docs, str) else yaml.safe_dump_all(docs, sort_keys=False))
    return path
