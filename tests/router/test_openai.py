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
