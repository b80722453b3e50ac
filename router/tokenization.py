"""Turning a request into the token ids a model server will see, for precise prefix matching.

Precise mode looks up the pod's *real* KV blocks, which are keyed by token ids, so the router
must render the chat template and tokenize exactly as the model server does. Both are
configurable: a Hugging Face `tokenizer.json` (the `tokenizers` package, optional) and the
template's two format strings. The defaults match our simulator (`simulator/tokenizer.py` and
`chat_template.py`); the router may not import the simulator, so the scheme is restated here
and tests/test_protocol_agreement.py pins the two to the same ids and hashes.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import xxhash

from .openai import content_text


class Tokenizer(Protocol):
    def encode(self, text: str) -> list[int]: ...


# A word with an optional leading space; digits; punctuation runs; whitespace runs. Long
# pieces are cut every 7 characters; each piece's id is a hash of its text.
_PIECE = re.compile(r" ?[A-Za-z\u00c0-\uffff]+| ?[0-9]+| ?[^\sA-Za-z0-9\u00c0-\uffff]+|\s+")
_CHUNK = 7
_VOCAB = 151_936


class PieceHashTokenizer:
    """The simulator's vocabulary-free tokenizer (~4 characters per token on English)."""

    def __init__(self) -> None:
        self._memo: dict[str, int] = {}

    def _id(self, piece: str) -> int:
        tid = self._memo.get(piece)
        if tid is None:
            tid = xxhash.xxh32_intdigest(piece.encode()) % _VOCAB
            if len(self._memo) < 200_000:
                self._memo[piece] = tid
        return tid

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for piece in _PIECE.findall(text):
            if len(piece) > _CHUNK:
                ids.extend(self._id(piece[i:i + _CHUNK]) for i in range(0, len(piece), _CHUNK))
            else:
                ids.append(self._id(piece))
        return ids


class HFTokenizer:
    """A model's own vocabulary from its `tokenizer.json`."""

    def __init__(self, path: str) -> None:
        from tokenizers import Tokenizer as _HF  # optional: only precise mode with a real vocab

        self._tok = _HF.from_file(path)

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text, add_special_tokens=False).ids


def load_tokenizer(path: str | None) -> Tokenizer:
    return HFTokenizer(path) if path else PieceHashTokenizer()


@dataclass(frozen=True)
class ChatTemplate:
    message: str = "<|{role}|>\n{content}<|end|>\n"
    generation_prompt: str = "<|assistant|>\n"

    def render(self, body: dict[str, Any]) -> str:
        messages = body.get("messages")
        if not isinstance(messages, list):
            prompt = body.get("prompt")
            return "".join(map(str, prompt)) if isinstance(prompt, list) else str(prompt or "")
        parts = [self.message.format(role=m.get("role", "user"), content=content_text(m.get("content")))
                 for m in messages if isinstance(m, dict)]
        parts.append(self.generation_prompt)
        return "".join(parts)


def token_block_hashes(token_ids: Sequence[int], block_size: int) -> list[int]:
    """vLLM-style chained hashes of full blocks: xxh3-64 over the parent hash (8 bytes, big
    endian, zero for the first block) and the block's ids as little-endian uint32."""
    out: list[int] = []
    parent = 0
    for start in range(0, len(token_ids) - block_size + 1, block_size):
        block = token_ids[start:start + block_size]
        parent = xxhash.xxh3_64_intdigest(parent.to_bytes(8, "big") + struct.pack(f"<{block_size}I", *block))
        out.append(parent)
    return out


def sglang_page_hashes(token_ids: Sequence[int], page_size: int) -> list[int]:
    """SGLang-style chained hashes of full pages, as its KV events carry them: SHA-256 over the
    previous page's digest (nothing for the first page) and the page's ids as little-endian
    uint32; the event hash is the digest's first 8 bytes as a signed big-endian int64."""
    out: list[int] = []
    prior = b""
    for start in range(0, len(token_ids) - page_size + 1, page_size):
        h = hashlib.sha256(prior)
        h.update(struct.pack(f"<{page_size}I", *token_ids[start:start + page_size]))
        prior = h.digest()
        out.append(int.from_bytes(prior[:8], "big", signed=True))
    return out


# SGLang announces every page, one token by default: kept whole, the precise index would hold
# one entry per cached token. The router keeps the hashes of about one page in every 16 tokens,
# chosen by hash value so the pod's events and the prompt's lookup pick the same ones without
# knowing positions. A radix tree evicts leaves first, so a pod holding a sampled page holds
# every page before it: matching on samples stays a prefix match, precise to ~16 tokens, with
# 1/16 of the memory and lookups.
SAMPLE_TOKENS = 16


def sample_every(block_size: int) -> int:
    return max(1, SAMPLE_TOKENS // max(1, block_size))


def sampled(hashes: Sequence[int], block_size: int) -> list[int]:
    every = sample_every(block_size)
    return list(hashes) if every == 1 else [h for h in hashes if h % every == 0]


def prompt_block_hashes(token_ids: Sequence[int], block_size: int, scheme: str = "vllm") -> list[int]:
    """The block hashes a pod of this runtime announces for these tokens, as the precise index
    keeps them (SGLang's: sampled)."""
    if scheme == "sglang":
        return sampled(sglang_page_hashes(token_ids, block_size), block_size)
    return token_block_hashes(token_ids, block_size)
