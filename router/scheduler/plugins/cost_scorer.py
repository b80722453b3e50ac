"""Scores each pod by the predicted cost of serving the request there, in prefill tokens.

    cost(pod) = ahead(pod) + (1 + backlog) * (own(pod) + overflow(pod))

- `own`: the prompt tokens the pod would have to compute, given the prefix it holds (absolute
  tokens, not a match ratio: saving 2,000 tokens of a long prompt outweighs saving 100 of a
  short one, whatever the ratios).
- `ahead`: the work queued in front of it: the uncached tokens of the requests this router sent
  there and has not seen finish, or, if more, the pod's scraped waiting queue (times the uncached
  tokens of the requests it has been sent) plus what was sent since that scrape. The scraped
  queue alone misses a burst the pod has admitted into its batch (it shows nothing waiting while
  that prefill is still ahead), which left new groups placed by scrape timing (2 to 4 groups
  per pod where 3 each was possible); the router's own count is sglang-router's load signal
  too. The router records a pick at once, so the next request of a burst already sees it, and
  sees the prefix the pick left there.
- `overflow`: the KV room the request needs (its uncached prompt plus `max_tokens`) beyond what
  the pod has free (its reported capacity × (1 − KV use), less what was sent since the scrape).
  Tokens that do not fit are waited for or preempted and recomputed: work either way.
- `backlog`: the requests queued (in flight, or waiting if more) per pod across the candidates. A prefill token computed on a
  pod delays this request *and every request queued behind it there*, so when the pool is
  idle the model minimises this request's own wait (spread freely), and the busier the pool,
  the more a duplicated prefix costs: a group stays on the pod that holds it, and only moves
  (or gets a second home) when that pod's queue outweighs the whole recomputation.

Every term is counted in tokens the pods report or the router sent, so the model has no
weights to tune. Each pod's cost is then scaled by its speed relative to the pool's (seconds
per predicted token, learned from the TTFT histogram the pod exports: `pod_speed.py`), so a
slower pod costs more for the same work. The cheapest pod scores 1, the dearest 0. With no prefix scorer (the default
strategy) `own` is the same on every pod, and the cost ranks queued prefill work and KV room.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Protocol, Sequence

from ...prefix_index import CHARS_PER_TOKEN
from ..types import Candidate, SchedulingRequest
from .normalize import inverse_minmax
from .pod_speed import PodSpeed

STALE_AHEAD = 1e9          # a pod without fresh metrics: assume it is the busiest
MEAN_DECAY = 0.9           # weight of the history in each pod's mean uncached tokens per request
SENT_HORIZON_S = 5.0       # a send older than this has surely been scraped (scrapes are 0.1 s apart)


class PrefixMatch(Protocol):
    """A prefix scorer (estimate or precise): share of the prompt each candidate holds."""

    def score(self, request: SchedulingRequest, candidates: list[Candidate]) -> Sequence[float] | None: ...
    def picked(self, request: SchedulingRequest, chosen: Candidate) -> None: ...


def prompt_tokens(request: SchedulingRequest) -> int:
    return max(1, len(request.prompt) // CHARS_PER_TOKEN)


class CostScorer:
    name = "cost"

    def __init__(self, prefix: PrefixMatch | None = None, clock=time.monotonic) -> None:
        self.prefix = prefix
        self.clock = clock
        # address → uncached tokens of the picks still in flight, oldest first (trimmed to the
        # pod's in-flight count: requests are taken to finish in the order they were sent)
        self._flight: dict[str, deque[int]] = {}
        self._sent: dict[str, list[tuple[float, int]]] = {}  # address → (time, tokens) since its scrape
        self._mean: dict[str, float] = {}                     # address → mean uncached tokens per request
        self.speed = PodSpeed()

    def costs(self, request: SchedulingRequest, candidates: list[Candidate]) -> list[float]:
        total = prompt_tokens(request)
        ratios = self.prefix.score(request, candidates) if self.prefix is not None else None
        own = [total * (1.0 - r) for r in ratios] if ratios is not None else [float(total)] * len(candidates)
        request.extras["cost_own"] = {c.endpoint.address: mine for c, mine in zip(candidates, own)}
        out_tokens = request.output_tokens()
        waiting = [c.metrics.waiting + self._pending_count(c) if c.metrics else 0.0 for c in candidates]
        waiting = [max(q, float(c.in_flight)) for q, c in zip(waiting, candidates)]
        backlog = sum(waiting) / len(candidates)
        speed = self.speed.factors(candidates)
        wait: dict[str, float] = {}
        request.extras["cost_wait"] = wait
        costs = []
        for c, mine, factor in zip(candidates, own, speed):
            m = c.metrics
            if m is None:
                costs.append(STALE_AHEAD + mine)
                continue
            sent = self._pending_tokens(c)
            mean = self._mean.get(c.endpoint.address, mine)
            ahead = m.waiting * mean + sent
            ahead = max(ahead, self._in_flight_tokens(c))
            overflow = 0.0
            if m.kv_blocks and m.block_size:
                room = m.kv_blocks * m.block_size * (1.0 - m.kv_usage) - sent
                overflow = max(0.0, mine + out_tokens - room)
            wait[c.endpoint.address] = ahead + mine
            costs.append(factor * (ahead + (1.0 + backlog) * (mine + overflow)))
        return costs

    def score(self, request: SchedulingRequest, candidates: list[Candidate]) -> list[float] | None:
        costs = self.costs(request, candidates)
        request.extras["cost"] = costs
        return inverse_minmax(costs)

    def picked(self, request: SchedulingRequest, chosen: Candidate) -> None:
        if self.prefix is not None:
            self.prefix.picked(request, chosen)
        address = chosen.endpoint.address
        own = request.extras.get("cost_own")
        tokens = int(own.get(address, 0)) if isinstance(own, dict) else prompt_tokens(request)
        self._sent.setdefault(address, []).append((self.clock(), tokens))
        self._flight.setdefault(address, deque()).append(tokens)
        self._mean[address] = MEAN_DECAY * self._mean.get(address, tokens) + (1 - MEAN_DECAY) * tokens
        wait = request.extras.get("cost_wait")
        self.speed.predicted(address, wait.get(address, tokens) if isinstance(wait, dict) else tokens)

    def _in_flight_tokens(self, c: Candidate) -> float:
        flight = self._flight.get(c.endpoint.address)
        if not flight:
            return 0.0
        while len(flight) > c.in_flight:
            flight.popleft()
        return float(sum(flight))

    def _fresh_sends(self, c: Candidate) -> list[tuple[float, int]]:
        sent = self._sent.get(c.endpoint.address)
        if not sent:
            return []
        since = max(c.metrics.updated_at if c.metrics else 0.0, self.clock() - SENT_HORIZON_S)
        if sent[0][0] <= since:
            sent[:] = [s for s in sent if s[0] > since]
        return sent

    def _pending_tokens(self, c: Candidate) -> float:
        return float(sum(t for _, t in self._fresh_sends(c)))

    def _pending_count(self, c: Candidate) -> float:
        return float(len(self._fresh_sends(c)))
