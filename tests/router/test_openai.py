import pytest

from inference_gateway.router.errors import GatewayError
from inference_gateway.router.openai import parse_request, prompt_text


def test_chat_prompt_renders_turns_in_order_so_history_is_a_prefix():
    turn1 = {"messages": [{"role": "user", "content": "hi"}]}
    turn2 = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
                          {"role": "user", "content": [{"type": "text", "text": "more"}]}]}
    assert prompt_text(turn2).startswith(prompt_text(turn1))
    assert "more" in prompt_text(turn2)


def test_completions_prompt():
    assert prompt_text({"prompt": "abc"}) == "abc"
    assert prompt_text({"prompt": ["a", "b"]}) == "ab"


def test_parse_reads_model_and_stream():
    r = parse_request(b'{"model": "m", "stream": true, "prompt": "x"}')
    assert (r.model, r.stream, r.prompt) == ("m", True, "x")


@pytest.mark.parametrize("raw", [b"nope", b"[]", b'{"model": ""}', b'{"model": 3}', b"{}", b"\xff"])
def test_bad_bodies_are_400(raw):
    with pytest.raises(GatewayError) as err:
        parse_request(raw)
    assert err.value.status == 400


@pytest.mark.parametrize("raw, param", [
    (b'{"model": "m", "messages": [1, 2]}', "messages[0]"),
    (b'{"model": "m", "messages": []}', "messages"),
    (b'{"model": "m", "messages": [{"content": "no role"}]}', "messages[0].role"),
    (b'{"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": 3}]}]}',
     "messages[0].content[0].text"),
    (b'{"model": "m", "prompt": {"a": 1}}', "prompt"),
    (b'{"model": "m", "prompt": "x", "stream": "false"}', "stream"),
    (b'{"model": "m", "prompt": "x", "stream_options": "yes"}', "stream_options"),
    (b'{"model": "m", "prompt": "x", "stream_options": {"include_usage": "yes"}}', "stream_options.include_usage"),
    (b'{"model": "m", "prompt": "x", "max_tokens": 0}', "max_tokens"),
    (b'{"model": "m", "prompt": "x", "max_tokens": 1.5}', "max_tokens"),
    (b'{"model": "m", "prompt": "x", "n": 129}', "n"),
    (b'{"model": "m", "prompt": "x", "temperature": 2.5}', "temperature"),
    (b'{"model": "m", "prompt": "x", "temperature": true}', "temperature"),
    (b'{"model": "m", "prompt": "x", "top_p": -1}', "top_p"),
    (b'{"model": "m", "prompt": "x", "stop": 5}', "stop"),
    (b'{"model": "a\\r\\nb", "prompt": "x"}', "model"),
    (b'{"model": "a\\u0000b", "prompt": "x"}', "model"),
    (b'{"model": "' + b"m" * 300 + b'", "prompt": "x"}', "model"),
    (b'{"model": ["m"], "prompt": "x"}', "model"),
])
def test_fields_are_checked_and_the_error_names_the_param(raw, param):
    with pytest.raises(GatewayError) as err:
        parse_request(raw)
    assert err.value.status == 400 and err.value.param == param, err.value.message
    assert param.split("[")[0].split(".")[0] in err.value.message


@pytest.mark.parametrize("raw", [
    b'{"model": "m", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",  # the parser's recursion bound
    b'{"model": "m", "x": ' + b"[" * 65 + b"]" * 65 + b"}",            # ours (64)
    rb'{"model": "\ud800", "prompt": "x"}',                               # a lone surrogate
    b'{"model": "m", "prompt": "\xed\xa0\x80"}',                         # a surrogate in raw UTF-8
])
def test_hostile_json_is_400_not_an_exception(raw):
    with pytest.raises(GatewayError) as err:
        parse_request(raw)
    assert err.value.status == 400


def test_valid_shapes_pass_and_unknown_fields_are_kept():
    for raw in (b'{"model": "m", "prompt": [1, 2, 3], "logprobs": 2, "echo": true}',
                b'{"model": "m", "prompt": ["a", "b"], "stream": false}',
                b'{"model": "m", "messages": [{"role": "user", "content": null}], "logprobs": true, "top_logprobs": 3,'
                b' "tools": [{"type": "function", "function": {"name": "f"}}], "vendor_field": {"a": [1]}}'):
        r = parse_request(raw)
        assert r.model == "m"
    assert parse_request(b'{"model": "m", "prompt": "x", "extra": 1}').body["extra"] == 1
    assert parse_request(b'{"model": "m", "prompt": "x", "stream": true}').stream is True
