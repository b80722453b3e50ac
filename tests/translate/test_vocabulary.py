"""One vocabulary for routing strategies (issue 10): `load-aware`, `prefix-cache`,
`precise-prefix-cache`, in annotations, policy, config, CLI, logs and metrics; the seed's
spellings (`DEFAULT`, `PREFIX_CACHE`, policy refs `default`/`loadAware`/`prefixCache`) are
accepted as written. An unknown value is a problem with a clear message and the documented
fallback, never silent."""

from __future__ import annotations

import pytest

from inference_gateway.operator.api import model_for
from inference_gateway.operator.translate import translate
from inference_gateway.router.scheduler.config import parse_config
from inference_gateway.router.table import Runtime, Strategy

STRATEGY = "inference.networking.x-k8s.io/routing-strategy"
RUNTIME = "inference.networking.x-k8s.io/model-server-runtime"


def pool(**annotations: str):
    doc = {"apiVersion": "inference.networking.x-k8s.io/v1alpha2", "kind": "InferencePool",
           "metadata": {"name": "p", "namespace": "ns", "annotations": annotations},
           "spec": {"selector": {"app": "a"}, "targetPortNumber": 8000}}
    return model_for(doc).model_validate(doc)


@pytest.mark.parametrize("written, strategy", [
    ("DEFAULT", Strategy.DEFAULT), ("PREFIX_CACHE", Strategy.PREFIX_CACHE),   # the seed's
    ("load-aware", Strategy.DEFAULT), ("prefix-cache", Strategy.PREFIX_CACHE),  # ours
    ("prefixCache", Strategy.PREFIX_CACHE), ("loadAware", Strategy.DEFAULT),  # policy refs
    ("default", Strategy.DEFAULT), (" Prefix_Cache ", Strategy.PREFIX_CACHE),
])
def test_every_spelling_of_a_strategy_is_understood(written: str, strategy: Strategy):
    translation = translate([pool(**{STRATEGY: written})])
    assert translation.table.pools["ns/p"].strategy is strategy
    assert translation.problems == ()


def test_an_unknown_strategy_is_a_problem_with_the_fallback_named():
    translation = translate([pool(**{STRATEGY: "prefix-cach"})])
    assert translation.table.pools["ns/p"].strategy is Strategy.DEFAULT  # the documented fallback
    [problem] = translation.problems
    assert (problem.kind, problem.namespace, problem.name) == ("InferencePool", "ns", "p")
    assert problem.field == f"metadata.annotations[{STRATEGY}]"
    assert "prefix-cach" in problem.message and "load-aware" in problem.message
    assert "prefix-cache" in problem.message  # what it could have said
    # ... and it is shown where statuses are written.
    [parent] = translation.statuses[("InferencePool", "ns", "p")]["parent"]
    [cond] = [c for c in parent["conditions"] if c["type"].endswith("/Annotations")]
    assert (cond["status"], cond["reason"]) == ("False", "UnknownValue") and "prefix-cach" in cond["message"]


def test_an_unknown_runtime_is_a_problem_too():
    translation = translate([pool(**{RUNTIME: "vlm"})])
    assert translation.table.pools["ns/p"].runtime is Runtime.VLLM
    [problem] = translation.problems
    assert problem.field == f"metadata.annotations[{RUNTIME}]" and "vlm" in problem.message
    assert translate([pool(**{RUNTIME: "SGLang"})]).table.pools["ns/p"].runtime is Runtime.SGLANG


def test_precise_mode_is_not_an_annotation_value():
    """Precise prefix mode needs the pods' KV-event port: only an InferenceTrafficPolicy sets it."""
    translation = translate([pool(**{STRATEGY: "precise-prefix-cache"})])
    assert translation.table.pools["ns/p"].strategy is Strategy.DEFAULT
    assert "InferenceTrafficPolicy" in translation.problems[0].message


def test_logs_and_metrics_speak_the_same_words():
    assert [s.value for s in Strategy] == ["load-aware", "prefix-cache", "precise-prefix-cache"]


def test_the_scheduler_config_accepts_the_same_spellings():
    config = parse_config({"profiles": {"prefix-cache": {"prefix": 1}, "DEFAULT": {"queue": 1}}})
    assert config.weights[Strategy.PREFIX_CACHE] == {"prefix": 1.0}
    assert config.weights[Strategy.DEFAULT] == {"queue": 1.0}
    with pytest.raises(ValueError, match="load-aware"):
        parse_config({"profiles": {"prefix-cach": {}}})
