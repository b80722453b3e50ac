"""Engine behaviour seen over HTTP: prefix cache, KV pressure, queueing, metrics."""

from __future__ import annotations

import asyncio
import time

from prometheus_client.parser import text_string_to_metric_families

from inference_gateway.simulator.testing import TEST_MODEL as MODEL, read_sse

WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike".split()


def text(seed: int, n_words: int) -> str:
    return " ".join(f"{WORDS[(seed * 7 + i) % len(WORDS)]}{(seed * 31 + i) % 97}" for i in range(n_words))


async def scrape(http, sim) -> dict[str, float]:
    async with http.get(sim.base_url + "/metrics") as r:
        body = await r.text()
    return {s.name: s.value for fam in text_string_to_metric_families(body) for s in fam.samples
            if not s.name.endswith(("_bucket", "_created"))}


async def ttft_and_usage(http, sim, prompt: str, max_tokens: int = 2) -> tuple[float, dict]:
    body = {"model": MODEL, "prompt": prompt, "max_tokens": max_tokens, "stream": True,
            "stream_options": {"include_usage": True}}
    t0 = time.monotonic()
    first = None
    usage = None
    async with http.post(sim.base_url + "/v1/completions", json=body) as r:
        async for raw in r.content:
            if raw.startswith(b"data: {") and first is None:
                first = time.monotonic() - t0
            if b'"usage"' in raw:
                usage = __import__("json").loads(raw[6:])["usage"]
    assert first is not None and usage is not None
    return first, usage


async def test_repeated_prompt_is_cached_and_faster(start_sim, http):
    sim = await start_sim(profile_prefill_token_s=200e-6)
    prompt = text(1, 300)
    cold, u1 = await ttft_and_usage(http, sim, prompt)
    warm, u2 = await ttft_and_usage(http, sim, prompt)
    assert u1["prompt_tokens_details"]["cached_tokens"] == 0
    cached = u2["prompt_tokens_details"]["cached_tokens"]
    assert cached % 16 == 0 and u2["prompt_tokens"] - 16 <= cached < u2["prompt_tokens"]
    assert warm < cold / 3, (cold, warm)
    m = await scrape(http, sim)
    assert m["vllm:prefix_cache_hits_total"] == cached
    assert m["vllm:prefix_cache_queries_total"] == u1["prompt_tokens"] + u2["prompt_tokens"]


