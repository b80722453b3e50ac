"""Drops saturated pods from the candidates, unless every pod is saturated.

Saturated, as admission defines it: a queue longer than `max_waiting` (the scraped queue plus
what this router sent since that scrape and has not seen finish, which the scrape cannot show
yet), KV use above `max_kv`, or no fresh metrics. Scorers weigh load against prefix affinity; this filter is the
hard limit that keeps a hot prefix from piling onto one pod however well it matches.
"""

from __future__ import annotations

from ..types import Candidate, SchedulingRequest


class SaturationFilter:
    name = "saturation"

    def __init__(self, max_waiting: float = 5.0, max_kv: float = 0.8) -> None:
        self.max_waiting = max_waiting
        self.max_kv = max_kv

    def filter(self, request: SchedulingRequest, candidates: list[Candidate]) -> list[Candidate]:
        max_waiting, max_kv = self.max_waiting, self.max_kv
        # Sent since the scrape and not finished: min(since_scrape, in_flight) — a request that
        # already finished is in neither the pod's queue nor ours.
        return [c for c in candidates
                if c.metrics is not None
                and c.metrics.waiting + (c.since_scrape if c.since_scrape < c.in_flight else c.in_flight) <= max_waiting
                and c.metrics.kv_usage <= max_kv]
