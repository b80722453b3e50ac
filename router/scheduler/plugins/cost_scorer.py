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
weights to tune. The cheapest pod scores 1, the dearest 0. With no prefix scorer (the default
strategy) `own` is the same on every pod, and the cost ranks queued prefill work and KV room.

Pods are not scaled by a speed learned from their TTFT. That was tried: on identical pods the
TTFT differences are queueing, so the learned factors (0.57–2.0 within one run) outweighed 4×
differences in work ahead, starved the pods that had just been slow and piled onto the others:
TTFT p90 2.4 s against 0.8 s without it (`python -P bench/sim_time.py`, 6 seeds; the bench cell
measured 3.69 s against sglang-router's 1.69 s). On a pool of half-speed and full-speed pods
it lost too (4.6 s against 1.05 s): a slow pod keeps its requests in flight longer, so the
router's own in-flight work already steers new requests away from it.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Protocol, Sequence

from ...prefix_index import CHARS_PER_TOKEN
from ..types import Candidate, SchedulingRequest
from .normalize import inverse_minmax

STALE_AHEAD = 1e9          # a pod without fresh metrics: assume it is the busiest
MEAN_DECAY = 0.9           # weight of the history in each pod's mean uncached tokens per request
SENT_HORIZON_S = 5.0       # a send older than this has surely been scraped (scrapes are 0.1 s apart)


class PrefixMatch(Protocol):
    """A prefix scorer (estimate or precise): share of the prompt each candidate holds."""

    def score(self, request: SchedulingRequest, candidates: list[Candidate]) -> Sequence[float] | None: ...
    def picked(self, request: SchedulingRequest, chosen: Candidate) -> None: ...


def prompt_tokens(request: SchedulingRequest) -> int:
    return max(1, len(request.prompt) // CHARS_PER_TOKEN)


class _Flight:
    """The uncached tokens of a pod's picks still in flight, oldest first, with their sum kept
    as they come and go (summing a deque per candidate per pick cost ~0.7 µs × 1,000 pods)."""

    __slots__ = ("tokens", "total")

    def __init__(self) -> None:
        self.tokens: deque[int] = deque()
        self.total = 0


class CostScorer:
    name = "cost"

    def __init__(self, prefix: PrefixMatch | None = None, clock=time.monotonic) -> None:
        self.prefix = prefix
        self.clock = clock
        # address → the picks still in flight (trimmed to the pod's in-flight count: requests
        # are taken to finish in the order they were sent)
        self._flight: dict[str, _Flight] = {}
        self._sent: dict[str, list[tuple[float, int]]] = {}  # address → (time, tokens) since its scrape
        self._mean: dict[str, float] = {}                     # address → mean uncached tokens per request

    def costs(self, request: SchedulingRequest, candidates: list[Candidate]) -> list[float]:
        # One pass per candidate, every per-pod fact looked up once: at 1,000 pods this loop is
        # the scheduler's cost (bench/overhead_scheduling.py).
        total = prompt_tokens(request)
        ratios = self.prefix.score(request, candidates) if self.prefix is not None else None
        own = [total * (1.0 - r) for r in ratios] if ratios is not None else [float(total)] * len(candidates)
        addresses = [c.endpoint.address for c in candidates]
        request.extras["cost_own"] = dict(zip(addresses, own))
        out_tokens = request.output_tokens()
        horizon = self.clock() - SENT_HORIZON_S
        sent_of, mean_of, flights = self._sent.get, self._mean.get, self._flight
        # (metrics, tokens sent since its scrape, in-flight tokens) per candidate
        rows: list[tuple[object, float, float]] = []
        queued = 0.0
        for c, address in zip(candidates, addresses):
            m = c.metrics
            flying = self._in_flight_tokens(c) if address in flights else 0.0
            if m is None:
                rows.append((None, 0.0, flying))
                queued += max(0.0, float(c.in_flight))
                continue
            sent = sent_of(address)
            pending = count = 0.0
            if sent:
                since = m.updated_at if m.updated_at > horizon else horizon
                if sent[0][0] <= since:
                    sent[:] = [x for x in sent if x[0] > since]
                count = float(len(sent))
                for _, t in sent:
                    pending += t
            rows.append((m, pending, flying))
            q = m.waiting + count
            queued += q if q > c.in_flight else float(c.in_flight)
        backlog = queued / len(candidates)
        costs = []
        for mine, (m, sent_tokens, flying) in zip(own, rows):
            if m is None:
                costs.append(STALE_AHEAD + mine)
                continue
            ahead = m.waiting * mean_of(address, mine) + sent_tokens
            if flying > ahead:
                ahead = flying
            overflow = 0.0
            if m.kv_blocks and m.block_size:
                room = m.kv_blocks * m.block_size * (1.0 - m.kv_usage) - sent_tokens
                overflow = max(0.0, mine + out_tokens - room)
            costs.append(ahead + (1.0 + backlog) * (mine + overflow))
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
        flight = self._flight.get(address)
        if flight is None:
            flight = self._flight[address] = _Flight()
        flight.tokens.append(tokens)
        flight.total += tokens
        self._mean[address] = MEAN_DECAY * self._mean.get(address, tokens) + (1 - MEAN_DECAY) * tokens

    def _in_flight_tokens(self, c: Candidate) -> float:
        flight = self._flight[c.endpoint.address]
        tokens = flight.tokens
        while len(tokens) > c.in_flight:
            flight.total -= tokens.popleft()
        return float(flight.total)
