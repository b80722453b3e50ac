"""Every object translation cannot use is logged once, with the object and the reason (issue
14): a route and a model pointing to a missing pool, however many translations see them."""

from __future__ import annotations

import structlog

from inference_gateway.operator.api import model_for
from inference_gateway.operator.problems import ProblemLog
from inference_gateway.operator.translate import translate

DOCS = [
    {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass", "metadata": {"name": "ours"},
     "spec": {"controllerName": "inference.networking.x-k8s.io/gateway-controller"}},
    {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "gw"},
     "spec": {"gatewayClassName": "ours", "listeners": [{"name": "http", "protocol": "HTTP", "port": 8080}]}},
    {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "r"},
     "spec": {"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": [
         {"group": "inference.networking.x-k8s.io", "kind": "InferencePool", "name": "missing"}]}]}},
    {"apiVersion": "inference.networking.x-k8s.io/v1alpha2", "kind": "InferenceModel", "metadata": {"name": "m"},
     "spec": {"modelName": "llama", "poolRef": {"name": "missing"}}},
]
POOL = {"apiVersion": "inference.networking.x-k8s.io/v1alpha2", "kind": "InferencePool",
        "metadata": {"name": "missing"}, "spec": {"selector": {"app": "a"}, "targetPortNumber": 8000}}


def objects(docs):
    return [model_for(d).model_validate(d) for d in docs]


def test_each_unusable_object_is_logged_once_with_object_and_reason():
    problems = ProblemLog(structlog.get_logger("test"))
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):  # every change retranslates; the log does not repeat itself
            problems.report(translate(objects(DOCS)).problems)
    assert sorted((e["object"], e["field"]) for e in logs) == [
        ("HTTPRoute/default/r", "spec.rules[0].backendRefs[0]"), ("InferenceModel/default/m", "spec.poolRef")]
    assert all(e["log_level"] == "warning" and "default/missing not found" in e["reason"] for e in logs)
    with structlog.testing.capture_logs() as logs:
        problems.report(translate(objects([*DOCS, POOL])).problems)  # the pool appears
    assert sorted(e["event"] for e in logs) == ["problem resolved", "problem resolved"]
