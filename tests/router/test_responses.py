import json

from inference_gateway.router.responses import ResponseProcessor


def sse(*events: dict) -> bytes:
    return b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"


def test_json_response_model_renamed_back_and_usage_read():
    p = ResponseProcessor("qwen-v2", "qwen")
    body = json.dumps({"id": "x", "model": "qwen-v2", "choices": [],
                       "usage": {"prompt_tokens": 7, "completion_tokens": 3}}).encode()
    new = json.loads(p.json_body(body))
    assert new["model"] == "qwen" and (p.usage.prompt_tokens, p.usage.completion_tokens) == (7, 3)


def test_json_response_without_rewrite_is_left_alone():
    p = ResponseProcessor("m", "m")
    assert p.json_body(b'{"model": "m", "usage": {"prompt_tokens": 1, "completion_tokens": 2}}') is None
    assert p.usage.completion_tokens == 2
    assert p.json_body(b"not json") is None


def test_sse_rewrite_survives_lines_split_across_chunks():
    p = ResponseProcessor("qwen-v2", "qwen")
    stream = sse({"model": "qwen-v2", "choices": [{"delta": {"content": "hi"}}]},
                 {"model": "qwen-v2", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 9}})
    out = b""
    for i in range(0, len(stream), 7):  # tiny chunks: every line is split
        out += p.sse_chunk(stream[i:i + 7], end=i + 7 >= len(stream)) or b""
    assert b"qwen-v2" not in out
    assert out == stream.replace(b'"model": "qwen-v2"', b'"model": "qwen"')
    assert (p.usage.prompt_tokens, p.usage.completion_tokens) == (5, 9)


def test_sse_without_rewrite_passes_chunks_unchanged_and_finds_usage():
    p = ResponseProcessor("m", "m")
    stream = sse({"model": "m", "choices": []}, {"model": "m", "usage": {"prompt_tokens": 2, "completion_tokens": 4}})
    cut = stream.index(b"usage") + 2  # split inside the usage line
    assert p.sse_chunk(stream[:cut], False) is None
    assert p.sse_chunk(stream[cut:], True) is None
    assert p.usage.completion_tokens == 4


def test_compact_json_form_is_rewritten_too():
    p = ResponseProcessor("a", "b")
    assert p.sse_chunk(b'data: {"model":"a","x":1}\n\n', True) == b'data: {"model":"b","x":1}\n\n'
