"""Through the real Envoy, the router and simulated pods: what translation decides about
manifests is what the traffic does (issues 10 and 14).

- A parentRef whose port matches no listener carries no traffic (it is NoMatchingParent).
- A pods file that goes blank while an editor saves it keeps serving its pods; a removed pods
  file takes them away.
Reloads are driven by calling the provider directly, so nothing waits on its polling.
"""

from __future__ import annotations

import json

import aiohttp
import pytest
import yaml

from inference_gateway.cli.sim_fleet import SimFleet

from support.env import EXAMPLES, VLLM_LABELS, free_port, gateway_yaml, write_manifests

pytestmark = pytest.mark.envoy

CHAT = {"model": "/models/Qwen3-32B", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}
COMPLETION = {"model": "/models/Qwen3-32B", "prompt": "hi", "max_tokens": 3}


@pytest.fixture
async def fleet():
    fleet = SimFleet(count=2, labels=VLLM_LABELS, subnet="127.3.0", first_ip=2, port=free_port("127.3.0.2"))
    await fleet.start()
    yield fleet
    await fleet.stop()


def _manifests(port: int) -> str:
    """The seed's Gateway, its route narrowed to chat, and a completions route whose parentRef
    names port 9999, where the Gateway has no listener."""
    docs = list(yaml.safe_load_all(gateway_yaml(port)))
    route = next(d for d in docs if d["kind"] == "HTTPRoute")
    route["spec"]["rules"][0]["matches"] = [{"path": {"type": "Exact", "value": "/v1/chat/completions"}}]
    wrong = json.loads(json.dumps(route))
    wrong["metadata"]["name"] = "wrong-port"
    wrong["spec"]["parentRefs"] = [{"name": "inference-gateway", "port": 9999}]
    wrong["spec"]["rules"][0]["matches"] = [{"path": {"type": "Exact", "value": "/v1/completions"}}]
    return yaml.safe_dump_all([*docs, wrong], sort_keys=False)


async def _post(session: aiohttp.ClientSession, url: str, body: dict) -> int:
    async with session.post(url, json=body) as resp:
        await resp.read()
        return resp.status


async def test_manifest_edits_reach_the_traffic_as_translated(tmp_path, start_gateway, fleet):
    port = free_port()
    d = tmp_path / "manifests"
    d.mkdir()
    pool = (EXAMPLES / "prefix-cache" / "vllm-single.yaml").read_text()
    write_manifests(d, "pool.yaml", pool.replace("targetPortNumber: 8000", f"targetPortNumber: {fleet.port}"))
    write_manifests(d, "gateway.yaml", _manifests(port))
    pods = write_manifests(d, "pods.yaml", fleet.pods_yaml())
    gw = await start_gateway(d, port)
    reload = lambda: gw.gateway.apply(gw.gateway.provider.load())  # noqa: E731

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        assert await _post(session, gw.url + "/v1/chat/completions", CHAT) == 200
        # The wrong-port route is not attached: Envoy has no route for its path.
        assert await _post(session, gw.url + "/v1/completions", COMPLETION) == 404
        assert [p.name for p in gw.gateway.translation.problems if p.kind == "HTTPRoute"] == ["wrong-port"]

        pods.write_text("")  # an editor's save: truncate, then write
        reload()
        assert await _post(session, gw.url + "/v1/chat/completions", CHAT) == 200
        assert len(gw.gateway.table.pools["default/qwen-inference-pool"].endpoints) == 2

        pods.unlink()  # really removed: no pods, a clear 503
        reload()
        assert len(gw.gateway.table.pools["default/qwen-inference-pool"].endpoints) == 0
        assert await _post(session, gw.url + "/v1/chat/completions", CHAT) == 503
