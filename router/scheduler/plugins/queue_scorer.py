"""Prefers the endpoint with the shortest model-server waiting queue."""

from __future__ import annotations

from ..types import Candidate, SchedulingRequest
from .normalize import inverse_minmax

STALE_QUEUE = 1e6  # unknown queue: treat as longer than any real one


class QueueScorer:
    name = "queue"

    def score(self, request: SchedulingRequest, candidates: list[Candidate]) -> list[float] | None:
        return inverse_minmax([c.metrics.waiting if c.metrics else STALE_QUEUE for c in candidates])
