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

    def score(self, request: SchedulingRequest, candidates: list[Candidate]) -> list[float]:
        hashes = self.hashes(request)
        if not hashes:
            return [0.0] * len(candidates)
        matched = self.index.match(hashes, (c.endpoint.address for c in candidates))
        total = len(hashes)
        return [matched[c.endpoint.address] / total for c in candidates]

    def picked(self, request: SchedulingRequest, chosen: Candidate) -> None:
        hashes = self.hashes(request)
        if hashes:
            self.index.record(chosen.endpoint.address, hashes)
