"""Translation as data: testdata/NAME.in.yaml (objects) → NAME.out.yaml (routing table, gateway
IR and Envoy resources). Regenerate with IGW_UPDATE_GOLDEN=1 and read the diff as behaviour."""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from inference_gateway.operator.envoy_process import envoy_binary
from inference_gateway.operator.manifests import load_paths
from inference_gateway.operator.translate.envoy import EnvoySettings, envoy_resources, static_bootstrap
from inference_gateway.operator.translate.gateway import build_gateway_ir
from inference_gateway.operator.translate.objects import ObjectSet
from inference_gateway.operator.translate.routing import build_routing_table

TESTDATA = Path(__file__).parent / "testdata"
CASES = sorted(p.name.removesuffix(".in.yaml") for p in TESTDATA.glob("*.in.yaml"))


def plain(value: Any) -> Any:
    """Dataclasses/enums/mappings → YAML-friendly data."""
    if dataclasses.is_dataclass(value):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def translate(case: str) -> dict[str, Any]:
    objects, problems = load_paths([TESTDATA / f"{case}.in.yaml"])
    assert not problems, [str(p) for p in problems]
    objs = ObjectSet.of(objects)
    table = build_routing_table(objs, version=1)
    ir = build_gateway_ir(objs)
    resources = envoy_resources(ir, table, EnvoySettings())
    return {"routingTable": plain(table), "gateway": plain(ir), "envoy": plain(resources.by_type())}


@pytest.mark.parametrize("case", CASES)
def test_translation_matches_golden(case: str) -> None:
    got = translate(case)
    out = TESTDATA / f"{case}.out.yaml"
    if os.environ.get("IGW_UPDATE_GOLDEN"):
        out.write_text(yaml.safe_dump(got, sort_keys=False, width=120))
    assert out.exists(), f"no golden output for {case}; run with IGW_UPDATE_GOLDEN=1"
    assert got == yaml.safe_load(out.read_text())


@pytest.mark.envoy
@pytest.mark.parametrize("case", CASES)
def test_envoy_accepts_translation(case: str, tmp_path: Path) -> None:
    """The real Envoy validates what we generate, semantic errors included."""
    objects, _ = load_paths([TESTDATA / f"{case}.in.yaml"])
    objs = ObjectSet.of(objects)
    table = build_routing_table(objs)
    config = static_bootstrap(envoy_resources(build_gateway_ir(objs), table), admin_port=0)
    path = tmp_path / "envoy.json"
    path.write_text(json.dumps(config))
    result = subprocess.run([envoy_binary(), "--mode", "validate", "-c", str(path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
