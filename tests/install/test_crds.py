"""The CRDs in crds/ are well-formed structural schemas, with the names the docs use."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from inference_gateway.operator import crd_validation as cv

CRDS = Path(__file__).resolve().parents[2] / "crds"
FILES = sorted(CRDS.glob("*.yaml"))


def _load(path: Path) -> dict[str, Any]:
    (doc,) = [d for d in yaml.safe_load_all(path.read_text()) if d]
    return doc


def _nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for key, sub in schema.get("properties", {}).items():
        yield from _nodes(sub, f"{path}.{key}" if path else key)
    if isinstance(schema.get("items"), dict):
        yield from _nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _nodes(schema["additionalProperties"], f"{path}{{}}")


EXPECTED = {
    # Upstream's v1 InferencePool owns the short name infpool; our v1alpha2 one must not clash.
    "inferencepools.inference.networking.k8s.io": ("InferencePool", "v1", "infpool"),
    "inferencepools.inference.networking.x-k8s.io": ("InferencePool", "v1alpha2", "xinfpool"),
    "inferencemodels.inference.networking.x-k8s.io": ("InferenceModel", "v1alpha2", "infmodel"),
    "inferenceobjectives.inference.networking.x-k8s.io": ("InferenceObjective", "v1alpha2", "infobjective"),
    "inferencemodelrewrites.inference.networking.x-k8s.io": ("InferenceModelRewrite", "v1alpha2", "infrewrite"),
    "inferencetrafficpolicies.inferenceextension.alibabacloud.com": ("InferenceTrafficPolicy", "v1alpha1", "itp"),
    "gatewayparameters.inferenceextension.alibabacloud.com": ("GatewayParameters", "v1alpha1", "gwparams"),
}


def test_one_file_per_crd():
    names = {_load(p)["metadata"]["name"]: p for p in FILES}
    assert set(names) == set(EXPECTED)
    for name, path in names.items():
        group = name.split(".", 1)[1]
        assert path.name == f"{group}_{name.split('.')[0]}.yaml"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_crd_shape(path: Path):
    crd = _load(path)
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1" and crd["kind"] == "CustomResourceDefinition"
    kind, version, short = EXPECTED[crd["metadata"]["name"]]
    spec = crd["spec"]
    assert crd["metadata"]["name"] == f"{spec['names']['plural']}.{spec['group']}"
    assert spec["names"]["kind"] == kind and short in spec["names"]["shortNames"]
    assert spec["names"]["categories"] and spec["scope"] == "Namespaced"
    (ver,) = spec["versions"]
    assert (ver["name"], ver["served"], ver["storage"]) == (version, True, True)
    assert ver["subresources"] == {"status": {}}
    columns = {c["name"] for c in ver["additionalPrinterColumns"]}
    assert "Age" in columns
    for column in ver["additionalPrinterColumns"]:
        assert column["jsonPath"].startswith(".") and column["type"] in {"string", "integer", "date"}


def test_printer_columns():
    cols = {}
    for path in FILES:
        crd = _load(path)
        cols[crd["spec"]["names"]["kind"]] = [c["name"] for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]]
    assert "Target Port" in cols["InferencePool"]
    assert {"Model Name", "Pool", "Criticality", "Accepted"} <= set(cols["InferenceModel"])


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_schema_is_structural_and_defaults_are_valid(path: Path):
    """Every node has a type; every default validates against its own node (the API server insists)."""
    schema = _load(path)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for where, node in _nodes(schema):
        assert node.get("type") or node.get("x-kubernetes-preserve-unknown-fields"), f"{where}: no type"
        assert set(node.get("required", [])) <= set(node.get("properties", {})), f"{where}: required names an undeclared field"
        if "default" in node:
            assert cv.check_value(node["default"], node, where) == [], f"{where}: invalid default"
        assert "additionalProperties" not in node or "properties" not in node, f"{where}: both properties and additionalProperties"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_spec_field_is_documented(path: Path):
    schema = _load(path)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    missing = [w for w, node in _nodes(schema["properties"]["spec"], "spec") if not node.get("description")]
    assert missing == []


def test_traffic_policy_refs_name_policies():
    crd = _load(CRDS / "inferenceextension.alibabacloud.com_inferencetrafficpolicies.yaml")
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    pd = spec["profile"]["properties"]["pd"]["properties"]
    policies = set(pd["trafficPolicy"]["properties"])
    assert policies == set(spec["trafficPolicy"]["properties"]) == {"prefixCache", "loadAware"}
    for ref in ("prefillPolicyRef", "decodePolicyRef"):
        assert set(pd[ref]["enum"]) == policies | {"default"}


def test_validator_reads_the_repo_crds():
    assert {k for _, k in cv.load_crds(CRDS)} == {kind for kind, _, _ in EXPECTED.values()}


def test_short_names_are_unique():
    shorts = [s for p in FILES for s in _load(p)["spec"]["names"]["shortNames"]]
    assert len(shorts) == len(set(shorts))
