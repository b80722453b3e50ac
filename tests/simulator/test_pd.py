"""SGLang prefill/decode disaggregation: decode needs its prefill."""

from __future__ import annotations

import asyncio
import random

from inference_gateway.simulator.testing import TEST_MODEL as MODEL, read_sse


async def pd_pair(start_sim):
    prefill = await start_sim(runtime="sglang", role="prefill", bootstrap_port=0)
    decode = await start_sim(runtime="sglang", role="decode", pd_wait_s=0.5)
    return prefill, decode


def pd_body(prefill, room: int | None = None, **extra):
    body = {"model": MODEL, "messages": [{"role": "user", "content": "split me across two servers"}],
            "max_tokens": 5, "bootstrap_host": prefill.config.host,
            "bootstrap_port": prefill.config.bootstrap_port,
            "bootstrap_room": room if room is not None else random.randrange(2**63)}
    body.update(extra)
    return body


async def post(http, url, body):
    async with http.post(url, json=body) as r:
        return r.status, await r.json()


async def test_decode_without_bootstrap_fails_clearly(start_sim, http):
    _, decode = await pd_pair(start_sim)
    status, data = await post(http, decode.base_url + "/v1/chat/completions",
                              {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
    assert status == 400 and "bootstrap" in data["message"]


async def test_decode_without_prefill_times_out_clearly(start_sim, http):
    prefill, decode = await pd_pair(start_sim)
    status, data = await post(http, decode.base_url + "/v1/chat/completions", pd_body(prefill))
    assert status == 500 and "never arrived" in data["message"]


async def test_both_at_once_in_either_order(start_sim, http):
    prefill, decode = await pd_pair(start_sim)
    for decode_first in (True, False):
        body = pd_body(prefill)
        urls = [decode.base_url, prefill.base_url] if decode_first else [prefill.base_url, decode.base_url]
        results = await asyncio.gather(*(post(http, u + "/v1/chat/completions", body) for u in urls))
        by_url = dict(zip(urls, results))
        d_status, d = by_url[decode.base_url]
        p_status, p = by_url[prefill.base_url]
        assert d_status == 200 and d["usage"]["completion_tokens"] == 5
        assert p_status == 200 and p["usage"]["completion_tokens"] == 1  # the router discards it


async def test_decode_waits_for_late_prefill_streaming(start_sim, http):
    prefill, decode = await pd_pair(start_sim)
    body = pd_body(prefill, stream=True)

    async def decode_stream():
        async with http.post(decode.base_url + "/v1/chat/completions", json=body) as r:
            assert r.status == 200
            return await read_sse(r)

    events_task = asyncio.create_task(decode_stream())
    await asyncio.sleep(0.3)  # the decode is already waiting
    status, _ = await post(http, prefill.base_url + "/v1/chat/completions", {**body, "stream": False})
    assert status == 200
    events = await events_task
    assert events[-1] == "[DONE]"
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1]).strip()


async def test_room_with_a_different_prompt_is_refused(start_sim, http):
    prefill, decode = await pd_pair(start_sim)
    body = pd_body(prefill)
    fields = {k: body[k] for k in ("bootstrap_host", "bootstrap_port", "bootstrap_room")}
    status, _ = await post(http, prefill.base_url + "/generate", {"text": "another prompt", **fields})
    assert status == 200
    status, data = await post(http, decode.base_url + "/v1/chat/completions", body)
    assert status == 500 and "different prompt" in data["message"]


async def test_generate_pd(start_sim, http):
    prefill, decode = await pd_pair(start_sim)
    b = pd_body(prefill)
    fields = {k: b[k] for k in ("bootstrap_host", "bootstrap_port", "bootstrap_room")}
    gen = {"text": "the same prompt on both", "sampling_params": {"max_new_tokens": 4}, **fields}
    (ds, d), (ps, _) = await asyncio.gather(post(http, decode.base_url + "/generate", gen),
                                            post(http, prefill.base_url + "/generate", gen))
    assert ds == 200 and ps == 200 and d["meta_info"]["completion_tokens"] == 4
