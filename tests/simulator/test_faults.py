"""Fault knobs: refuse, reset, stall, die mid-stream; toggled at run time."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from inference_gateway.simulator import FaultSpec
from inference_gateway.simulator.testing import TEST_MODEL as MODEL

BODY = {"model": MODEL, "prompt": "hello", "max_tokens": 8}


async def set_fault(http, sim, **spec):
    async with http.post(sim.base_url + "/sim/fault", json=spec) as r:
        assert r.status == 200, await r.text()


async def test_reset_closes_without_answer_then_recovers(sim, http):
    await set_fault(http, sim, mode="reset")
    with pytest.raises(aiohttp.ClientError):
        async with http.post(sim.base_url + "/v1/completions", json=BODY) as r:
            await r.read()
    await set_fault(http, sim, mode="none")
    async with http.post(sim.base_url + "/v1/completions", json=BODY) as r:
        assert r.status == 200


async def test_stall_is_bounded(sim, http):
    await set_fault(http, sim, mode="stall", stall_max_s=0.3)
    t0 = time.monotonic()
    with pytest.raises(aiohttp.ClientError):
        async with http.post(sim.base_url + "/v1/completions", json=BODY) as r:
            await r.read()
    assert 0.25 < time.monotonic() - t0 < 3
    # A client timeout shorter than the stall sees a hang.
    with pytest.raises(asyncio.TimeoutError):
        async with http.get(sim.base_url + "/health", timeout=aiohttp.ClientTimeout(total=0.1)) as r:
            await r.read()


async def test_die_mid_stream(sim, http):
    await set_fault(http, sim, mode="die-mid-stream", after_chunks=2)
    got = []
    with pytest.raises(aiohttp.ClientError):
        async with http.post(sim.base_url + "/v1/completions", json={**BODY, "stream": True}) as r:
            assert r.status == 200
            async for raw in r.content:
                if raw.startswith(b"data: "):
                    got.append(raw)
    assert len(got) == 2 and b"[DONE]" not in b"".join(got)
    with pytest.raises(aiohttp.ClientError):  # non-streaming: closed before the answer
        async with http.post(sim.base_url + "/v1/completions", json=BODY) as r:
            await r.read()


async def test_refuse_stops_listening_for_a_while(sim, http):
    await set_fault(http, sim, mode="refuse", duration_s=0.5)
    await asyncio.sleep(0.1)
    async with aiohttp.ClientSession() as fresh:  # no pooled connection
        with pytest.raises(aiohttp.ClientConnectorError):
            async with fresh.get(sim.base_url + "/health") as r:
                await r.read()
        await asyncio.sleep(0.6)
        async with fresh.get(sim.base_url + "/health") as r:
            assert r.status == 200


async def test_python_api_and_start_time_fault(start_sim, http):
    sim = await start_sim(fault=FaultSpec(mode="refuse"))
    async with aiohttp.ClientSession() as fresh:
        with pytest.raises(aiohttp.ClientConnectorError):
            async with fresh.get(sim.base_url + "/health") as r:
                await r.read()
        await sim.set_fault(FaultSpec())
        async with fresh.get(sim.base_url + "/health") as r:
            assert r.status == 200
