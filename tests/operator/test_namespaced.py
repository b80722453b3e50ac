"""Namespace-scoped mode with the chart's own RBAC: the operator, holding only the Roles the
chart renders for `rbac.scope: namespace`, provisions and writes statuses in its namespace,
lists nothing across namespaces, and a namespace it was not granted (403) costs only that
namespace."""

from __future__ import annotations

import asyncio

import pytest
import yaml

from support import helmchart
from support.env import EXAMPLES, free_port
from support.incluster import GW, INF, conditions, start_gateway
from support.kuberbac import rules_for
from support.kubeapi import Cluster, eventually

RELEASE_NS = "igw-system"
ACCOUNT = "inference-gateway-ext-proc"
TOKEN = "operator-token"
NAMESPACED_KINDS = {"inferencepools", "inferencemodels", "inferencetrafficpolicies", "gateways", "httproutes",
                    "pods", "deployments", "services", "configmaps", "gatewayparameters", "horizontalpodautoscalers"}


def seed_yaml(namespace: str, port: int) -> str:
    text = (EXAMPLES / "prefix-cache" / "vllm-single.yaml").read_text() + "\n---\n" + \
        (EXAMPLES / "gateway.yaml").read_text().replace("port: 8080", f"port: {port}")
    return text.replace("metadata:\n  name:", f"metadata:\n  namespace: {namespace}\n  name:")


async def test_namespace_scoped_rbac(cluster: Cluster) -> None:
    try:
        objects = helmchart.render("--set", "rbac.scope=namespace", "--set", "watchNamespaces={team-a,team-b}",
                                   namespace=RELEASE_NS)
    except helmchart.tool_unavailable() as exc:
        pytest.skip(str(exc))
    # team-b's RoleBinding never made it to the cluster: everything there answers 403.
    granted = [o for o in objects if not (o["kind"] == "RoleBinding" and o["metadata"]["namespace"] == "team-b")]
    cluster.api.authorizer.grant(TOKEN, f"system:serviceaccount:{RELEASE_NS}:{ACCOUNT}",
                                 rules_for(granted, ACCOUNT, RELEASE_NS))
    [deployment] = [o for o in objects if o["kind"] == "Deployment"]
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    watched = tuple(args[i + 1] for i, a in enumerate(args) if a == "--watch-namespace")
    assert watched == ("team-a", "team-b")

    # The class is shared (cluster-scoped); the seed's objects live in team-a and team-b.
    for namespace in ("team-a", "team-b"):
        for doc in yaml.safe_load_all(seed_yaml(namespace, free_port())):
            if doc["kind"] != "GatewayClass" or namespace == "team-a":
                await cluster.create(doc)
    await cluster.create({"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "p1", "namespace": "team-a", "labels": {"alibabacloud.com/inference-workload": "vllm-inference"}},
        "status": {"podIP": "127.7.1.1", "conditions": [{"type": "Ready", "status": "True"}]}})

    gateway = await start_gateway(cluster, token=TOKEN, watch_namespaces=watched)
    try:
        async def provisioned() -> bool:
            return all([await cluster.get("v1", "ConfigMap", "team-a", "inference-gateway-envoy"),
                        await cluster.get("apps/v1", "Deployment", "team-a", "inference-gateway-envoy"),
                        await cluster.get("v1", "Service", "team-a", "inference-gateway-envoy")])
        await eventually(provisioned, what="team-a's proxy objects")

        async def statuses() -> bool:
            gw = await cluster.get(GW, "Gateway", "team-a", "inference-gateway")
            route = await cluster.get(GW, "HTTPRoute", "team-a", "inference-route")
            pool = await cluster.get(INF, "InferencePool", "team-a", "qwen-inference-pool")
            gc = await cluster.get(GW, "GatewayClass", None, "inference-gateway-class")
            return (conditions(gw).get("Accepted", {}).get("status") == "True"
                    and bool((route.get("status") or {}).get("parents"))
                    and bool((pool.get("status") or {}).get("parent"))
                    and conditions(gc).get("Accepted", {}).get("status") == "True")
        await eventually(statuses, what="statuses in team-a and on the GatewayClass")
        assert {e.name for e in gateway.holder.current.pools["team-a/qwen-inference-pool"].endpoints} == {"p1"}

        # team-b was refused, and only team-b: nothing was asked at the cluster scope that the
        # chart did not grant, and no namespaced kind was ever listed across namespaces.
        await asyncio.sleep(0.5)  # a few reconcile passes
        denied = cluster.api.authorizer.denied
        assert {ns for _, _, _, ns in denied} == {"team-b", None}
        # At the cluster scope only Kopf's optional namespace scan was refused (it then works
        # with the namespaces it was given, as its documentation says).
        assert {(verb, resource) for verb, _, resource, ns in denied if ns is None} <= {("list", "namespaces"),
                                                                                       ("watch", "namespaces")}
        assert [(p, ns) for p, ns in cluster.api.lists if p in NAMESPACED_KINDS and ns is None] == []
        assert [(p, ns) for p, ns, _ in cluster.api.watches if p in NAMESPACED_KINDS and ns is None] == []
        assert await cluster.get("apps/v1", "Deployment", "team-b", "inference-gateway-envoy") is None
        passes = gateway.reconciler.passes
        await eventually(lambda: asyncio.sleep(0, gateway.reconciler.passes > passes + 1), what="passes go on")
        assert gateway.kopf_alive
    finally:
        await gateway.stop()
