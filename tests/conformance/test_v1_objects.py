"""The v1 API and its successors to InferenceModel, without a gateway: parsing, translation into
the one routing model, statuses, `igw validate`'s warnings, and the director's picker-mode
inputs (objective header, rewrites, default pool, allowed endpoints, served endpoint)."""

from __future__ import annotations

import random
import time
from pathlib import Path

import yaml

from inference_gateway.operator.ignored import ignored_objects
from inference_gateway.operator.manifests import load_documents
from inference_gateway.operator.status_report import standalone_statuses
from inference_gateway.operator.translate import SHARED_PROXY, translate
from inference_gateway.operator.translate.envoy import PICKER_FILTER
from inference_gateway.operator.translate.objects import ObjectSet
from inference_gateway.router.director import Director, RequestInfo
from inference_gateway.router.endpoint_state import EndpointMetrics, EndpointState
from inference_gateway.router.errors import GatewayError
from inference_gateway.router.prefix_index import PrefixIndex
from inference_gateway.router.scheduler.scheduler import Scheduler
from inference_gateway.router.table import TableHolder
from inference_gateway.router.telemetry import Telemetry

V1 = "inference.networking.k8s.io"
X = "inference.networking.x-k8s.io"


def pod(name: str, ip: str, app: str = "vllm") -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": app}},
            "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": "True"}]}}


def pool(name: str = "p", ports=(8000,), picker: dict | None = None, **spec) -> dict:
    doc = {"apiVersion": f"{V1}/v1", "kind": "InferencePool", "metadata": {"name": name},
           "spec": {"selector": {"matchLabels": {"app": "vllm"}}, "targetPorts": [{"number": p} for p in ports], **spec}}
    if picker:
        doc["spec"]["endpointPickerRef"] = picker
    return doc


def gateway_and_route(*pools: str) -> list[dict]:
    return [
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass", "metadata": {"name": "c"},
         "spec": {"controllerName": "inference.networking.x-k8s.io/gateway-controller"}},
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "gw"},
         "spec": {"gatewayClassName": "c", "listeners": [{"name": "http", "protocol": "HTTP", "port": 8080}]}},
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "r"},
         "spec": {"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": [
             {"group": V1, "kind": "InferencePool", "name": p} for p in pools]}]}},
    ]


def objects(docs: list[dict]) -> ObjectSet:
    objs, problems = load_documents(yaml.safe_dump_all(docs), "test")
    assert problems == []
    return ObjectSet.of(objs)


def test_each_target_port_of_a_pod_is_its_own_endpoint_named_by_rank():
    table = translate(objects([pool(ports=(3000, 3002)), pod("a", "10.0.0.1"), pod("b", "10.0.0.2")])).table
    eps = table.pools["default/p"].endpoints
    assert sorted((e.name, e.address) for e in eps) == [
        ("a-rank-0", "10.0.0.1:3000"), ("a-rank-1", "10.0.0.1:3002"),
        ("b-rank-0", "10.0.0.2:3000"), ("b-rank-1", "10.0.0.2:3002")]


def test_v1_refuses_what_upstream_refuses():
    bad = [pool(ports=(1, 1)), pool(picker={"name": "epp"}), pool(ports=tuple(range(1, 10)))]
    for doc in bad:
        assert load_documents(yaml.safe_dump(doc), "t")[1], doc


