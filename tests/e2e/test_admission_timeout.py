"""A request queued in admission longer than Envoy's per-message ext_proc timeout is still
served: the router extends the timeout (override_message_timeout) and Envoy accepts it up to
`max_message_timeout` (the Envoy translation sets it; with it at 1 s this test fails). Bounded
by shrinking the message timeout to 1 s instead of waiting 10 s."""

from __future__ import annotations

import asyncio
import dataclasses

import aiohttp
import pytest

from inference_gateway.cli.sim_fleet import SimFleet
from inference_gateway.cli.standalone import Standalone, StandaloneSettings
from inference_gateway.router.admission import AdmissionSettings
from inference_gateway.router.scheduler.config import SchedulerConfig
from inference_gateway.router.server import RouterSettings

from conftest import RunningGateway
from support.env import free_port, gateway_yaml, write_manifests
from support.scenario import POOL, chat, model_doc, pool_doc, post, wait_until

pytestmark = pytest.mark.envoy

MESSAGE_TIMEOUT_S = 1.0


async def test_a_queued_request_outlives_the_ext_proc_message_timeout(tmp_path):
    fleet = SimFleet(count=1, labels={"app": "sim"}, port=free_port("127.12.0.2"),
                     extra_args=["--served-model-name", "base", "std"])
    await fleet.start()
    gateway = None
    try:
        port = free_port()
        d = tmp_path / "manifests"
        d.mkdir()
        write_manifests(d, "pools.yaml", [pool_doc(POOL, fleet.port, {"app": "sim"}), model_doc("std", POOL)])
        write_manifests(d, "gateway.yaml", gateway_yaml(port))
        write_manifests(d, "pods.yaml", fleet.pods_yaml())
        config = SchedulerConfig(admission=AdmissionSettings(max_wait=30))
        gateway = Standalone(StandaloneSettings(
            manifests=[d], router=RouterSettings(ext_proc_port=free_port(), health_port=free_port(),
                                                 metrics_port=free_port(), scrape_interval=0.05, scheduler=config),
            xds_port=free_port(), admin_port=free_port(), envoy_concurrency=1, reload_interval=0.2,
            workdir=tmp_path / "envoy"))
        gateway.envoy_settings = dataclasses.replace(gateway.envoy_settings,
                                                     ext_proc_message_timeout=f"{MESSAGE_TIMEOUT_S:g}s")
        await gateway.start()
        gw = RunningGateway(gateway, d, port)
        router = gateway.router
        await wait_until(lambda: all(router.state.fresh(p.address) for p in fleet.pods))
        key = f"default/{POOL}"
        # Every pod counts as saturated (a negative queue limit), so the request must queue.
        relaxed = router.admission.settings
        router.admission.settings = dataclasses.replace(relaxed, max_waiting=-1)
        async with aiohttp.ClientSession() as session:
            request = asyncio.create_task(post(session, gw.url, chat("std", "patient"), "patient"))
            await wait_until(lambda: sum(router.admission.depth(key).values()) == 1)
            # Queued for 3× Envoy's message timeout: without the override Envoy would answer 504.
            await asyncio.sleep(3 * MESSAGE_TIMEOUT_S)
            assert not request.done()
            router.admission.settings = relaxed
            status, body = await request
        assert status == 200, body
        assert gw.decisions["patient"].queued_ms >= 3000 * MESSAGE_TIMEOUT_S
    finally:
        if gateway is not None:
            await gateway.stop()
        await fleet.stop()
