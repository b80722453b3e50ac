"""`igw validate`: every seed manifest passes; broken ones name the field at fault."""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import pytest
import yaml

from inference_gateway.cli import validate as cli_validate
from inference_gateway.operator import crd_validation as cv

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SEED = sorted((FIXTURES / "seed").glob("*.yaml"))
EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _one(kind: str) -> dict:
    """A valid object of ``kind`` taken from the seed fixtures."""
    for path in SEED:
        for doc in _docs(path):
            if doc["kind"] == kind:
                return copy.deepcopy(doc)
    raise LookupError(kind)


def _problems(doc: dict) -> list[cv.Problem]:
    return cv.validate_documents([("test#1", doc)])


def test_the_seed_has_every_variant():
    names = {p.name for p in SEED}
    for strategy in ("load-aware", "prefix-cache"):
        for shape in ("vllm-single", "sglang-single", "vllm-distributed", "sglang-distributed", "sglang-pd"):
            assert f"{strategy}-{shape}.yaml" in names
    assert "gateway.yaml" in names


@pytest.mark.parametrize("path", SEED, ids=lambda p: p.name)
def test_seed_manifests_validate(path: Path):
    assert cv.validate_files([path]) == []


def test_examples_validate():
    files = sorted(EXAMPLES_DIR.rglob("*.yaml")) if EXAMPLES_DIR.is_dir() else []
    if not files:
        pytest.skip("no examples/*.yaml yet")
    assert [str(p) for p in cv.validate_files(files)] == []


@pytest.mark.parametrize(
    ("kind", "mutate", "field", "words"),
    [
        ("InferencePool", lambda d: d["spec"].pop("targetPortNumber"), "spec.targetPortNumber", "required"),
        ("InferencePool", lambda d: d["spec"].update(targetPortNumber=70000), "spec.targetPortNumber", "<= 65535"),
        ("InferencePool", lambda d: d["spec"].update(targetPortNumber="8000"), "spec.targetPortNumber", "type integer"),
        ("InferencePool", lambda d: d["spec"].pop("selector"), "spec.selector", "required"),
        (
            "InferencePool",
            lambda d: d["spec"].update(selector={f"k{i}": "v" for i in range(65)}),
            "spec.selector",
            "at most 64",
        ),
        ("InferencePool", lambda d: d["spec"].update(selector={}), "spec.selector", "at least 1"),
        ("InferencePool", lambda d: d["spec"].update(selector={"app": "a b"}), "spec.selector.app", "pattern"),
        ("InferencePool", lambda d: d["spec"]["extensionRef"].update(failureMode="Open"), "spec.extensionRef.failureMode", "FailOpen"),
        ("InferencePool", lambda d: d["spec"]["extensionRef"].pop("name"), "spec.extensionRef.name", "required"),
        ("InferencePool", lambda d: d["spec"].update(targetPort=8000), "spec.targetPort", "unknown field"),
        ("InferencePool", lambda d: d.update(extra=1), "extra", "unknown field"),
        ("InferenceModel", lambda d: d["spec"].update(criticality="Important"), "spec.criticality", "Critical"),
        ("InferenceModel", lambda d: d["spec"]["targetModels"][0].update(weight=0), "spec.targetModels[0].weight", ">= 1"),
        (
            "InferenceModel",
            lambda d: d["spec"].update(targetModels=[{"name": f"m{i}", "weight": 1} for i in range(11)]),
            "spec.targetModels",
            "at most 10 items",
        ),
        ("InferenceModel", lambda d: d["spec"].update(modelName="m" * 257), "spec.modelName", "at most 256"),
        ("InferenceModel", lambda d: d["spec"].pop("modelName"), "spec.modelName", "required"),
        ("InferenceModel", lambda d: d["spec"]["poolRef"].pop("name"), "spec.poolRef.name", "required"),
        ("InferenceModel", lambda d: d["spec"]["targetModels"][0].update(wieght=1), "spec.targetModels[0].wieght", "unknown field"),
        ("InferenceModel", lambda d: d["metadata"].pop("name"), "metadata.name", "required"),
        ("InferenceModel", lambda d: d["metadata"].update(name="Qwen_Model"), "metadata.name", "not a valid name"),
        (
            "InferenceTrafficPolicy",
            lambda d: d["spec"].update(modelServerRuntime="trtllm"),
            "spec.modelServerRuntime",
            "vllm",
        ),
        (
            "InferenceTrafficPolicy",
            lambda d: d["spec"]["profile"]["pd"]["kvTransfer"].update(bootstrapPort=0),
            "spec.profile.pd.kvTransfer.bootstrapPort",
            ">= 1",
        ),
        (
            "InferenceTrafficPolicy",
            lambda d: d["spec"]["profile"]["pd"].update(trafficPolicy={"prefixCache": {"mode": "exact"}}),
            "spec.profile.pd.trafficPolicy.prefixCache.mode",
            "estimate",
        ),
        ("InferenceTrafficPolicy", lambda d: d["spec"]["profile"]["pd"].pop("pdRoleLabelName"), "spec.profile.pd.pdRoleLabelName", "required"),
        ("InferenceTrafficPolicy", lambda d: d["spec"]["profile"].update(disagg={}), "spec.profile.disagg", "unknown field"),
    ],
)
def test_broken_manifests_name_the_field(kind, mutate, field, words):
    doc = _one(kind)
    mutate(doc)
    problems = _problems(doc)
    assert problems, f"{kind} with a broken {field} was accepted"
    assert any(p.field == field and words in p.message for p in problems), [str(p) for p in problems]
    assert all(p.kind == kind and p.source == "test#1" for p in problems)


