"""Streamed requests asking for usage, through real Envoy: their responses never pass through
the router, and the token histograms still count them (from the pod's own metrics)."""

from __future__ import annotations

import asyncio
import json
import re

import aiohttp
import pytest

from inference_gateway.cli.sim_fleet import SimFleet

from support.env import EXAMPLES, VLLM_LABELS, free_port, gateway_yaml, write_manifests

pytestmark = pytest.mark.envoy


async def test_streamed_usage_is_counted_without_the_router_in_the_response_path(tmp_path, start_gateway):
    fleet = SimFleet(count=1, labels=VLLM_LABELS, port=free_port("127.1.0.2"))
    fleet.pods[0].ip = "127.1.0.2"  # this suite's loopback range
    await fleet.start()
    try:
        port = free_port()
        d = tmp_path / "manifests"
        d.mkdir()
        pool = (EXAMPLES / "prefix-cache" / "vllm-single.yaml").read_text()
        write_manifests(d, "pool.yaml", pool.replace("targetPortNumber: 8000", f"targetPortNumber: {fleet.port}"))
        write_manifests(d, "gateway.yaml", gateway_yaml(port))
        write_manifests(d, "pods.yaml", fleet.pods_yaml())
        gw = await start_gateway(d, port)
        router = gw.gateway.router
        response_messages = []
        for name in ("_on_response_headers", "_on_response_body"):
            original = getattr(router.service, name)
            setattr(router.service, name, lambda *a, _o=original: response_messages.append(a) or _o(*a))
        model = json.loads((EXAMPLES / "requests" / "hello.json").read_text())["model"]
        usage = []
        async with aiohttp.ClientSession() as session:
            for i in range(3):
                body = {"model": model, "messages": [{"role": "user", "content": f"count {i} " * (i + 1)}],
                        "max_tokens": 5 + i, "stream": True, "stream_options": {"include_usage": True}}
                async with session.post(gw.url + "/v1/chat/completions", json=body) as resp:
                    assert resp.status == 200
                    async for line in resp.content:
                        if line.startswith(b"data: {") and b'"usage":{' in line:
                            usage.append(json.loads(line[6:])["usage"])
            assert len(usage) == 3
            want = (sum(u["prompt_tokens"] for u in usage), sum(u["completion_tokens"] for u in usage))
            metrics = f"http://127.0.0.1:{router.settings.metrics_port}/metrics"
            got = None
            for _ in range(100):  # the pod's increase arrives with a scrape (read once a second)
                async with session.get(metrics) as resp:
                    text = await resp.text()
                sums = [re.search(rf'inference_model_{k}_tokens_sum{{model_name="{model}",'
                                  rf'target_model_name="{model}"}} (\S+)', text) for k in ("input", "output")]
                got = tuple(float(m.group(1)) if m else 0.0 for m in sums)
                if got == want and not router.state.in_flight:
                    break
                await asyncio.sleep(0.1)
        assert got == want
        assert response_messages == []
        # The request's books closed when Envoy ended the ext_proc stream, with no response phase.
        assert router.state.in_flight == {}
    finally:
        await fleet.stop()
