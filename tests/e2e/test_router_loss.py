"""The router going away (rollout, crash) while generations stream through a FailClose pool:
the streams already routed complete; only new requests see 503 until a router is back."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from support import scenario
from support.env import VLLM_LABELS
from inference_gateway.bench.igw_process import fleet

MODEL = "/models/Qwen3-32B"
ALIAS = "qwen-alias"  # renamed to MODEL on the way in, and back in every response chunk


@pytest.fixture
async def pods():
    f = fleet(2, subnet=3, extra_args=["--time-scale", "10"])
    await f.start()
    yield f
    await f.stop()


def _body(model: str, usage: bool, i: int) -> dict:
    body = scenario.chat(model, f"tell me a story {i}", max_tokens=40, stream=True)
    if usage:
        body["stream_options"] = {"include_usage": True}
    return body


@pytest.mark.parametrize("read_usage", [True, False])
async def test_streams_in_flight_complete_when_the_router_stops(tmp_path, start_gateway, pods, read_usage):
    pool = scenario.pool_doc(scenario.POOL, pods.port, VLLM_LABELS)
    pool["spec"]["extensionRef"]["failureMode"] = "FailClose"
    docs = [pool, scenario.model_doc(ALIAS, scenario.POOL, targets=[(MODEL, 1)])]
    gw = await scenario.start(tmp_path, start_gateway, [pods], docs, read_usage=read_usage)
    # Plain, with usage read from the stream, and renamed back chunk by chunk.
    bodies = [_body(MODEL, False, 0), _body(MODEL, True, 1), _body(ALIAS, True, 2), _body(ALIAS, False, 3)]
    first = [asyncio.Event() for _ in bodies]

    async def stream(i: int, session: aiohttp.ClientSession) -> tuple[int, list[bytes]]:
        async with session.post(gw.url + "/v1/chat/completions", json=bodies[i]) as resp:
            lines = []
            async for line in resp.content:
                if line.startswith(b"data:"):
                    lines.append(line)
                    first[i].set()
            return resp.status, lines

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        tasks = [asyncio.create_task(stream(i, session)) for i in range(len(bodies))]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in first)), 20)
        await gw.gateway.router._grpc.stop(grace=0)  # the processor dies mid-stream
        assert not all(t.done() for t in tasks), "streams ended before the router stopped: make them longer"
        results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
        # A new request meets the FailClose pool's answer for a router that is down.
        async with session.post(gw.url + "/v1/chat/completions", json=scenario.chat(MODEL, "new")) as resp:
            assert resp.status == 503
        # What the router could not do for those streams (usage, rename back) Envoy counts.
        async with session.get(gw.gateway.envoy.admin_url + "/stats?filter=ext_proc.failure_mode_allowed") as resp:
            allowed = sum(int(v) for line in (await resp.text()).splitlines() for v in [line.rpartition(" ")[2]]
                          if v.isdigit())
        assert allowed >= 1
    for body, result in zip(bodies, results):
        assert not isinstance(result, BaseException), f"{body['model']}: stream cut: {result!r}"
        status, lines = result
        assert status == 200
        assert lines[-1] == b"data: [DONE]\n", f"{body['model']}: stream did not finish: {lines[-2:]}"
