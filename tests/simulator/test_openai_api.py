"""OpenAI surface: shapes, usage, errors, streaming."""

from __future__ import annotations

import json
import time

from inference_gateway.simulator.testing import TEST_MODEL as MODEL, read_sse


async def test_chat_completion_non_streaming(sim, http):
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Hello there, how are you?"}], "max_tokens": 7}
    async with http.post(sim.base_url + "/v1/chat/completions", json=body) as r:
        assert r.status == 200
        data = await r.json()
    assert data["object"] == "chat.completion" and data["model"] == MODEL
    choice = data["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["message"]["content"].strip()
    assert choice["finish_reason"] == "length"
    u = data["usage"]
    assert u["completion_tokens"] == 7 and u["prompt_tokens"] > 5
    assert u["total_tokens"] == u["prompt_tokens"] + 7
    assert u["prompt_tokens_details"] == {"cached_tokens": 0}


async def test_completion_and_max_completion_tokens(sim, http):
    async with http.post(sim.base_url + "/v1/completions", json={"model": MODEL, "prompt": "Once upon", "max_tokens": 3}) as r:
        data = await r.json()
    assert data["object"] == "text_completion" and data["usage"]["completion_tokens"] == 3
    assert data["choices"][0]["text"].strip()
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 4}
    async with http.post(sim.base_url + "/v1/chat/completions", json=body) as r:
        assert (await r.json())["usage"]["completion_tokens"] == 4


async def test_errors_have_vllm_shape(sim, http):
    async with http.post(sim.base_url + "/v1/completions", json={"model": "nope", "prompt": "x"}) as r:
        assert r.status == 404
        err = (await r.json())["error"]
    assert err["type"] == "NotFoundError" and err["code"] == 404 and "nope" in err["message"]
    assert set(err) == {"message", "type", "param", "code"}
    async with http.post(sim.base_url + "/v1/chat/completions", data=b"{not json") as r:
        assert r.status == 400
        assert (await r.json())["error"]["code"] == 400
    too_long = {"model": MODEL, "prompt": "x", "max_tokens": 10_000}
    async with http.post(sim.base_url + "/v1/completions", json=too_long) as r:
        assert r.status == 400 and "maximum context length" in (await r.json())["error"]["message"]


async def test_streaming_is_incremental_with_usage(start_sim, http):
    sim = await start_sim(profile_step_fixed_s=0.02)
    body = {"model": MODEL, "messages": [{"role": "user", "content": "stream please"}], "max_tokens": 6,
            "stream": True, "stream_options": {"include_usage": True}}
    arrivals: list[float] = []
    async with http.post(sim.base_url + "/v1/chat/completions", json=body) as r:
        assert r.headers["Content-Type"].startswith("text/event-stream")
        events = []
        async for raw in r.content:
            if raw.startswith(b"data: "):
                arrivals.append(time.monotonic())
                events.append(raw)
    parsed = ["[DONE]" if x.strip() == b"data: [DONE]" else json.loads(x[6:]) for x in events]
    assert parsed[-1] == "[DONE]"
    usage_chunk = parsed[-2]
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["completion_tokens"] == 6
    content = [c for c in parsed[:-2] if c["choices"][0]["delta"].get("content")]
    assert parsed[0]["choices"][0]["delta"]["role"] == "assistant"
    assert len(content) >= 3  # tokens arrive in several events, not one blob
    assert content[-1]["choices"][0]["finish_reason"] == "length"
    assert arrivals[-1] - arrivals[1] >= 0.05  # spread over the engine's steps (20 ms each)


async def test_streaming_without_usage(sim, http):
    body = {"model": MODEL, "prompt": "abc", "max_tokens": 2, "stream": True}
    async with http.post(sim.base_url + "/v1/completions", json=body) as r:
        events = await read_sse(r)
    assert events[-1] == "[DONE]"
    assert all("usage" not in e for e in events[:-1])
    assert "".join(e["choices"][0]["text"] for e in events[:-1]).strip()


async def test_models_health_tokenize(sim, http):
    async with http.get(sim.base_url + "/health") as r:
        assert r.status == 200
    async with http.get(sim.base_url + "/v1/models") as r:
        assert [m["id"] for m in (await r.json())["data"]] == [MODEL]
    async with http.post(sim.base_url + "/tokenize", json={"model": MODEL, "prompt": "Hello world"}) as r:
        data = await r.json()
    assert data["count"] == len(data["tokens"]) == 2


async def test_bad_input_gets_json_4xx_as_vllm_answers(sim, http):
    """What vLLM's FastAPI app answers, never aiohttp's plain text or a 500."""
    url = sim.base_url
    cases = [
        ("POST", "/v1/chat/completions", {"model": MODEL, "messages": [1, 2]}, 400, "messages.0"),
        ("POST", "/v1/chat/completions", {"model": MODEL, "messages": [{"role": "user", "content": 5}]}, 400,
         "messages.0.content"),
        ("POST", "/v1/completions", {"model": MODEL, "prompt": "x", "stream_options": "yes"}, 400, "stream_options"),
        ("POST", "/v1/completions", {"model": MODEL, "prompt": "x", "stream": "false"}, 400, "stream"),
        ("POST", "/v1/completions", {"model": MODEL, "prompt": "a\ud800b"}, 400, None),
    ]
    for method, path, body, status, param in cases:
        raw = json.dumps(body).encode()  # ensure_ascii: the lone surrogate travels as \ud800
        async with http.request(method, url + path, data=raw, headers={"content-type": "application/json"}) as r:
            assert r.status == status, (body, await r.text())
            err = (await r.json())["error"]
            assert err["code"] == status and err["param"] == param
    for method, path, status in (("GET", "/nope", 404), ("DELETE", "/v1/chat/completions", 405)):
        async with http.request(method, url + path) as r:
            assert r.status == status and r.content_type == "application/json"
            assert "detail" in await r.json()
