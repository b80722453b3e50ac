"""Precise prefix mode: routers follow the pods' own KV events, so a replica that never saw a
conversation still sends its next turn to the pod that holds it (estimate mode cannot), with
vLLM pods and with SGLang pods (whose events hash and cut blocks their own way)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
import yaml

from inference_gateway.cli.demo import send
from inference_gateway.cli.sim_fleet import SimFleet

from support.env import VLLM_LABELS, free_port, gateway_yaml, write_manifests

pytestmark = pytest.mark.envoy

KV_EVENTS_PORT = 5557


def precise_pool(port: int, runtime: str = "vllm") -> list[dict]:
    return [
        {"apiVersion": "inference.networking.x-k8s.io/v1alpha2", "kind": "InferencePool",
         "metadata": {"name": "qwen-inference-pool"},
         "spec": {"targetPortNumber": port, "selector": VLLM_LABELS,
                  "extensionRef": {"name": "inference-gateway-ext-proc"}}},
        {"apiVersion": "inferenceextension.alibabacloud.com/v1alpha1", "kind": "InferenceTrafficPolicy",
         "metadata": {"name": "precise"},
         "spec": {"poolRef": {"name": "qwen-inference-pool"}, "modelServerRuntime": runtime,
                  "trafficPolicy": {"prefixCache": {"mode": "precise", "kvEventsPort": KV_EVENTS_PORT}}}},
    ]


@pytest.fixture(params=["vllm", "sglang"])
async def evented_fleet(request):
    fleet = SimFleet(count=4, labels=VLLM_LABELS, first_ip=40, port=free_port("127.0.0.40"), runtime=request.param,
                     extra_args=["--kv-events", f"tcp://*:{KV_EVENTS_PORT}"])
    await fleet.start()
    yield fleet
    await fleet.stop()


async def replica(tmp_path, start_gateway, fleet, name: str):
    port = free_port()
    d = tmp_path / name
    d.mkdir()
    write_manifests(d, "pool.yaml", precise_pool(fleet.port, fleet.runtime))
    write_manifests(d, "gateway.yaml", gateway_yaml(port))
    write_manifests(d, "pods.yaml", fleet.pods_yaml())
    return await start_gateway(d, port)


async def test_a_second_replica_routes_by_the_pods_real_cache(tmp_path, start_gateway, evented_fleet):
    a = await replica(tmp_path, start_gateway, evented_fleet, "a")
    b = await replica(tmp_path, start_gateway, evented_fleet, "b")
    assert a.gateway.table.pools["default/qwen-inference-pool"].strategy == "precise-prefix-cache"
    await asyncio.sleep(0.5)  # subscriptions reach the publishers (ZMQ's slow joiner)
    async with aiohttp.ClientSession() as session:
        for i in range(6):
            history = [{"role": "user", "content": f"conversation {i}: " + "a long shared context. " * 60}]
            first = await send(session, a.url + "/v1/chat/completions",
                               {"model": "/models/Qwen3-32B", "max_tokens": 4, "messages": history})
            assert first["status"] == 200
            await asyncio.sleep(0.1)  # the pod's BlockStored events reach replica b
            history += [{"role": "assistant", "content": first["text"]}, {"role": "user", "content": "and then?"}]
            second = await send(session, b.url + "/v1/chat/completions",
                                {"model": "/models/Qwen3-32B", "max_tokens": 4, "messages": history})
            assert second["status"] == 200
            assert b.decisions[second["id"]].pod == a.decisions[first["id"]].pod, f"conversation {i}"
            assert second["usage"]["prompt_tokens_details"]["cached_tokens"] > 100
