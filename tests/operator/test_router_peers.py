"""Router replicas discover each other for peer sync through the EndpointSlices of their
Service (operator/kube/router_peers.py), against the Kubernetes API emulator."""

from __future__ import annotations

from kubernetes_asyncio import client

from inference_gateway.operator.kube.router_peers import RouterPeers


def endpoint_slice(name: str, service: str, endpoints: list[tuple[str, bool]]) -> dict:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": "gw", "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4", "ports": [{"name": "grpc", "port": 9002}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": ready}} for ip, ready in endpoints]}


async def test_ready_replicas_of_the_router_service_become_peers(cluster):
    await cluster.create(endpoint_slice("igw-a", "inference-gateway-ext-proc", [("10.1.0.1", True), ("10.1.0.2", False)]))
    await cluster.create(endpoint_slice("igw-b", "inference-gateway-ext-proc", [("10.1.0.3", True)]))
    other = await cluster.create(endpoint_slice("other", "something-else", [("10.9.0.1", True)]))
    seen: list[list[str]] = []
    async with client.ApiClient(cluster.config()) as api:
        peers = RouterPeers(api, "gw", "inference-gateway-ext-proc", 5600, seen.append)
        await peers.poll()
        assert seen == [["tcp://10.1.0.1:5600", "tcp://10.1.0.3:5600"]]
        await peers.poll()  # nothing changed: no call
        assert len(seen) == 1
        await cluster.patch(other, {"metadata": {"labels": {"kubernetes.io/service-name": "inference-gateway-ext-proc"}}})
        await peers.poll()
        assert seen[-1] == ["tcp://10.1.0.1:5600", "tcp://10.1.0.3:5600", "tcp://10.9.0.1:5600"]
