"""A model-server pod failing under load: out of rotation at once, and no request that
started after the failure reaches the client as an error (Envoy retries it on the router's
fallback). Pods on 127.5.x.x, a real Envoy, the in-process router."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from support import scenario
from support.env import VLLM_LABELS
from inference_gateway.bench.igw_process import chat, fleet


@pytest.fixture
async def pods():
    f = fleet(4, subnet=2)
    await f.start()
    yield f
    await f.stop()


async def _gateway(tmp_path, start_gateway, pods, **router):
    gw = await scenario.start(tmp_path, start_gateway, [pods],
                              [scenario.pool_doc(scenario.POOL, pods.port, VLLM_LABELS)], **router)
    routed: list[tuple[float, str]] = []  # (when, primary address) for every decision
    gw.gateway.router.service.observers.append(lambda d: routed.append((time.monotonic(), d.address)))
    return gw, routed


async def _one(session: aiohttp.ClientSession, url: str, i: int) -> tuple[float, bool]:
    """One request (every other one streamed); (start time, completed without error)."""
    started = time.monotonic()
    stream = i % 2 == 0
    try:
        async with session.post(url + "/v1/chat/completions", json=chat(4, stream=stream, text=f"q{i}")) as r:
            body = await r.read()
            ok = r.status == 200 and (not stream or b"[DONE]" in body)
    except aiohttp.ClientError:
        ok = False
    return started, ok


async def test_pod_killed_under_load_is_out_at_once_and_no_new_request_fails(tmp_path, start_gateway, pods):
    gw, routed = await _gateway(tmp_path, start_gateway, pods)
    victim = pods.pods[0]
    results: list[tuple[float, bool]] = []
    killed_at: list[float] = []

    async def client(n: int, session: aiohttp.ClientSession) -> None:
        for i in range(40):  # bounded; the clients outlive the kill by a second or more
            results.append(await _one(session, gw.url, n * 1000 + i))
            if killed_at and time.monotonic() > killed_at[0] + 1.5:
                return

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        clients = [asyncio.create_task(client(n, session)) for n in range(8)]
        await scenario.wait_until(lambda: sum(a == victim.address for _, a in routed) >= 5)
        killed_at.append(time.monotonic())
        victim.process.kill()
        await victim.process.wait()
        await asyncio.gather(*clients)

    kill = killed_at[0]
    late = [t - kill for t, a in routed if a == victim.address and t > kill + 0.3]
    assert late == [], f"routed to the dead pod {len(late)} times more than 0.3 s after its death"
    after = [ok for started, ok in results if started > kill]
    assert len(after) >= 16, "too few requests after the kill to tell"
    assert all(after), f"{after.count(False)} of {len(after)} requests started after the kill failed"
    assert victim.address in gw.gateway.router.state.down


@pytest.mark.parametrize("mode", ["reset", "refuse"])
async def test_requests_to_a_failing_pod_are_retried_on_a_fallback(tmp_path, start_gateway, pods, mode):
    """The router does not know (its scraping stopped, its metrics kept fresh): Envoy's retries
    alone save the requests it sends there."""
    gw, routed = await _gateway(tmp_path, start_gateway, pods, stale_after=600.0)
    await gw.gateway.router.scraper.stop()
    victim = pods.pods[1]
    fault = {"mode": mode, "duration_s": 60}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        async with session.post(f"http://{victim.address}/sim/fault", json=fault) as r:
            assert r.status == 200
        outcomes = [await _one(session, gw.url, i) for i in range(24)]
    to_victim = sum(a == victim.address for _, a in routed)
    assert to_victim > 0, "the router never picked the failing pod: nothing was tested"
    assert all(ok for _, ok in outcomes), f"{sum(not ok for _, ok in outcomes)} requests failed"
