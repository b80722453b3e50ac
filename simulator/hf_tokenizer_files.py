"""Write a small, self-made Hugging Face tokenizer directory (no download, no `tokenizers`).

Third-party clients insist on a Hugging Face tokenizer: sglang-router loads one from the
worker's `model_path` (and tries the Hub when that path does not exist locally), and
inference-perf needs one to build prompts. This writes `tokenizer.json` (a WordLevel
vocabulary with a whitespace pre-tokenizer) and `tokenizer_config.json` (with the
simulator's chat template) into a directory; start the simulator with `--model DIR` so the
clients find it locally.

    python -P -m inference_gateway.simulator.hf_tokenizer_files /tmp/sim-tokenizer
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .text_gen import FILLER_WORDS

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
SPECIAL = ["[UNK]", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]


def build_vocab(size: int = 8000) -> dict[str, int]:
    vocab: dict[str, int] = {}
    for w in [*SPECIAL, *FILLER_WORDS]:
        vocab.setdefault(w, len(vocab))
    # Pronounceable synthetic words, so decoded random ids read like text.
    cons, vows = "bcdfghklmnprstvz", "aeiou"
    i = 0
    while len(vocab) < size:
        a, b, c = i % 16, (i // 16) % 5, (i // 80) % 16
        d = (i // 1280) % 5
        vocab.setdefault(cons[a] + vows[b] + cons[c] + vows[d] + (str(i // 6400) if i >= 6400 else ""), len(vocab))
        i += 1
    return vocab


def write_tokenizer_dir(path: str | Path, vocab_size: int = 8000, model_max_length: int = 32768) -> Path:
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    vocab = build_vocab(vocab_size)
    added = [{"id": vocab[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for t in SPECIAL]
    tokenizer = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": None, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": None,
        "decoder": None, "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"},
    }
    (out / "tokenizer.json").write_text(json.dumps(tokenizer))
    (out / "tokenizer_config.json").write_text(json.dumps({
        "model_max_length": model_max_length, "tokenizer_class": "PreTrainedTokenizerFast",
        "unk_token": "[UNK]", "eos_token": "<|end|>", "chat_template": CHAT_TEMPLATE,
    }))
    return out


if __name__ == "__main__":
    print(write_tokenizer_dir(sys.argv[1] if len(sys.argv) > 1 else "sim-tokenizer"))
