"""One generation request as the engine sees it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class SimRequest:
    """Token bookkeeping follows vLLM V1: each step computes `num_tokens - num_computed_tokens`
    tokens (a prefill chunk, or the one token sampled last step), and when every token is
    computed a new one is sampled. A preempted request keeps its output and recomputes."""

    request_id: str
    prompt_token_ids: list[int]
    max_tokens: int
    arrival_time: float
    # Prefill/decode disaggregation: the prompt's KV came from a prefill server.
    kv_transferred: bool = False
    seed: int = 0  # picks the filler words, so the same prompt gets the same answer
    output_token_ids: list[int] = field(default_factory=list)
    num_computed_tokens: int = 0
    num_cached_tokens: int = 0  # prefix-cache hit when first scheduled (usage.cached_tokens)
    scheduled_once: bool = False
    num_preemptions: int = 0
    first_token_time: float | None = None
    last_token_time: float | None = None
    finish_time: float | None = None
    finish_reason: str | None = None
    error: str | None = None
    aborted: bool = False
    # Set whenever tokens arrive or the request ends; the HTTP writer drains and clears it.
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    kv: Any = None  # owned by the KV cache manager

    @property
    def num_tokens(self) -> int:
        return len(self.prompt_token_ids) + len(self.output_token_ids)

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None or self.error is not None

    def tokens(self, start: int, end: int) -> list[int]:
        """Token ids [start, end) of prompt + output, without copying both lists."""
        p = len(self.prompt_token_ids)
        if end <= p:
            return self.prompt_token_ids[start:end]
        if start >= p:
            return self.output_token_ids[start - p : end - p]
        return self.prompt_token_ids[start:] + self.output_token_ids[: end - p]