def test_h2c_pools_get_http2_upstreams_and_other_pickers_their_own_cluster():
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "epp"},
           "spec": {"selector": {"app": "epp"}, "ports": [{"port": 9002, "targetPort": 9102}]}}
    objs = objects([pool(appProtocol="kubernetes.io/h2c", picker={"name": "epp", "port": {"number": 9002}}),
                    svc, pod("a", "10.0.0.1"), pod("epp-0", "10.0.9.1", app="epp"), *gateway_and_route("p")])
    res = translate(objs).envoy[SHARED_PROXY]
    clusters = {c["name"]: c for c in res.clusters}
    assert "typed_extension_protocol_options" in clusters["igw-pool/default/p"]  # h2c to the pods
    picker = clusters["igw-picker/default/epp:9002"]
    assert picker["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"] == \
        {"address": "10.0.9.1", "port_value": 9102}
    # The pool's own cluster follows the picker's answer (override_host, fallbacks by retry).
    policy = clusters["igw-pool/default/p"]["load_balancing_policy"]["policies"][0]["typed_extension_config"]
    assert policy["name"] == "envoy.load_balancing_policies.override_host"
    [route] = res.listeners[0]["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]["virtual_hosts"][0]["routes"]
    [weighted] = route["route"]["weighted_clusters"]["clusters"]
    assert weighted["name"] == "igw-pool/default/p"
    override = weighted["typed_per_filter_config"][PICKER_FILTER]["overrides"]
    assert override["grpc_service"]["envoy_grpc"]["cluster_name"] == "igw-picker/default/epp:9002"


def test_a_missing_picker_service_is_an_invalid_extension_ref_and_a_503():
    objs = objects([pool(picker={"name": "nope", "port": {"number": 9002}}), pod("a", "10.0.0.1"),
                    *gateway_and_route("p")])
    statuses = standalone_statuses(objs, "127.0.0.1")
    [parent] = statuses[(f"InferencePool.{V1}", "default", "p")]["parents"]
    conds = {c["type"]: c for c in parent["conditions"]}
    assert (conds["Accepted"]["status"], conds["ResolvedRefs"]["status"]) == ("True", "False")
    assert conds["ResolvedRefs"]["reason"] == "InvalidExtensionRef"
    assert parent["controllerName"]
    res = translate(objs).envoy[SHARED_PROXY]
    [route] = res.listeners[0]["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]["virtual_hosts"][0]["routes"]
    assert route["direct_response"]["status"] == 503


def test_a_v1_pool_no_route_uses_has_no_parents():
    statuses = standalone_statuses(objects([pool(), pod("a", "10.0.0.1")]), "127.0.0.1")
    assert statuses[(f"InferencePool.{V1}", "default", "p")] == {"parents": []}


def test_objectives_and_rewrites_reach_the_routing_table():
    docs = [pool(), pod("a", "10.0.0.1"),
            {"apiVersion": f"{X}/v1alpha2", "kind": "InferenceObjective", "metadata": {"name": "batch"},
             "spec": {"priority": -1, "poolRef": {"name": "p"}}},
            {"apiVersion": f"{X}/v1alpha2", "kind": "InferenceObjective", "metadata": {"name": "chat"},
             "spec": {"priority": 10, "poolRef": {"name": "p"}}},
            {"apiVersion": f"{X}/v1alpha2", "kind": "InferenceModelRewrite", "metadata": {"name": "rw"},
             "spec": {"poolRef": {"name": "p"}, "rules": [
                 {"matches": [{"model": {"value": "alias"}}], "targets": [{"modelRewrite": "real", "weight": 1}]},
                 {"targets": [{"modelRewrite": "default-model"}]}]}}]
    table = translate(objects(docs)).table
    p = table.pools["default/p"]
    assert {k: v.value for k, v in p.objectives.items()} == {"batch": "Sheddable", "chat": "Critical"}
    assert [t.name for t in p.model_rule("alias").targets] == ["real"]
    assert [t.name for t in p.model_rule("anything").targets] == ["default-model"]
    statuses = standalone_statuses(objects(docs), "127.0.0.1")
    assert statuses[("InferenceObjective", "default", "batch")]["conditions"][0]["status"] == "True"


def _director(docs: list[dict], default_pool: str = "") -> Director:
    table = translate(objects(docs)).table
    state = EndpointState()
    for ep in table.endpoints():
        state.update(ep.address, EndpointMetrics(updated_at=time.monotonic() + 3600))
    return Director(TableHolder(table), Scheduler(state, PrefixIndex()), state, Telemetry(), rng=random.Random(1),
                    log_requests=False, default_pool=default_pool)


async def never_waits(seconds: float) -> None:
    raise AssertionError("not saturated")


async def test_picker_mode_serves_a_gateway_that_names_no_pool():
    d = _director([pool(ports=(3000, 3002)), pod("a", "10.0.0.1"), pod("b", "10.0.0.2"),
                   {"apiVersion": f"{X}/v1alpha2", "kind": "InferenceObjective", "metadata": {"name": "batch"},
                    "spec": {"priority": -5, "poolRef": {"name": "p"}}}], default_pool="default/p")
    body = b'{"model": "m", "prompt": "hi"}'
    route = await d.decide(RequestInfo(objective="batch", allowed=("10.0.0.2:3002",)), body, never_waits)
    assert route.address == "10.0.0.2:3002" and route.decision.criticality == "Sheddable"
    # The gateway fell back to another endpoint: the in-flight count follows the served one.
    d.served(route, "10.0.0.1:3000")
    assert d.state.in_flight == {"10.0.0.1:3000": 1}
    d.finish(route)
    none = await d.decide(RequestInfo(allowed=("10.9.9.9",)), body, never_waits)
    assert isinstance(none, GatewayError) and none.status == 503
    without = _director([pool(), pod("a", "10.0.0.1")])
    assert isinstance(await without.decide(RequestInfo(), body, never_waits), GatewayError)


def test_validate_warns_about_every_object_it_will_not_act_on(tmp_path: Path):
    path = tmp_path / "m.yaml"
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}}
    unused = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "unused"}, "spec": {"ports": [{"port": 80}]}}
    path.write_text(yaml.safe_dump_all([pool(), deployment, unused, *gateway_and_route("p")]))
    ignored = ignored_objects([path])
    assert [w.split(": ", 1)[1] for w, _ in ignored] == ["Deployment/d", "Service/unused"]
