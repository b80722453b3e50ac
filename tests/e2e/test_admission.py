"""Admission through the real Envoy: while the pool is saturated Sheddable requests get 429,
Critical and Standard ones wait (Critical served first once capacity frees), a waiter whose
client leaves is dropped from the queue, and a wait past the limit gets a JSON 503."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import aiohttp
import pytest

from inference_gateway.cli.sim_fleet import SimFleet
from inference_gateway.router.admission import AdmissionSettings
from inference_gateway.router.scheduler.config import SchedulerConfig
from inference_gateway.router.table import Criticality

from support.env import free_port

from support.scenario import POOL, backlog, chat, close_all, model_doc, pool_doc, post, start, wait_until

pytestmark = pytest.mark.envoy


async def test_shed_queue_and_priority_while_saturated(tmp_path, start_gateway):
    fleet = SimFleet(count=1, labels={"app": "sim"}, port=free_port("127.0.0.2"),
                     extra_args=["--max-num-seqs", "1", "--served-model-name", "base", "crit", "std", "shed"])
    await fleet.start()
    try:
        docs = [pool_doc(POOL, fleet.port, {"app": "sim"}), model_doc("crit", POOL, "Critical"),
                model_doc("std", POOL, "Standard"), model_doc("shed", POOL, "Sheddable")]
        config = SchedulerConfig(admission=AdmissionSettings(max_waiting=2, max_wait=20))
        gw = await start(tmp_path, start_gateway, [fleet], docs, scheduler=config)
        router = gw.gateway.router
        pool = lambda: gw.gateway.table.pools[f"default/{POOL}"]  # noqa: E731
        order: list[str] = []
        router.service.observers.append(lambda d: order.append(d.request_id))
        async with aiohttp.ClientSession() as session:
            # 1 running + 4 waiting on the only pod: saturated (max_waiting 2).
            tasks = await backlog(session, fleet.pods[0].address, "base", 5, max_tokens=200)
            await wait_until(lambda: router.admission.saturated(pool()))

            started = time.monotonic()
            status, body = await post(session, gw.url, chat("shed", "go away"))
            assert status == 429 and body["error"]["code"] == 429 and "Sheddable" in body["error"]["message"]
            assert time.monotonic() - started < 0.5

            # A wait past the limit: a clear JSON 503.
            router.admission.settings = dataclasses.replace(router.admission.settings, max_wait=0.3)
            status, body = await post(session, gw.url, chat("std", "too patient"))
            assert status == 503 and "waited" in body["error"]["message"], body
            router.admission.settings = dataclasses.replace(router.admission.settings, max_wait=20)

            depth = lambda c: router.admission.depth(pool().key).get(c, 0)  # noqa: E731
            # One at a time, each queued before the next is sent: the order within a class is
            # then the order of arrival, not a race between two client connections.
            standard: list[asyncio.Task] = []
            for i in range(2):
                standard.append(asyncio.create_task(post(session, gw.url, chat("std", f"std {i}"), f"std-{i}")))
                await wait_until(lambda: depth(Criticality.STANDARD) == len(standard))

            # A client that gives up leaves the queue.
            gone = asyncio.create_task(session.post(gw.url + "/v1/chat/completions", json=chat("std", "bye"),
                                                    timeout=aiohttp.ClientTimeout(total=0.3)))
            await wait_until(lambda: depth(Criticality.STANDARD) == 3)
            with pytest.raises(asyncio.TimeoutError):
                await gone
            await wait_until(lambda: depth(Criticality.STANDARD) == 2)

            critical: list[asyncio.Task] = []
            for i in range(2):
                critical.append(asyncio.create_task(post(session, gw.url, chat("crit", f"crit {i}"), f"crit-{i}")))
                await wait_until(lambda: depth(Criticality.CRITICAL) == len(critical))
            assert router.admission.saturated(pool())

            results = await asyncio.gather(*critical, *standard)
            await close_all(tasks)
        assert [status for status, _ in results] == [200] * 4, results
        assert [r for r in order if r.startswith(("crit", "std"))] == ["crit-0", "crit-1", "std-0", "std-1"]
        assert gw.decisions["crit-0"].queued_ms > 0
        assert depth(Criticality.STANDARD) == depth(Criticality.CRITICAL) == 0
    finally:
        await fleet.stop()


async def test_the_objective_header_reaches_the_router_through_envoy(tmp_path, start_gateway):
    # Our Envoy forwards the router only the headers it reads (forward_rules): the objective
    # header must be one of them, or every request would keep its model's criticality.
    fleet = SimFleet(count=1, labels={"app": "sim"}, port=free_port("127.0.0.2"), extra_args=["--served-model-name", "std"])
    await fleet.start()
    try:
        objective = {"apiVersion": "inference.networking.x-k8s.io/v1alpha2", "kind": "InferenceObjective",
                     "metadata": {"name": "batch"}, "spec": {"priority": -1, "poolRef": {"name": POOL}}}
        docs = [pool_doc(POOL, fleet.port, {"app": "sim"}), model_doc("std", POOL, "Standard"), objective]
        gw = await start(tmp_path, start_gateway, [fleet], docs)
        async with aiohttp.ClientSession() as session:
            for rid, headers in (("plain", {}), ("batch", {"x-gateway-inference-objective": "batch"})):
                async with session.post(gw.url + "/v1/chat/completions", json=chat("std", "hi"),
                                        headers={"x-request-id": rid, **headers}) as resp:
                    assert resp.status == 200, await resp.text()
        assert gw.decisions["plain"].criticality == Criticality.STANDARD.value
        assert gw.decisions["batch"].criticality == Criticality.SHEDDABLE.value
    finally:
        await fleet.stop()
