"""SGLang's native endpoints."""

from __future__ import annotations

from inference_gateway.simulator.testing import read_sse


async def test_info_load_and_health(start_sim, http):
    sim = await start_sim(runtime="sglang")
    for path in ("/server_info", "/get_server_info"):
        async with http.get(sim.base_url + path) as r:
            info = await r.json()
        assert info["max_total_num_tokens"] == sim.config.profile.kv_capacity_tokens
        assert info["disaggregation_mode"] == "null"
    for path in ("/model_info", "/get_model_info"):
        async with http.get(sim.base_url + path) as r:
            assert (await r.json())["is_generation"] is True
    async with http.get(sim.base_url + "/get_load") as r:
        assert (await r.json())["load"] == 0
    async with http.get(sim.base_url + "/health_generate") as r:
        assert r.status == 200
    async with http.post(sim.base_url + "/flush_cache") as r:
        assert r.status == 200


async def test_generate_stream_is_cumulative(start_sim, http):
    sim = await start_sim(runtime="sglang")
    body = {"input_ids": [5, 6, 7, 8], "sampling_params": {"max_new_tokens": 4}, "stream": True}
    async with http.post(sim.base_url + "/generate", json=body) as r:
        events = await read_sse(r)
    assert events[-1] == "[DONE]"
    texts = [e["text"] for e in events[:-1]]
    assert all(texts[i + 1].startswith(texts[i]) for i in range(len(texts) - 1))
    last = events[-2]["meta_info"]
    assert last["completion_tokens"] == 4 and last["finish_reason"]["type"] == "length"
    async with http.post(sim.base_url + "/generate", json={}) as r:
        assert r.status == 400 and (await r.json())["object"] == "error"
