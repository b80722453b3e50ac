"""Prefers the endpoint that already holds the longest prefix of the prompt (estimate mode),
and records each pick so the next turn of a conversation finds it."""

from __future__ import annotations

from ...prefix_index import PrefixIndex, block_hashes
from ..types import Candidate, SchedulingRequest


class PrefixScorer:
    name = "prefix"

    def __init__(self, index: PrefixIndex) -> None:
        self.index = index

    def hashes(self, request: SchedulingRequest) -> list[int]:
        if request.prefix_hashes is None:
            request.prefix_hashes = block_hashes(request.prompt, request.target_model)
        return request.prefix_hashes

    def matched(self, request: SchedulingRequest) -> tuple[dict[str, int], int] | None:
        """The leading blocks of the prompt each pod holds (only pods that hold some), and the
        prompt's blocks; None when no pod holds any of it (no preference). The cost scorer
        reads this rather than score(), saving a pass over every candidate."""
        hashes = self.hashes(request)
        if not hashes:
            return None
        matched = self.index.match(hashes)  # only the pods that hold a prefix of it
        request.extras["prefix_matched"] = matched
        return (matched, len(hashes)) if matched else None

    def score(self, request: SchedulingRequest, candidates: list[Candidate]) -> list[float] | None:
        found = self.matched(request)
        if found is None:
            return None
        get, total = found[0].get, found[1]
        return [get(c.endpoint.address, 0) / total for c in candidates]

    def picked(self, request: SchedulingRequest, chosen: Candidate) -> None:
        hashes = self.hashes(request)
        if hashes:
            matched = request.extras.get("prefix_matched") or {}
            request.prefix_hit_ratio = matched.get(chosen.endpoint.address, 0) / len(hashes)
            self.index.record(chosen.endpoint.address, hashes, request.output_tokens())