def test_problem_reads_source_kind_name_field_message():
    doc = _one("InferenceModel")
    doc["spec"]["targetModels"][0]["weight"] = 0
    (problem,) = _problems(doc)
    assert str(problem) == "test#1: InferenceModel/qwen-inference-model: spec.targetModels[0].weight: must be >= 1, got 0"


def test_label_keys_are_quoted_in_field_paths():
    doc = _one("InferencePool")
    doc["spec"]["selector"]["alibabacloud.com/inference-workload"] = "not valid!"
    (problem,) = _problems(doc)
    assert problem.field == "spec.selector['alibabacloud.com/inference-workload']"


def test_status_conditions_are_checked():
    doc = _one("InferencePool")
    doc["status"] = {
        "parent": [
            {
                "parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "g"},
                "conditions": [
                    {"type": "Accepted", "status": "Yes", "reason": "Accepted", "message": "", "lastTransitionTime": "yesterday"}
                ],
            }
        ]
    }
    fields = {p.field for p in _problems(doc)}
    assert fields == {"status.parent[0].conditions[0].status", "status.parent[0].conditions[0].lastTransitionTime"}
    cond = doc["status"]["parent"][0]["conditions"][0]
    cond.update(status="True", lastTransitionTime="2026-11-25T10:00:00Z", observedGeneration=1)
    assert _problems(doc) == []


def test_kinds_without_a_crd_are_skipped_and_lists_expanded():
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"anything": True}}
    bad = _one("InferencePool")
    del bad["spec"]["targetPortNumber"]
    listed = {"apiVersion": "v1", "kind": "List", "items": [pod, bad]}
    (problem,) = cv.validate_documents([("f#1", listed)])
    assert problem.source == "f#1 items[1]" and problem.field == "spec.targetPortNumber"


def test_unknown_kind_or_version_in_our_groups_is_a_problem():
    doc = _one("InferencePool")
    doc["apiVersion"] = "inference.networking.x-k8s.io/v1alpha1"
    (problem,) = _problems(doc)
    assert problem.field == "apiVersion" and "not served" in problem.message
    doc = _one("InferencePool")
    doc["kind"] = "InferencePools"
    assert [p.field for p in _problems(doc)] == ["apiVersion"]


def test_yaml_syntax_error_is_a_problem(tmp_path: Path):
    path = tmp_path / "broken.yaml"
    good = (FIXTURES / "seed" / "load-aware-vllm-single.yaml").read_text()  # two documents
    path.write_text(good + "---\nkind: InferencePool\nspec: [unclosed\n")
    problems = cv.validate_files([path])
    assert len(problems) == 1
    assert problems[0].source == f"{path}#3" and "YAML syntax error" in problems[0].message
    assert "line" in problems[0].message


def test_cli_prints_ok_and_problems(tmp_path: Path, capsys):
    bad = tmp_path / "bad.yaml"
    doc = _one("InferenceModel")
    doc["spec"]["criticality"] = "Urgent"
    bad.write_text(yaml.safe_dump(doc))
    parser = argparse.ArgumentParser()
    cli_validate.add_arguments(parser)

    assert cli_validate.run(parser.parse_args([str(SEED[0])])) == 0
    assert capsys.readouterr().out == f"OK {SEED[0]}\n"

    assert cli_validate.run(parser.parse_args([str(SEED[0]), str(bad)])) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"OK {SEED[0]}"
    assert out[1].startswith(f"{bad}#1: InferenceModel/qwen-inference-model: spec.criticality: unsupported value 'Urgent'")

    assert cli_validate.run(parser.parse_args([str(FIXTURES / "seed")])) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(SEED)


def test_crds_dir_is_overridable(tmp_path: Path, monkeypatch):
    monkeypatch.setenv(cv.CRDS_DIR_ENV, str(tmp_path))
    assert cv.crds_dir() == tmp_path
    assert cv.load_crds() == {}
    doc = _one("InferencePool")
    del doc["spec"]["targetPortNumber"]
    assert _problems(doc) == []  # no CRDs, nothing known to check


def test_missing_crds_dir_is_reported(tmp_path: Path, capsys):
    parser = argparse.ArgumentParser()
    cli_validate.add_arguments(parser)
    args = parser.parse_args(["--crds-dir", str(tmp_path / "nope"), str(SEED[0])])
    assert cli_validate.run(args) == 2
    assert "cannot load CRDs" in capsys.readouterr().out


def test_the_rules_a_schema_cannot_say_are_checked_too():
    """The CRDs' CEL rules (x-kubernetes-validations) need an API server; our API models
    implement them, so `igw validate` refuses what the API server would."""
    doc = _one("InferenceModel")
    doc["spec"]["targetModels"] = [{"name": "a", "weight": 1}, {"name": "b"}]
    assert any("weight must be set on all entries or on none" in p.message for p in _problems(doc))
    doc = _one("InferenceTrafficPolicy")
    doc["spec"]["profile"]["pd"]["trafficPolicy"] = {"loadAware": {}}
    doc["spec"]["profile"]["pd"]["prefillPolicyRef"] = "prefixCache"
    assert any("prefillPolicyRef" in p.message for p in _problems(doc))
