"""In cluster (the operator against the API emulator): a v1 InferencePool and an
InferenceObjective are watched, routed and given their v1 statuses (`parents[]` with
`controllerName`). (That a pool no route uses has no parents is checked without a cluster, in
test_v1_objects.py and the conformance suite.)"""

from __future__ import annotations

from typing import AsyncIterator

import aiohttp
import kmock
import pytest

from inference_gateway.operator.kube import ClusterGateway, ClusterSettings
from inference_gateway.operator.kube.leader import LeaseSettings
from inference_gateway.operator.translate.envoy import EnvoySettings
from inference_gateway.operator.translate.provisioning import ProvisioningSettings
from inference_gateway.router.server import RouterSettings

from support.env import free_port
from support.kubeapi import Cluster, KubeAPI, eventually

V1 = "inference.networking.k8s.io/v1"
MANIFESTS = """
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: c}
spec: {controllerName: inference.networking.x-k8s.io/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: c
  listeners: [{name: http, protocol: HTTP, port: PORT}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: default}
spec:
  parentRefs: [{name: gw}]
  rules: [{backendRefs: [{group: inference.networking.k8s.io, kind: InferencePool, name: p}]}]
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: p, namespace: default}
spec:
  selector: {matchLabels: {app: dp}}
  targetPorts: [{number: 3000}, {number: 3002}]
---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceObjective
metadata: {name: batch, namespace: default}
spec: {priority: -1, poolRef: {name: p}}
"""


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    async with KubeAPI() as api, kmock.Server(api) as server:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            yield Cluster(api, str(server.url), session)


async def test_v1_pools_are_watched_routed_and_given_v1_statuses(cluster: Cluster) -> None:
    await cluster.apply_yaml(MANIFESTS.replace("PORT", str(free_port())))
    await cluster.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "dp-0", "labels": {"app": "dp"}},
                          "status": {"podIP": "127.8.230.2", "conditions": [{"type": "Ready", "status": "True"}]}})
    router = RouterSettings(ext_proc_port=free_port(), health_port=0, metrics_port=0, scrape_interval=5)
    gateway = ClusterGateway(ClusterSettings(
        router=router, xds_host="127.0.0.1", xds_port=free_port(),
        envoy=EnvoySettings(bind_address="127.0.0.1", ext_proc_address=("127.0.0.1", router.ext_proc_port), rds=True),
        provisioning=ProvisioningSettings(), identity="h8",
        lease=LeaseSettings(namespace="igw-system", lease_duration=3, renew_deadline=2, retry_period=0.3),
        reconcile_interval=0.3), cluster.config())
    await gateway.start()
    try:
        await gateway.wait_ready(10)

        async def routed() -> bool:
            pool = gateway.holder.current.pools.get("default/p")
            return pool is not None and sorted(e.address for e in pool.endpoints) == \
                ["127.8.230.2:3000", "127.8.230.2:3002"] and pool.objectives.get("batch") == "Sheddable"
        await eventually(routed, timeout=20, what="the v1 pool in the routing table")

        async def parents() -> list:
            pool = await cluster.get(V1, "InferencePool", "default", "p")
            return ((pool or {}).get("status") or {}).get("parents") or []
        [parent] = await eventually(parents, timeout=20, what="the v1 pool's status")
        assert parent["controllerName"] == "inference.networking.x-k8s.io/gateway-controller"
        assert {c["type"]: c["status"] for c in parent["conditions"]} == {"Accepted": "True", "ResolvedRefs": "True"}

    finally:
        await gateway.stop()
