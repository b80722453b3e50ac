"""Scores each pod by the predicted cost of serving the request there, in prefill tokens.

    cost(pod) = ahead(pod) + (1 + backlog) * (own(pod) + overflow(pod))

- `own`: the prompt tokens the pod would have to compute, given the prefix it holds (absolute
  tokens, not a match ratio: saving 2,000 tokens of a long prompt outweighs saving 100 of a
  short one, whatever the ratios).
- `ahead`: the prefill work in front of this request's first token: the uncached tokens this
  router sent the pod within the pool's time to first token (`first_token_time.py`, from the
  TTFT histograms the pods export) and has not seen finish, or, if more, the pod's scraped
  waiting queue (times the uncached tokens of the requests it has been sent) plus what was sent
  since that scrape. The scraped queue alone misses what the pod has admitted and is still
  prefilling (it shows nothing waiting), and the router records a pick at once, so the next
  request of a burst already sees it, and sees the prefix the pick left there.
  Requests past their first token are not counted: they decode, which barely slows a step, and
  the KV they hold is `overflow`'s. Counting every request in flight (as this scorer did) ranked
  a pod whose requests were all decoding as busy as one still prefilling: TTFT p90 0.96 s
  against 0.67 s now (`bench/sim_time.py`, 8 seeds), and in an unpressured pool (its first
  20 s) worse than round robin (0.61 s against 0.54 s; now 0.53 s).
- `overflow`: the KV room the request needs (its uncached prompt plus `max_tokens`) beyond what
  the pod has free (its reported capacity × (1 − KV use), less what was sent since the scrape).
  Tokens that do not fit are waited for or preempted and recomputed: work either way.
- `backlog`: the requests queued (in flight, or waiting if more) per pod across the candidates.
  A prefill token computed on a pod delays this request *and every request queued behind it
  there*, so when the pool is idle the model minimises this request's own wait (spread freely), and the busier the pool,
  the more a duplicated prefix costs: a group stays on the pod that holds it, and only moves
  (or gets a second home) when that pod's queue outweighs the whole recomputation.

Every term is counted in tokens the pods report or the router sent, so the model has no
weights to tune. The cheapest pod scores 1, the dearest 0. With no prefix scorer (the default
strategy) `own` is the same on every pod, and the cost ranks queued prefill work and KV room.

Pods are not scaled by a speed learned from their TTFT. That was tried: on identical pods the
TTFT differences are queueing, so the learned factors (0.57–2.0 within one run) outweighed 4×
differences in work ahead, starved the pods that had just been slow and piled onto the others:
TTFT p90 3.22 s against 0.96 s without it (`python -P bench/sim_time.py`, 8 seeds; the bench
cell measured 3.69 s against sglang-router's 1.69 s). A pod that is really slower (another GPU)
needs no factor either: its requests stay waiting longer, which `ahead` counts. On 4 half-speed
and 4 full-speed pods: TTFT p90 0.97 s (6.39 s with the factor), against 10.5 s for round
robin and 12.6 s for sglang-router's policy (`bench/sim_time.py --workload mixed-pods`, 8 seeds).
"""

from __future__ import annotations

import time
from typing import Protocol, Sequence

from ...prefix_index import CHARS_PER_TOKEN
from ..types import Candidate, SchedulingRequest
from .first_token_time import FirstTokenTime
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


class CostScorer:
    name = "cost"

    def __init__(self, prefix: PrefixMatch | None = None, clock=time.monotonic) -> None:
        self.prefix = prefix
        self.clock = clock
        # address → (time, tokens) of the sends since its scrape or within the first-token time
        self._sent: dict[str, list[tuple[float, int]]] = {}
        self._mean: dict[str, float] = {}                     # address → mean uncached tokens per request
        self._first_token: dict[str, FirstTokenTime] = {}     # pool → its time to first token

    def costs(self, request: SchedulingRequest, candidates: list[Candidate]) -> list[float]:
        # One pass per candidate, every per-pod fact looked up once: at 1,000 pods this loop is
        # the scheduler's cost (bench/overhead_scheduling.py).
        total = prompt_tokens(request)
        ratios = self.prefix.score(request, candidates) if self.prefix is not None else None
        own = [total * (1.0 - r) for r in ratios] if ratios is not None else [float(total)] * len(candidates)
        addresses = [c.endpoint.address for c in candidates]
        request.extras["cost_own"] = dict(zip(addresses, own))
        out_tokens = request.output_tokens()
        now = self.clock()
        horizon = now - SENT_HORIZON_S
        first_token = self.first_token(request.pool)
        observe = first_token.observe
        sent_of, mean_of = self._sent.get, self._mean.get
        # (metrics, tokens sent since its scrape, tokens sent within the first-token time) per candidate
        rows: list[tuple[object, float, float]] = []
        queued = 0.0
        for c, address in zip(candidates, addresses):
            m = c.metrics
            if m is None:
                rows.append((None, 0.0, 0.0))
                queued += max(0.0, float(c.in_flight))
                continue
            observe(c)
            sent = sent_of(address)
            unscraped = prefilling = count = 0.0
            if sent:
                recent = now - first_token.seconds
                oldest = m.updated_at if m.updated_at < recent else recent
                if oldest < horizon:
                    oldest = horizon
                if sent[0][0] <= oldest:
                    sent[:] = [x for x in sent if x[0] > oldest]
                for at, t in sent:
                    if at > m.updated_at:
                        unscraped += t
                        count += 1.0
                # newest first, and no more of them than are still in flight: a request that
                # has finished is not prefilling, however long first tokens take elsewhere
                left = c.in_flight
                for at, t in reversed(sent):
                    if left <= 0 or at <= recent:
                        break
                    prefilling += t
                    left -= 1
            rows.append((m, unscraped, prefilling))
            q = m.waiting + count
            queued += q if q > c.in_flight else float(c.in_flight)
        backlog = queued / len(candidates)
        costs = []
        for address, mine, (m, unscraped, prefilling) in zip(addresses, own, rows):
            if m is None:
                costs.append(STALE_AHEAD + mine)
                continue
            ahead = m.waiting * mean_of(address, mine) + unscraped
            if prefilling > ahead:
                ahead = prefilling
            overflow = 0.0
            if m.kv_blocks and m.block_size:
                room = m.kv_blocks * m.block_size * (1.0 - m.kv_usage) - unscraped
                overflow = max(0.0, mine + out_tokens - room)
            costs.append(ahead + (1.0 + backlog) * (mine + overflow))
        return costs

    def first_token(self, pool: str) -> FirstTokenTime:
        """The pool's time to first token: pools serve different models at different speeds."""
        ftt = self._first_token.get(pool)
        if ftt is None:
            if len(self._first_token) > 4096:  # pools come and go: forget them all rarely
                self._first_token.clear()
            ftt = self._first_token[pool] = FirstTokenTime()
        return ftt

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
        self._mean[address] = MEAN_DECAY * self._mean.get(address, tokens) + (1 - MEAN_DECAY) * tokens
