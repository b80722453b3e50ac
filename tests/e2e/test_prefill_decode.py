"""The seed's SGLang prefill/decode shape through the real Envoy and our router: simulated
prefill and decode pods, where a decode pod can only answer if its prefill pod computed the
same bootstrap room (so a router that does not deliver to both shows up as failures)."""

from __future__ import annotations

import json

import aiohttp
import pytest

from inference_gateway.cli.demo import send
from inference_gateway.cli.sim_fleet import SimFleet

from support.env import EXAMPLES, free_port, gateway_yaml, write_manifests

pytestmark = pytest.mark.envoy

ROLE = "rolebasedgroup.workloads.x-k8s.io/role"
BACKEND = {"alibabacloud.com/inference_backend": "sglang"}
# The seed's kvTransfer.bootstrapPort is 34000; the test picks a free one and writes it into the
# seed's manifests, so concurrent runs on one machine cannot collide on a fixed port.
SEED_BOOTSTRAP_PORT = 34000
BOOTSTRAP_PORT = free_port("127.0.0.20")


def requests(name: str) -> dict:
    return json.loads((EXAMPLES / "requests" / f"{name}.json").read_text())


@pytest.fixture
async def pd_fleets():
    port = free_port("127.0.0.20")
    prefill = SimFleet(count=2, labels={**BACKEND, ROLE: "prefill"}, name_prefix="sglang-prefill", runtime="sglang",
                       first_ip=20, port=port, extra_args=["--role", "prefill", "--bootstrap-port", str(BOOTSTRAP_PORT)])
    decode = SimFleet(count=2, labels={**BACKEND, ROLE: "decode"}, name_prefix="sglang-decode", runtime="sglang",
                      first_ip=22, port=port, extra_args=["--role", "decode"])
    await prefill.start()
    try:
        await decode.start()
        yield prefill, decode
    finally:
        await decode.stop()
        await prefill.stop()


async def pd_gateway(tmp_path, start_gateway, fleets, variant: str, pods: str | None = None, **router):
    prefill, decode = fleets
    port = free_port()
    d = tmp_path / "manifests"
    d.mkdir()
    pool = (EXAMPLES / variant / "sglang-pd.yaml").read_text().replace("targetPortNumber: 8000",
                                                                       f"targetPortNumber: {prefill.port}").replace(
        f"bootstrapPort: {SEED_BOOTSTRAP_PORT}", f"bootstrapPort: {BOOTSTRAP_PORT}")
    write_manifests(d, "pool.yaml", pool)
    write_manifests(d, "gateway.yaml", gateway_yaml(port))
    write_manifests(d, "pods.yaml", pods if pods is not None else prefill.pods_yaml() + "---\n" + decode.pods_yaml())
    return await start_gateway(d, port, **router)


async def prompt_tokens(session: aiohttp.ClientSession, pod) -> float:
    async with session.get(f"http://{pod.address}/metrics") as resp:
        text = await resp.text()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("sglang:prompt_tokens_total"))


@pytest.mark.parametrize("variant, delivery", [("prefix-cache", "mirror"), ("load-aware", "mirror"),
                                               ("prefix-cache", "router")])
async def test_seed_pd_manifests_serve_the_seed_requests(tmp_path, start_gateway, pd_fleets, variant, delivery):
    prefill, decode = pd_fleets
    gw = await pd_gateway(tmp_path, start_gateway, pd_fleets, variant, pd_delivery=delivery)
    url = gw.url + "/v1/chat/completions"
    async with aiohttp.ClientSession() as session:
        before = sum([await prompt_tokens(session, p) for p in prefill.pods])
        results = [await send(session, url, requests(n)) for n in ("hello", "round1", "round2")]
        after = sum([await prompt_tokens(session, p) for p in prefill.pods])
    for result in results:
        assert result["status"] == 200, result["text"]
        d = gw.decisions[result["id"]]
        assert d.pod in {p.name for p in decode.pods}            # the client got the decode pod's answer
        assert d.prefill_pod in {p.name for p in prefill.pods}   # and a prefill pod computed the prompt
    assert results[1]["chunks"] > 1 and results[1]["usage"]["completion_tokens"] == 24
    assert after > before  # the prefill pods really received the prompts (Envoy's mirror)
    if variant == "prefix-cache":
        r1, r2 = gw.decisions[results[1]["id"]], gw.decisions[results[2]["id"]]
        assert (r1.prefill_pod, r1.pod) == (r2.prefill_pod, r2.pod), "the conversation must stick to both pods"


async def test_decode_fails_without_its_prefill(pd_fleets):
    """The control: the same body sent only to a decode pod (no prefill got the room) fails."""
    prefill, decode = pd_fleets
    body = {**requests("hello"), "bootstrap_host": prefill.pods[0].ip, "bootstrap_port": BOOTSTRAP_PORT,
            "bootstrap_room": 12345, "max_tokens": 2}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://{decode.pods[0].address}/v1/chat/completions", json=body) as resp:
            assert resp.status >= 400
            assert "prefill" in (await resp.text()).lower()


async def test_no_prefill_pod_is_a_clear_503(tmp_path, start_gateway, pd_fleets):
    prefill, decode = pd_fleets
    gw = await pd_gateway(tmp_path, start_gateway, pd_fleets, "prefix-cache", pods=decode.pods_yaml())
    async with aiohttp.ClientSession() as session:
        async with session.post(gw.url + "/v1/chat/completions", json=requests("hello")) as resp:
            assert resp.status == 503
            error = (await resp.json())["error"]
    assert error["message"] == "no ready prefill endpoint in pool default/qwen-inference-pool"
