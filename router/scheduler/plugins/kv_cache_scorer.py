"""Prefers the endpoint with the most free KV cache."""

from __future__ import annotations

from ..types import Candidate, SchedulingRequest


class KVCacheScorer:
    name = "kv-cache"

    def score(self, request: SchedulingRequest, candidates: list[Candidate]) -> list[float]:
        return [max(0.0, 1.0 - c.metrics.kv_usage) if c.metrics else 0.0 for c in candidates]
