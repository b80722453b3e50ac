"""Deterministic, fast tokenizers.

`SimpleTokenizer` needs no vocabulary file: text is cut into pieces (a word with its leading
space, a run of digits, a run of punctuation, a run of whitespace), long pieces into chunks of
`CHUNK` characters, and each piece's id is a hash of its text. English comes out at roughly
4 characters per token, like real BPE vocabularies, and because a piece never spans a
boundary between a word and punctuation or newline, the tokens of a chat-template prefix are
a prefix of the tokens of the longer conversation (what prefix caching relies on).

`HFTokenizer` loads a Hugging Face `tokenizer.json` through the optional `tokenizers`
package, imported only when asked for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

import xxhash

# A word with an optional single leading space; digits; punctuation runs; whitespace runs.
_PIECE = re.compile(r" ?[A-Za-z\u00c0-\uffff]+| ?[0-9]+| ?[^\sA-Za-z0-9\u00c0-\uffff]+|\s+")
CHUNK = 7  # characters per token inside a long piece: ~4 chars/token on English prose


class Tokenizer(Protocol):
    vocab_size: int

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...


@dataclass
class SimpleTokenizer:
    """Hash-based tokenizer; `decode` works for ids this tokenizer produced."""

    vocab_size: int = 151_936  # Qwen's, so ids look plausible
    _cache: dict[str, int] = field(default_factory=dict, repr=False)
    _text: dict[int, str] = field(default_factory=dict, repr=False)

    def _id(self, piece: str) -> int:
        tid = self._cache.get(piece)
        if tid is None:
            tid = xxhash.xxh32_intdigest(piece.encode()) % self.vocab_size
            if len(self._cache) < 200_000:  # bounded memo
                self._cache[piece] = tid
                self._text.setdefault(tid, piece)
        return tid

    def encode(self, text: str) -> list[int]:
        get = self._cache.get  # the memo makes the common case one dict lookup per piece
        ids: list[int] = []
        for piece in _PIECE.findall(text):
            tid = get(piece)
            if tid is None:
                if len(piece) > CHUNK:
                    ids.extend(self._id(piece[i : i + CHUNK]) for i in range(0, len(piece), CHUNK))
                    continue
                tid = self._id(piece)
            ids.append(tid)
        return ids

    def decode(self, ids: list[int]) -> str:
        return "".join(self._text.get(i, "") for i in ids)


class HFTokenizer:
    """A real vocabulary from a `tokenizer.json` (needs the optional `tokenizers` package)."""

    def __init__(self, path: str) -> None:
        from tokenizers import Tokenizer as _HF  # optional dependency, imported lazily

        self._tok = _HF.from_file(path)
        self.vocab_size = self._tok.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        return self._tok.decode(ids)


def load_tokenizer(path: str | None) -> Tokenizer:
    """The simple tokenizer, or a Hugging Face one when a tokenizer.json path is given."""
    return HFTokenizer(path) if path else SimpleTokenizer()
