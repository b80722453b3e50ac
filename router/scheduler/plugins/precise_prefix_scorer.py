"""Prefers the endpoint whose KV cache really holds the longest prefix of the prompt, as its
own KV events report (InferenceTrafficPolicy `prefixCache.mode: precise`).

The prompt is rendered and tokenized as the model server does, cut into its KV blocks and
hashed like its block hashes, then looked up in the precise index. A pod that has published
no events (or whose stream we lost) is judged by the estimate index instead, so precise mode
never routes worse than estimate mode. Picks are still recorded in the estimate index, which
keeps that fallback warm.
"""

from __future__ import annotations

from ...precise_index import PreciseIndex
from ...tokenization import ChatTemplate, Tokenizer, prompt_block_hashes
from ..types import Candidate, SchedulingRequest
from .prefix_scorer import PrefixScorer

DEFAULT_BLOCK_SIZE = 16  # vLLM's KV block size, used until a pod's events say otherwise


class PrecisePrefixScorer:
    name = "precise-prefix"

    def __init__(self, index: PreciseIndex, estimate: PrefixScorer, tokenizer: Tokenizer,
                 template: ChatTemplate | None = None) -> None:
        self.index = index
        self.estimate = estimate
        self.tokenizer = tokenizer
        self.template = template or ChatTemplate()

    def token_hashes(self, request: SchedulingRequest, block_size: int, scheme: str = "vllm") -> list[int]:
        key = ("token_hashes", block_size, scheme)
        hashes = request.extras.get(key)
        if hashes is None:
            body = request.body if request.body is not None else {"prompt": request.prompt}
            ids = self.tokenizer.encode(self.template.render(body))
            hashes = request.extras[key] = prompt_block_hashes(ids, block_size, scheme)
        return hashes  # type: ignore[return-value]

    def _hashing(self, address: str) -> tuple[int, str]:
        """How the pod cuts and hashes its blocks (vLLM or SGLang)."""
        return self.index.block_size.get(address, DEFAULT_BLOCK_SIZE), self.index.scheme.get(address, "vllm")

    def score(self, request: SchedulingRequest, candidates: list[Candidate]) -> list[float] | None:
        estimated = self.estimate.score(request, candidates)
        known = [c.endpoint.address for c in candidates if self.index.known(c.endpoint.address)]
        if not known:
            return estimated
        hashes = self.token_hashes(request, *self._hashing(known[0]))
        if not hashes:
            return estimated
        matched = self.index.match(hashes, known)
        total = len(hashes)
        request.extras["precise_matched"] = matched
        return [matched[a] / total if (a := c.endpoint.address) in matched
                else (estimated[i] if estimated is not None else 0.0)
                for i, c in enumerate(candidates)]

    def picked(self, request: SchedulingRequest, chosen: Candidate) -> None:
        self.estimate.picked(request, chosen)
        matched = request.extras.get("precise_matched")
        if isinstance(matched, dict) and chosen.endpoint.address in matched:
            hashes = self.token_hashes(request, *self._hashing(chosen.endpoint.address))
            request.prefix_hit_ratio = matched[chosen.endpoint.address] / len(hashes) if hashes else None
