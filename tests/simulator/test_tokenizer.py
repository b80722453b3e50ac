"""Tokenizers and the chat template."""

from __future__ import annotations

import importlib.util

import pytest

from inference_gateway.simulator.chat_template import render_messages
from inference_gateway.simulator.hf_tokenizer_files import write_tokenizer_dir
from inference_gateway.simulator.tokenizer import HFTokenizer, SimpleTokenizer

PROSE = ("It was the best of times, it was the worst of times, it was the age of wisdom, it was the age "
         "of foolishness. Machine learning models require significant computational resources.")


def test_simple_tokenizer_is_deterministic_and_about_four_chars_per_token():
    a, b = SimpleTokenizer(), SimpleTokenizer()
    assert a.encode(PROSE) == b.encode(PROSE)
    assert 3.5 < len(PROSE) / len(a.encode(PROSE)) < 5
    assert a.decode(a.encode(PROSE)) == PROSE


def test_chat_turns_render_as_token_prefixes():
    tok = SimpleTokenizer()
    turn1 = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there!"}]
    turn2 = turn1 + [{"role": "assistant", "content": "Hello."}, {"role": "user", "content": "More?"}]
    p1 = tok.encode(render_messages(turn1, add_generation_prompt=False))
    p2 = tok.encode(render_messages(turn2))
    assert p2[: len(p1)] == p1
    gen1 = tok.encode(render_messages(turn1))  # with the generation prompt
    assert p2[: len(gen1)] == gen1  # the assistant turn starts exactly where the prompt ended


@pytest.mark.skipif(importlib.util.find_spec("tokenizers") is None, reason="optional `tokenizers` not installed")
def test_hf_tokenizer_json(tmp_path):
    tok = HFTokenizer(str(write_tokenizer_dir(tmp_path) / "tokenizer.json"))
    assert tok.encode("the model") == tok.encode("the model")
