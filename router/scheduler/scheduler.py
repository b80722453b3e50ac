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
        self.prefix_index = prefix_index if prefix_index is not None else PrefixIndex()  # an empty index is falsy
        self.profiles = profiles or default_profiles(self.prefix_index)
        for profile in self.profiles.values():  # scorers that keep per-pod terms hear of each scrape
            for scorer, _ in profile.scorers:
                on_update = getattr(scorer, "on_update", None)
                if on_update is not None:
                    state.on_update.append(on_update)
        # pool key → (its endpoints, their Candidates, (candidate, address) pairs to refresh)
        self._candidates: dict[str, tuple[tuple[Endpoint, ...], list[Candidate], list[tuple[Candidate, str]]]] = {}

    def candidates(self, pool: Pool, since_scrape: bool = True) -> list[Candidate]:
        """The pool's endpoints with their current state. The Candidate objects are reused
        from request to request (scheduling is synchronous); only their values are refreshed
        here, the hot loop at 1,000 endpoints (EndpointState.fresh() inlined). Only the
        saturation filter reads `since_scrape`: profiles without filters skip its lookup."""
        cached = self._candidates.get(pool.key)
        if cached is None or cached[0] is not pool.endpoints:
            if len(self._candidates) > 4096:
                self._candidates.clear()
            fresh = [Candidate(ep, None) for ep in pool.endpoints]
            cached = self._candidates[pool.key] = (pool.endpoints, fresh, [(c, c.endpoint.address) for c in fresh])
        out = cached[1]
        oldest = time.monotonic() - self.state.stale_after
        state = self.state
        metrics, in_flight, since, committed = (state.metrics.get, state.in_flight.get, state.since_scrape.get,
                                                state.committed.get)
        for c, a in cached[2]:
            m = metrics(a)
            c.metrics = None if m is None or m.updated_at < oldest or m.updated_at == 0.0 else m
            c.in_flight = in_flight(a, 0)
            c.committed = committed(a, 0.0)
        if since_scrape:
            for c, a in cached[2]:
                c.since_scrape = since(a, 0)
        return out

    def pick(self, pool: Pool, request: SchedulingRequest) -> Endpoint:
        profile: Profile = self.profiles[pool.strategy]
        candidates = self.candidates(pool, since_scrape=bool(profile.filters))
        if not candidates:
            what = f"{pool.role} endpoint" if pool.role else "endpoint"
            raise unavailable(f"no ready {what} in pool {pool.namespace}/{pool.name}")
        request.tokens_per_running = self.state.step_cost.tokens_per_running()
        down = self.state.down
        if down:  # unreachable pods are out, whatever they score (unless every pod is)
            candidates = [c for c in candidates if c.endpoint.address not in down] or candidates
        for f in profile.filters:
            candidates = f.filter(request, candidates) or candidates  # never filter to nothing
        if len(candidates) == 1:
            chosen = candidates[0]
            self._picked(profile, request, chosen)
            return chosen.endpoint
        totals: list[float] | None = None
        debug = log.is_enabled_for(10)
        breakdown: dict[str, list[float]] = {}
        for scorer, weight in profile.scorers:
            scores = scorer.score(request, candidates)
            if scores is None:  # no preference: adding a constant changes no ranking
                continue
            if debug:
                breakdown[scorer.name] = [round(s, 3) for s in scores]
            if totals is None:  # the first scorer's weighted scores are the totals so far
                totals = list(scores) if weight == 1.0 else [weight * s for s in scores]
            else:
                totals = [t + weight * s for t, s in zip(totals, scores)]
        if totals is None:
            totals = [0.0] * len(candidates)
        chosen = profile.picker.pick(candidates, totals)
        if debug:
            log.debug("scored", pool=pool.key, pods=[c.endpoint.name for c in candidates], scores=breakdown,
                      totals=[round(t, 3) for t in totals], chosen=chosen.endpoint.name)
        self._picked(profile, request, chosen)
        return chosen.endpoint

    def _picked(self, profile: Profile, request: SchedulingRequest, chosen: Candidate) -> None:
        if chosen.metrics is not None:
            self.prefix_index.set_capacity(
                chosen.endpoint.address, capacity_from_cache(chosen.metrics.kv_capacity))
        for scorer, _ in profile.scorers:
            picked = getattr(scorer, "picked", None)
            if picked is not None:
                picked(request, chosen)
