"""The operator in-process against the API emulator: Kopf + router + xDS, a real Envoy started
from the bootstrap it provisions, simulated pods serving the seed's requests."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any, AsyncIterator

import aiohttp
import pytest

from inference_gateway.operator.envoy_process import EnvoyProcess
from inference_gateway.cli.sim_fleet import SimFleet
from inference_gateway.operator.translate.envoy import XDS_CLUSTER
from inference_gateway.operator.translate.provisioning import BOOTSTRAP_KEY

from support.env import EXAMPLES, VLLM_LABELS, free_port
from support.incluster import GW, INF, conditions, start_gateway
from support.kubeapi import Cluster, eventually

REQUESTS = EXAMPLES / "requests"


@pytest.fixture
async def fleet() -> AsyncIterator[SimFleet]:
    fleet = SimFleet(count=2, labels=VLLM_LABELS, name_prefix="vllm-op", first_ip=60, port=free_port("127.0.0.60"))
    await fleet.start()
    yield fleet
    await fleet.stop()


async def post(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> tuple[int, str, str]:
    """(status, text, request id): streams read to the end."""
    request_id = str(uuid.uuid4())
    async with session.post(url, json=body, headers={"x-request-id": request_id}) as resp:
        return resp.status, await resp.text(), request_id


async def test_operator_end_to_end(cluster: Cluster, fleet: SimFleet, tmp_path) -> None:
    listener_port = free_port()
    await cluster.apply_yaml((EXAMPLES / "prefix-cache" / "vllm-single.yaml").read_text()
                             .replace("targetPortNumber: 8000", f"targetPortNumber: {fleet.port}"))
    await cluster.apply_yaml((EXAMPLES / "gateway.yaml").read_text().replace("port: 8080", f"port: {listener_port}"))
    for pod in fleet.pods:
        await cluster.create(pod.manifest())
    # Pods no pool selects: never watched (server-side selector)
    await cluster.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "unrelated", "labels": {"app": "x"}},
                          "status": {"podIP": "127.0.0.99", "conditions": [{"type": "Ready", "status": "True"}]}})

    gateway = await start_gateway(cluster)
    envoy: EnvoyProcess | None = None
    try:
        assert {ep.name for ep in gateway.holder.current.pools["default/qwen-inference-pool"].endpoints} == \
            {p.name for p in fleet.pods}
        assert not any(k[2] == "unrelated" for k in gateway.store._raw)

        # ---- provisioning: ConfigMap (bootstrap), Deployment, Service, owned by the Gateway
        gw_obj = await cluster.get(GW, "Gateway", "default", "inference-gateway")
        async def provisioned() -> bool:
            return all([await cluster.get("v1", "ConfigMap", "default", "inference-gateway-envoy"),
                        await cluster.get("apps/v1", "Deployment", "default", "inference-gateway-envoy"),
                        await cluster.get("v1", "Service", "default", "inference-gateway-envoy")])
        await eventually(provisioned, what="proxy objects")
        cm = await cluster.get("v1", "ConfigMap", "default", "inference-gateway-envoy")
        deploy = await cluster.get("apps/v1", "Deployment", "default", "inference-gateway-envoy")
        svc = await cluster.get("v1", "Service", "default", "inference-gateway-envoy")
        for obj in (cm, deploy, svc):
            owner = obj["metadata"]["ownerReferences"][0]
            assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == \
                ("Gateway", "inference-gateway", gw_obj["metadata"]["uid"], True)
        assert [p["port"] for p in svc["spec"]["ports"]] == [listener_port]
        assert deploy["spec"]["template"]["spec"]["containers"][0]["ports"] == [
            {"containerPort": listener_port, "protocol": "TCP"}]

        # ---- Gateway: Programmed waits for a ready Envoy replica; then addresses = ClusterIP
        async def gw_status(kind: str, want: str, reason: str | None = None) -> dict[str, Any] | None:
            obj = await cluster.get(GW, "Gateway", "default", "inference-gateway")
            c = conditions(obj).get(kind)
            return obj if c and c["status"] == want and (reason is None or c["reason"] == reason) else None
        await eventually(lambda: gw_status("Programmed", "False", "Pending"), what="Gateway Programmed=False Pending")
        await cluster.patch_status(deploy, {"readyReplicas": 1, "replicas": 1})  # as kube-controller-manager
        gw_obj = await eventually(lambda: gw_status("Programmed", "True"), what="Gateway Programmed")
        assert conditions(gw_obj)["Accepted"]["status"] == "True"
        assert gw_obj["status"]["addresses"] == [{"type": "IPAddress", "value": svc["spec"]["clusterIP"]}]
        assert gw_obj["status"]["listeners"][0]["attachedRoutes"] == 1
        await cluster.patch_status(svc, {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}})
        await eventually(lambda: gw_status("Programmed", "True"), what="Gateway still Programmed")
        async def lb_address() -> bool:
            obj = await cluster.get(GW, "Gateway", "default", "inference-gateway")
            return obj["status"]["addresses"] == [{"type": "IPAddress", "value": "203.0.113.7"}]
        await eventually(lb_address, what="LoadBalancer address")

        gc = await cluster.get(GW, "GatewayClass", None, "inference-gateway-class")
        assert conditions(gc)["Accepted"]["status"] == "True"

        # ---- a real Envoy from the provisioned bootstrap (only xDS address and admin port rewritten)
        bootstrap = json.loads(cm["data"][BOOTSTRAP_KEY])
        assert bootstrap["node"]["cluster"] == "default/inference-gateway"
        admin_port = free_port()
        bootstrap["admin"]["address"]["socket_address"]["port_value"] = admin_port
        for c in bootstrap["static_resources"]["clusters"]:
            if c["name"] == XDS_CLUSTER:
                c["type"] = "STATIC"
                c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"] = \
                    {"address": "127.0.0.1", "port_value": gateway.settings.xds_port}
        envoy = EnvoyProcess(bootstrap, admin_port, workdir=tmp_path / "envoy", concurrency=1)
        await envoy.start()
        pid = envoy.process.pid
        base = f"http://127.0.0.1:{listener_port}"
        decisions: dict[str, Any] = {}
        gateway.router.service.observers.append(lambda d: decisions.__setitem__(d.request_id, d))

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            async def served() -> bool:
                try:
                    status, _, _ = await post(http, f"{base}/v1/chat/completions",
                                              json.loads((REQUESTS / "hello.json").read_text()))
                    return status == 200
                except aiohttp.ClientError:
                    return False
            await eventually(served, timeout=15, interval=0.1, what="Envoy serving through the router")
            for name in ("hello", "round1", "round2"):
                status, text, rid = await post(http, f"{base}/v1/chat/completions",
                                               json.loads((REQUESTS / f"{name}.json").read_text()))
                assert status == 200, text
                assert rid in decisions
            assert "data:" in text and "[DONE]" in text  # streamed

            # ---- deleting a Pod stops traffic to it within a second
            victim, survivor = fleet.pods
            await cluster.delete("v1", "Pod", "default", victim.name)
            await asyncio.sleep(1.0)
            body = json.loads((REQUESTS / "hello.json").read_text())
            picked = set()
            for _ in range(6):
                status, _, rid = await post(http, f"{base}/v1/chat/completions", body)
                assert status == 200
                picked.add(decisions[rid].pod)
            assert picked == {survivor.name}

            # ---- a changed HTTPRoute is pushed to the same Envoy: /v1 → /v1/chat
            route = await cluster.get(GW, "HTTPRoute", "default", "inference-route")
            await cluster.patch(route, {"spec": {"rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/v1/chat"}}],
                                                            "backendRefs": route["spec"]["rules"][0]["backendRefs"]}]}})
            completions = {"model": "/models/Qwen3-32B", "prompt": "hello", "max_tokens": 5}
            async def repathed() -> bool:
                status, _, _ = await post(http, f"{base}/v1/completions", completions)
                return status == 404
            await eventually(repathed, timeout=5, what="old path 404")  # on the same keep-alive connection
            status, text, _ = await post(http, f"{base}/v1/chat/completions", body)
            assert status == 200, text
            assert envoy.process.pid == pid and envoy.process.returncode is None

            # ---- a configuration Envoy rejects: reported, last good kept
            gw_now = await cluster.get(GW, "Gateway", "default", "inference-gateway")
            listeners = gw_now["spec"]["listeners"]
            await cluster.patch(gw_now, {"spec": {"listeners": listeners + [
                {"name": "dup", "protocol": "HTTP", "port": listener_port}]}})
            rejected = await eventually(lambda: gw_status("Programmed", "False", "Invalid"), what="Programmed=Invalid")
            assert "rejected" in conditions(rejected)["Programmed"]["message"]
            status, _, _ = await post(http, f"{base}/v1/chat/completions", body)
            assert status == 200  # still serving the last good configuration
            await cluster.patch(gw_now, {"spec": {"listeners": listeners}})
            await eventually(lambda: gw_status("Programmed", "True"), what="Programmed again")

        # ---- statuses of the Inference Extension objects
        pool = await cluster.get(INF, "InferencePool", "default", "qwen-inference-pool")
        [parent] = pool["status"]["parent"]
        assert parent["parentRef"] == {"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                       "namespace": "default", "name": "inference-gateway"}
        pc = {c["type"]: c for c in parent["conditions"]}
        assert (pc["Accepted"]["status"], pc["Accepted"]["reason"]) == ("True", "Accepted")
        assert (pc["ResolvedRefs"]["status"], pc["ResolvedRefs"]["reason"]) == ("True", "ResolvedRefs")
        assert pc["Accepted"]["observedGeneration"] == 1

        route = await cluster.get(GW, "HTTPRoute", "default", "inference-route")
        [rp] = route["status"]["parents"]
        rc = {c["type"]: c for c in rp["conditions"]}
        assert rp["controllerName"] == "inference.networking.x-k8s.io/gateway-controller"
        assert rc["Accepted"]["status"] == rc["ResolvedRefs"]["status"] == "True"
        assert rc["Accepted"]["observedGeneration"] == 2  # the /v1/chat edit

        # a route to a pool that does not exist
        await cluster.create({"apiVersion": GW, "kind": "HTTPRoute", "metadata": {"name": "bad-route"}, "spec": {
            "parentRefs": [{"name": "inference-gateway"}],
            "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/missing"}}],
                       "backendRefs": [{"group": "inference.networking.x-k8s.io", "kind": "InferencePool",
                                        "name": "no-such-pool"}]}]}})
        async def bad_route() -> Any:
            obj = await cluster.get(GW, "HTTPRoute", "default", "bad-route")
            parents = (obj.get("status") or {}).get("parents") or []
            c = {c["type"]: c for c in parents[0]["conditions"]} if parents else {}
            return c.get("ResolvedRefs", {}).get("reason") == "BackendNotFound" and c["ResolvedRefs"]["status"] == "False"
        await eventually(bad_route, what="BackendNotFound")

        # a younger InferenceModel claiming the same modelName
        await asyncio.sleep(1.1)  # creationTimestamp has 1 s resolution, as in Kubernetes
        await cluster.create({"apiVersion": INF, "kind": "InferenceModel", "metadata": {"name": "younger"}, "spec": {
            "modelName": "/models/Qwen3-32B", "poolRef": {"name": "qwen-inference-pool"}}})
        async def conflict() -> Any:
            young = await cluster.get(INF, "InferenceModel", "default", "younger")
            old = await cluster.get(INF, "InferenceModel", "default", "qwen-inference-model")
            y, o = conditions(young).get("Accepted"), conditions(old).get("Accepted")
            return y and o and (y["status"], y["reason"], o["status"]) == ("False", "ModelNameInUse", "True")
        await eventually(conflict, what="ModelNameInUse")

        # ---- settled: no writes at all (no status storms), and lastTransitionTime is stable
        await asyncio.sleep(1.0)
        before = len(cluster.api.writes)
        pool_before = await cluster.get(INF, "InferencePool", "default", "qwen-inference-pool")
        await asyncio.sleep(1.5)
        assert cluster.api.writes[before:] == [] or all(w[1] == "leases" for w in cluster.api.writes[before:])
        assert await cluster.get(INF, "InferencePool", "default", "qwen-inference-pool") == pool_before
    finally:
        if envoy is not None:
            await envoy.stop()
        await gateway.stop()
