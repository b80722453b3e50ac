"""One scheduling cycle: candidates from the pool → filters → weighted scores → picker."""

from __future__ import annotations

import time

import structlog

from ..endpoint_state import EndpointState
from ..errors import unavailable
from ..prefix_index import PrefixIndex, capacity_from_cache
from ..table import Endpoint, Pool
from .profiles import Profile, default_profiles
from .types import Candidate, SchedulingRequest

log = structlog.get_logger("scheduler")


class Scheduler:
    def __init__(self, state: EndpointState, prefix_index: PrefixIndex | None = None,
                 profiles: dict | None = None) -> None:
        self.state = state
        self.prefix_index = prefix_index or PrefixIndex()
        self.profiles = profiles or default_profiles(self.prefix_index)

    def candidates(self, pool: Pool) -> list[Candidate]:
        now = time.monotonic()
        fresh, in_flight = self.state.fresh, self.state.in_flight
        return [Candidate(ep, fresh(ep.address, now), in_flight.get(ep.address, 0)) for ep in pool.endpoints]

    def pick(self, pool: Pool, request: SchedulingRequest) -> Endpoint:
        candidates = self.candidates(pool)
        if not candidates:
            raise unavailable(f"no ready endpoint in pool {pool.key}")
        profile: Profile = self.profiles[pool.strategy]
        for f in profile.filters:
            candidates = f.filter(request, candidates) or candidates  # never filter to nothing
        totals = [0.0] * len(candidates)
        debug = log.is_enabled_for(10)
        breakdown: dict[str, list[float]] = {}
        for scorer, weight in profile.scorers:
            scores = scorer.score(request, candidates)
            if debug:
                breakdown[scorer.name] = [round(s, 3) for s in scores]
            for i, s in enumerate(scores):
                totals[i] += weight * s
        chosen = profile.picker.pick(candidates, totals)
        if debug:
            log.debug("scored", pool=pool.key, pods=[c.endpoint.name for c in candidates], scores=breakdown,
                      totals=[round(t, 3) for t in totals], chosen=chosen.endpoint.name)
        if chosen.metrics is not None:
            self.prefix_index.set_capacity(
                chosen.endpoint.address, capacity_from_cache(chosen.metrics.kv_blocks, chosen.metrics.block_size))
        for scorer, _ in profile.scorers:
            picked = getattr(scorer, "picked", None)
            if picked is not None:
                picked(request, chosen)
        return chosen.endpoint
