"""The seed's manifests and requests through the real Envoy, our router and simulated pods."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiohttp
import pytest
import yaml

from inference_gateway.cli.demo import send

from support.env import EXAMPLES, free_port, gateway_yaml, write_manifests

pytestmark = pytest.mark.envoy

SEED_POOL = EXAMPLES / "prefix-cache" / "vllm-single.yaml"


def requests(name: str) -> dict:
    return json.loads((EXAMPLES / "requests" / f"{name}.json").read_text())


async def seed_gateway(tmp_path, start_gateway, fleet, pool_yaml: str | None = None, **gateway):
    port = free_port()
    d = tmp_path / "manifests"
    d.mkdir()
    write_manifests(d, "pool.yaml", pool_yaml or SEED_POOL.read_text().replace("targetPortNumber: 8000",
                                                                             f"targetPortNumber: {fleet.port}"))
    write_manifests(d, "gateway.yaml", gateway_yaml(port))
    write_manifests(d, "pods.yaml", fleet.pods_yaml())
    return await start_gateway(d, port, **gateway)


async def test_seed_requests_are_served_and_the_conversation_sticks(tmp_path, start_gateway, vllm_fleet):
    gw = await seed_gateway(tmp_path, start_gateway, vllm_fleet)
    url = gw.url + "/v1/chat/completions"
    async with aiohttp.ClientSession() as session:
        hello = await send(session, url, requests("hello"))
        round1 = await send(session, url, requests("round1"))
        round2 = await send(session, url, requests("round2"))
    assert hello["status"] == 200 and hello["text"] and hello["usage"]["completion_tokens"] == 50
    assert round1["status"] == round2["status"] == 200
    assert round1["chunks"] > 1 and round1["usage"]["completion_tokens"] == 24
    d1, d2 = gw.decisions[round1["id"]], gw.decisions[round2["id"]]
    assert d1.pod == d2.pod, "round2 must land on the pod that holds round1's prefix"
    assert d1.strategy == "prefix-cache"
    assert d1.pod in {p.name for p in vllm_fleet.pods}
    # The pod really had the prefix cached: the model server reports it.
    assert round2["usage"]["prompt_tokens_details"]["cached_tokens"] > 0


async def test_stream_arrives_incrementally(tmp_path, start_gateway, vllm_fleet):
    gw = await seed_gateway(tmp_path, start_gateway, vllm_fleet)
    body = {**requests("round1"), "max_tokens": 60}
    arrivals = []
    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        async with session.post(gw.url + "/v1/chat/completions", json=body) as resp:
            assert resp.status == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            async for line in resp.content:
                if line.startswith(b"data: {"):
                    arrivals.append(time.perf_counter() - started)
    # 60 tokens at ~5.8 ms a step take ~350 ms: a buffered stream would arrive all at once.
    assert len(arrivals) > 5
    assert arrivals[-1] - arrivals[0] > 0.15, f"chunks arrived together: {arrivals[:3]}…{arrivals[-1]}"


@pytest.mark.parametrize("body, message", [
    (b"this is not json", "not valid JSON"),
    (b'["a list"]', "JSON object"),
    (b'{"messages": [{"role": "user", "content": "hi"}]}', "model"),
])
async def test_bad_requests_get_400_json_and_nothing_else_breaks(tmp_path, start_gateway, vllm_fleet, body, message):
    gw = await seed_gateway(tmp_path, start_gateway, vllm_fleet)
    async with aiohttp.ClientSession() as session:
        async with session.post(gw.url + "/v1/chat/completions", data=body,
                                headers={"content-type": "application/json"}) as resp:
            assert resp.status == 400
            assert resp.headers["content-type"] == "application/json"
            error = (await resp.json())["error"]
        assert message in error["message"] and error["code"] == 400 and error["type"] == "invalid_request_error"
        ok = await send(session, gw.url + "/v1/chat/completions", requests("hello"))
        assert ok["status"] == 200


async def test_no_ready_pod_gets_503_json(tmp_path, start_gateway, vllm_fleet):
    port = free_port()
    d = tmp_path / "m"
    d.mkdir()
    write_manifests(d, "pool.yaml", SEED_POOL.read_text())
    write_manifests(d, "gateway.yaml", gateway_yaml(port))
    write_manifests(d, "pods.yaml", [p.manifest(ready=False) for p in vllm_fleet.pods])
    gw = await start_gateway(d, port)
    async with aiohttp.ClientSession() as session:
        async with session.post(gw.url + "/v1/chat/completions", json=requests("hello")) as resp:
            assert resp.status == 503
            error = (await resp.json())["error"]
    assert "no ready endpoint" in error["message"] and error["code"] == 503


async def test_spoofed_destination_header_is_ignored(tmp_path, start_gateway, vllm_fleet):
    gw = await seed_gateway(tmp_path, start_gateway, vllm_fleet)
    admin = f"127.0.0.1:{gw.gateway.settings.admin_port}"
    async with aiohttp.ClientSession() as session:
        for target in (admin, "127.0.0.1:1", vllm_fleet.pods[0].address):
            rid = f"spoof-{target}"
            async with session.post(gw.url + "/v1/chat/completions", json=requests("hello"),
                                    headers={"x-gateway-destination-endpoint": target, "x-request-id": rid}) as resp:
                assert resp.status == 200
                payload = await resp.json()
            assert payload["object"] == "chat.completion"  # a model server answered, not Envoy's admin
            assert gw.decisions[rid].address in {p.address for p in vllm_fleet.pods}


async def test_get_without_body_is_routed(tmp_path, start_gateway, vllm_fleet):
    gw = await seed_gateway(tmp_path, start_gateway, vllm_fleet)
    async with aiohttp.ClientSession() as session:
        async with session.get(gw.url + "/v1/models") as resp:
            assert resp.status == 200
            assert (await resp.json())["data"][0]["id"] == "/models/Qwen3-32B"


async def test_target_model_rewrite_reaches_the_pod(tmp_path, start_gateway, vllm_fleet):
    """`qwen` is not served by the pods; only the rewrite to the target makes this succeed."""
    pool = SEED_POOL.read_text().replace("modelName: /models/Qwen3-32B", "modelName: qwen")
    pool = pool.replace("targetPortNumber: 8000", f"targetPortNumber: {vllm_fleet.port}")
    gw = await seed_gateway(tmp_path, start_gateway, vllm_fleet, pool_yaml=pool)
    async with aiohttp.ClientSession() as session:
        result = await send(session, gw.url + "/v1/chat/completions", {**requests("hello"), "model": "qwen"})
    assert result["status"] == 200, result["text"]
    decision = gw.decisions[result["id"]]
    assert (decision.model, decision.target_model) == ("qwen", "/models/Qwen3-32B")


async def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_reload_follows_pod_readiness(tmp_path, start_gateway, vllm_fleet):
    gw = await seed_gateway(tmp_path, start_gateway, vllm_fleet)
    only = vllm_fleet.pods[1]
    pods = [p.manifest(ready=(p is only)) for p in vllm_fleet.pods]
    write_manifests(gw.manifests, "pods.yaml", pods)
    pool_key = "default/qwen-inference-pool"
    await wait_for(lambda: len(gw.gateway.table.pools[pool_key].endpoints) == 1)
    async with aiohttp.ClientSession() as session:
        for _ in range(5):
            body = {**requests("hello"), "messages": [{"role": "user", "content": f"different {_}" * 20}]}
            result = await send(session, gw.url + "/v1/chat/completions", body)
            assert gw.decisions[result["id"]].pod == only.name


async def test_invalid_manifest_is_reported_and_last_good_keeps_serving(tmp_path, start_gateway, vllm_fleet):
    gw = await seed_gateway(tmp_path, start_gateway, vllm_fleet)
    pool_file = gw.manifests / "pool.yaml"
    good = pool_file.read_text()
    pool_file.write_text(good.replace(f"targetPortNumber: {vllm_fleet.port}", "targetPortNumber: eighty"))
    await wait_for(lambda: bool(gw.gateway.provider.problems))
    problem = gw.gateway.provider.problems[0]
    assert problem.source.startswith(str(pool_file))
    assert (problem.kind, problem.name, problem.field) == ("InferencePool", "qwen-inference-pool",
                                                           "spec.targetPortNumber")
    async with aiohttp.ClientSession() as session:
        assert (await send(session, gw.url + "/v1/chat/completions", requests("hello")))["status"] == 200
    pool_file.write_text(good.replace("criticality: Critical", "criticality: Sheddable"))
    await wait_for(lambda: not gw.gateway.provider.problems)
    rule = gw.gateway.table.pools["default/qwen-inference-pool"].models["/models/Qwen3-32B"]
    assert rule.criticality == "Sheddable"


@pytest.mark.parametrize("failure_mode, expected", [("FailClose", 503), ("FailOpen", 200)])
async def test_router_down_follows_failure_mode(tmp_path, start_gateway, vllm_fleet, failure_mode, expected):
    pool = yaml.safe_load_all(SEED_POOL.read_text())
    docs = list(pool)
    docs[0]["spec"]["targetPortNumber"] = vllm_fleet.port
    docs[0]["spec"]["extensionRef"]["failureMode"] = failure_mode
    gw = await seed_gateway(tmp_path, start_gateway, vllm_fleet, pool_yaml=yaml.safe_dump_all(docs))
    await gw.gateway.router._grpc.stop(grace=0)  # the processor dies
    async with aiohttp.ClientSession() as session:
        async with session.post(gw.url + "/v1/chat/completions", json=requests("hello")) as resp:
            assert resp.status == expected
