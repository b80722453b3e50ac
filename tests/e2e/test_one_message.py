"""One ext_proc message per request (operator/translate/one_message.py), through real Envoy:
a request with a body costs the router one message, carries the client's request id, and goes
to the pod the router chose; requests without a body, chunked uploads, requests naming an
InferenceObjective and renaming pools keep the headers message."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest

from inference_gateway.bench.overhead_setups import ext_proc_messages

from e2e.test_walking_skeleton import SEED_POOL, requests, seed_gateway

pytestmark = pytest.mark.envoy


async def messages(gw) -> float:
    return await asyncio.to_thread(ext_proc_messages, gw.gateway.settings.admin_port)


async def _log_lines(path, ids: set[str]) -> dict[str, dict]:
    deadline = time.monotonic() + 15
    while True:
        lines = [json.loads(x) for x in (path.read_text() if path.exists() else "").splitlines() if x.strip()]
        by_id = {x["request_id"]: x for x in lines}
        if ids <= by_id.keys():
            return by_id
        assert time.monotonic() < deadline, f"access log lines missing: {ids - by_id.keys()}"
        await asyncio.sleep(0.2)


async def test_a_request_with_a_body_costs_one_message_and_goes_to_the_chosen_pod(tmp_path, start_gateway,
                                                                                   vllm_fleet):
    log_path = tmp_path / "access.log"
    gw = await seed_gateway(tmp_path, start_gateway, vllm_fleet, standalone={"access_log": str(log_path)})
    ids = [f"one-message-{i}" for i in range(6)]
    async with aiohttp.ClientSession() as session:
        for rid in ids:
            before = await messages(gw)
            async with session.post(gw.url + "/v1/chat/completions", json=requests("hello"),
                                    headers={"x-request-id": rid}) as resp:
                assert resp.status == 200, await resp.text()
                assert (await resp.json())["object"] == "chat.completion"
            assert await messages(gw) - before == 1
    lines = await _log_lines(log_path, set(ids))
    for rid in ids:
        # The path and the request id came as attributes (the decision carries the client's id),
        # the pod that served is the one the router chose, and no headers message was sent.
        line = lines[rid]
        assert line["upstream_host"] == gw.decisions[rid].address, line
        assert line["ext_proc_request_headers_us"] is None and int(line["ext_proc_request_body_us"]) > 0, line
        assert line["route"].endswith("/one-message/igw-pool/default/qwen-inference-pool"), line


async def test_bodiless_chunked_and_objective_requests_keep_the_headers_message(tmp_path, start_gateway,
                                                                                 vllm_fleet):
    gw = await seed_gateway(tmp_path, start_gateway, vllm_fleet)
    pods = {p.address for p in vllm_fleet.pods}

    async def chunks():
        body = json.dumps(requests("hello")).encode()
        yield body[:10]
        yield body[10:]

    async with aiohttp.ClientSession() as session:
        before = await messages(gw)
        async with session.get(gw.url + "/v1/models") as resp:  # headers only, end of stream
            assert resp.status == 200
        assert await messages(gw) - before == 1
        before = await messages(gw)
        async with session.post(gw.url + "/v1/chat/completions", data=chunks(),
                                headers={"content-type": "application/json", "x-request-id": "chunked"}) as resp:
            assert resp.status == 200, await resp.text()
        assert await messages(gw) - before == 2
        assert gw.decisions["chunked"].address in pods
        # Only the headers message carries the objective header, so such a request sends it.
        before = await messages(gw)
        async with session.post(gw.url + "/v1/chat/completions", json=requests("hello"),
                                headers={"x-request-id": "objective",
                                         "x-gateway-inference-objective": "no-such-objective"}) as resp:
            assert resp.status in (200, 400, 404), await resp.text()
        assert await messages(gw) - before == 2


async def test_a_renaming_pool_keeps_two_messages_and_renames_back(tmp_path, start_gateway, vllm_fleet):
    pool = SEED_POOL.read_text().replace("modelName: /models/Qwen3-32B", "modelName: qwen")
    pool = pool.replace("targetPortNumber: 8000", f"targetPortNumber: {vllm_fleet.port}")
    gw = await seed_gateway(tmp_path, start_gateway, vllm_fleet, pool_yaml=pool)
    async with aiohttp.ClientSession() as session:
        before = await messages(gw)
        async with session.post(gw.url + "/v1/chat/completions", json={**requests("hello"), "model": "qwen"}) as resp:
            assert resp.status == 200, await resp.text()
            assert (await resp.json())["model"] == "qwen"
        # Request headers, request body, response headers, response body.
        assert await messages(gw) - before == 4
