"""One ext_proc message per request (operator/translate/one_message.py), through real Envoy:
a request with a body costs the router one message and is still routed to the pod it chose;
requests without a body, chunked uploads and renaming pools keep the headers message."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from inference_gateway.bench.overhead_setups import ext_proc_messages

from e2e.test_walking_skeleton import SEED_POOL, requests, seed_gateway

pytestmark = pytest.mark.envoy


async def messages(gw) -> float:
    return await asyncio.to_thread(ext_proc_messages, gw.gateway.settings.admin_port)


async def test_a_request_with_a_body_costs_one_message_and_is_routed(tmp_path, start_gateway, vllm_fleet):
    gw = await seed_gateway(tmp_path, start_gateway, vllm_fleet)
    pods = {p.address for p in vllm_fleet.pods}
    async with aiohttp.ClientSession() as session:
        for i in range(3):
            before = await messages(gw)
            rid = f"one-message-{i}"
            async with session.post(gw.url + "/v1/chat/completions", json=requests("hello"),
                                    headers={"x-request-id": rid}) as resp:
                assert resp.status == 200, await resp.text()
                assert (await resp.json())["object"] == "chat.completion"
            assert await messages(gw) - before == 1
            # The path and the request id came as attributes: the decision carries the client's id.
            assert gw.decisions[rid].address in pods


async def test_bodiless_and_chunked_requests_keep_the_headers_message(tmp_path, start_gateway, vllm_fleet):
    gw = await seed_gateway(tmp_path, start_gateway, vllm_fleet)

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
        assert gw.decisions["chunked"].address in {p.address for p in vllm_fleet.pods}


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
