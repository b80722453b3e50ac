"""Drops saturated pods from the candidates, unless every pod is saturated.

Saturated by the one rule admission uses too (router/saturation.py), counting as waiting what
this router sent since the pod's last scrape and has not seen finish. Scorers weigh load
against prefix affinity; this filter is the hard limit that keeps a hot prefix from piling
onto one pod however well it matches.
"""

from __future__ import annotations

from ...saturation import MAX_KV, MAX_WAITING, saturated
from ..types import Candidate, SchedulingRequest


class SaturationFilter:
    name = "saturation"

    def __init__(self, max_waiting: float = MAX_WAITING, max_kv: float = MAX_KV) -> None:
        self.max_waiting = max_waiting
        self.max_kv = max_kv

    def filter(self, request: SchedulingRequest, candidates: list[Candidate]) -> list[Candidate]:
        max_waiting, max_kv = self.max_waiting, self.max_kv
        # Sent since the scrape and not finished: min(since_scrape, in_flight) — a request that
        # already finished is in neither the pod's queue nor ours.
        return [c for c in candidates
                if not saturated(c.metrics, c.since_scrape if c.since_scrape < c.in_flight else c.in_flight,
                                 max_waiting, max_kv)]
