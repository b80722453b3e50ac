"""Deterministic filler output: each generated token is one short English word."""

from __future__ import annotations

from dataclasses import dataclass

from .tokenizer import Tokenizer

FILLER_WORDS = (
    "the model is a simulated server and it writes plain filler text that reads like words "
    "so clients can count tokens while the router learns where each prompt lives best"
).split()


@dataclass
class Filler:
    """Token ids and texts of the filler words under the active tokenizer."""

    ids: list[int]
    texts: dict[int, str]

    @classmethod
    def build(cls, tokenizer: Tokenizer) -> "Filler":
        ids: list[int] = []
        texts: dict[int, str] = {}
        for w in FILLER_WORDS:
            tid = tokenizer.encode(" " + w)[0]  # one token per word (the first, for HF vocabularies)
            if tid not in texts:
                ids.append(tid)
                texts[tid] = tokenizer.decode([tid]) or " " + w
        return cls(ids, texts)

    def token(self, seed: int, index: int) -> int:
        return self.ids[(seed + index) % len(self.ids)]

    def text(self, token_ids: list[int]) -> str:
        return "".join(self.texts.get(t, "") for t in token_ids)