async def test_chat_turns_share_a_prefix(sim, http):
    history = [{"role": "system", "content": text(2, 60)}, {"role": "user", "content": text(3, 40)}]
    async with http.post(sim.base_url + "/v1/chat/completions",
                         json={"model": MODEL, "messages": history, "max_tokens": 8}) as r:
        first = await r.json()
    history += [{"role": "assistant", "content": first["choices"][0]["message"]["content"]},
                {"role": "user", "content": "and then?"}]
    async with http.post(sim.base_url + "/v1/chat/completions",
                         json={"model": MODEL, "messages": history, "max_tokens": 8}) as r:
        second = await r.json()
    cached = second["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert cached >= first["usage"]["prompt_tokens"] - 16


async def test_kv_pressure_evicts_lru_and_shows_usage(start_sim, http):
    sim = await start_sim(profile_kv_capacity_tokens=1024)
    a, b, c = text(10, 250), text(11, 250), text(12, 250)  # ~500 tokens each
    for p in (a, b, c):
        await ttft_and_usage(http, sim, p)
    _, ub = await ttft_and_usage(http, sim, b)
    _, ua = await ttft_and_usage(http, sim, a)
    assert ub["prompt_tokens_details"]["cached_tokens"] > 0  # B was used more recently than A
    assert ua["prompt_tokens_details"]["cached_tokens"] == 0  # A was evicted for C
    assert (await scrape(http, sim))["vllm:kv_cache_usage_perc"] == 0.0  # idle: cached blocks are free
    # While a long request runs, its blocks are in use.
    task = asyncio.create_task(ttft_and_usage(http, sim, text(13, 160), max_tokens=200))
    await asyncio.sleep(0.1)
    m = await scrape(http, sim)
    assert m["vllm:kv_cache_usage_perc"] > 0.15 and m["vllm:gpu_cache_usage_perc"] == m["vllm:kv_cache_usage_perc"]
    assert m["vllm:num_requests_running"] == 1
    await task


async def test_queueing_beyond_max_num_seqs(start_sim, http):
    sim = await start_sim(profile_max_num_seqs=2, profile_step_fixed_s=0.01)
    body = {"model": MODEL, "prompt": "queue me", "max_tokens": 15}

    async def one():
        async with http.post(sim.base_url + "/v1/completions", json=body) as r:
            return await r.json()

    tasks = [asyncio.create_task(one()) for _ in range(6)]
    await asyncio.sleep(0.05)
    m = await scrape(http, sim)
    assert m["vllm:num_requests_running"] == 2
    assert m["vllm:num_requests_waiting"] == 4
    results = await asyncio.gather(*tasks)
    assert all(r["usage"]["completion_tokens"] == 15 for r in results)
    m = await scrape(http, sim)
    assert m["vllm:num_requests_waiting"] == 0 and m["vllm:request_success_total"] == 6


async def test_preemption_when_kv_runs_out(start_sim, http):
    # 4 requests of ~130 prompt tokens growing by 150 tokens each cannot all fit in 512 slots.
    sim = await start_sim(profile_kv_capacity_tokens=512, profile_step_fixed_s=0.001, profile_decode_seq_s=0.0)

    async def one(i):
        async with http.post(sim.base_url + "/v1/completions",
                             json={"model": MODEL, "prompt": text(20 + i, 60), "max_tokens": 150}) as r:
            return await r.json()

    results = await asyncio.gather(*(one(i) for i in range(4)))
    assert all(r["usage"]["completion_tokens"] == 150 for r in results)
    assert (await scrape(http, sim))["vllm:num_preemptions_total"] > 0


async def test_vllm_metric_names_and_labels(sim, http):
    async with http.post(sim.base_url + "/v1/completions", json={"model": MODEL, "prompt": "hi", "max_tokens": 3}) as r:
        await r.read()
    async with http.get(sim.base_url + "/metrics") as r:
        body = await r.text()
    samples = {s.name: s for fam in text_string_to_metric_families(body) for s in fam.samples}
    for name in ["vllm:num_requests_waiting", "vllm:num_requests_running", "vllm:kv_cache_usage_perc",
                 "vllm:gpu_cache_usage_perc", "vllm:prefix_cache_queries_total", "vllm:prefix_cache_hits_total",
                 "vllm:prompt_tokens_total", "vllm:generation_tokens_total", "vllm:request_success_total",
                 "vllm:time_to_first_token_seconds_count", "vllm:inter_token_latency_seconds_count",
                 "vllm:time_per_output_token_seconds_count", "vllm:e2e_request_latency_seconds_count"]:
        assert name in samples, name
        assert samples[name].labels["model_name"] == MODEL
    info = samples["vllm:cache_config_info"]
    assert info.value == 1 and info.labels["block_size"] == "16"
    assert int(info.labels["num_gpu_blocks"]) == sim.config.profile.kv_capacity_tokens // 16
    assert samples["vllm:generation_tokens_total"].value == 3


async def test_sglang_metric_names(start_sim, http):
    sim = await start_sim(runtime="sglang")
    prompt = text(5, 100)
    for _ in range(2):
        async with http.post(sim.base_url + "/generate",
                             json={"text": prompt, "sampling_params": {"max_new_tokens": 3}}) as r:
            out = await r.json()
    assert out["meta_info"]["cached_tokens"] == out["meta_info"]["prompt_tokens"] - 1  # token-level radix
    m = await scrape(http, sim)
    for name in ["sglang:num_queue_reqs", "sglang:num_running_reqs", "sglang:token_usage",
                 "sglang:cache_hit_rate", "sglang:max_total_num_tokens", "sglang:cached_tokens_total",
                 "sglang:prompt_tokens_total", "sglang:generation_tokens_total",
                 "sglang:time_to_first_token_seconds_count"]:
        assert name in m, name
    assert m["sglang:cached_tokens_total"] == out["meta_info"]["cached_tokens"]
    assert 0.4 < m["sglang:cache_hit_rate"] < 0.6
    assert m["sglang:max_total_num_tokens"] == sim.config.profile.kv_capacity_tokens
