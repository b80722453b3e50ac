"""Scores each pod by the predicted cost of serving the request there, in prefill tokens.

    cost(pod) = ahead(pod) + (1 + backlog) * (own(pod) + overflow(pod))

- `own`: the prompt tokens the pod would have to compute, given the prefix it holds (absolute
  tokens, not a match ratio: saving 2,000 tokens of a long prompt outweighs saving 100 of a
  short one, whatever the ratios).
- `ahead`: the prefill work in front of this request's first token: the uncached tokens of the
  sends to the pod still before their first token (`pending`: counted from the pod's own TTFT
  histogram `_count`, the first tokens it has produced, so no time window has to be learned),
  or, if more, the pod's scraped waiting queue (times the uncached tokens of the requests it
  has been sent) plus what was sent since that scrape. The scraped queue alone misses what the pod has admitted and is still
  prefilling (it shows nothing waiting), and the router records a pick at once, so the next
  request of a burst already sees it, and sees the prefix the pick left there.
  Requests past their first token are not counted: they decode, which barely slows a step, and
  the KV they hold is `overflow`'s. Counting every request in flight (as this scorer did) ranked
  a pod whose requests were all decoding as busy as one still prefilling: TTFT p90 0.96 s
  against 0.67 s (`bench/sim_time.py`, 8 seeds), and in an unpressured pool (its first 20 s)
  worse than round robin (0.61 s against 0.54 s). Counting a send as pending for the pool's
  learned time to first token (the previous version) split shared-prefix bursts before that
  time was learned (busiest pod 1.17× the mean, 2117 tok/s, against 1.00× and 2182 with the
  count) and on 4 half-speed + 4 full-speed pods gave TTFT p90 0.97 s against 0.86 s.
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
and 4 full-speed pods: TTFT p90 0.86 s (6.39 s with the factor, on an older `ahead`), against 10.5 s for round
robin and 12.6 s for sglang-router's policy (`bench/sim_time.py --workload mixed-pods`, 8 seeds).
"""

from __future__ import annotations

import time
from typing import Protocol, Sequence

from ...prefix_index import CHARS_PER_TOKEN
from ..types import Candidate, SchedulingRequest
from .normalize import inverse_minmax

STALE_AHEAD = 1e9          # a pod without fresh metrics: assume it is the busiest
MEAN_DECAY = 0.9           # weight of the history in each pod's mean uncached tokens per request
SENT_HORIZON_S = 5.0       # sends older than this are forgotten: surely scraped (0.1 s apart),
                           # and a pod with prefill queued that long shows it as waiting


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
        # address → (time, tokens) of the sends within SENT_HORIZON_S
        self._sent: dict[str, list[tuple[float, int]]] = {}
        self._mean: dict[str, float] = {}                     # address → mean uncached tokens per request
        self._picks: dict[str, int] = {}                      # address → sends this router made
        # address → (sends, first tokens the pod had counted) when it last had nothing in flight
        self._base: dict[str, tuple[int, float]] = {}

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
        sent_of, mean_of = self._sent.get, self._mean.get
        # (metrics, tokens sent since its scrape, tokens of the sends still before their first token) per candidate
        rows: list[tuple[object, float, float]] = []
        queued = 0.0
        for c, address in zip(candidates, addresses):
            m = c.metrics
            if m is None:
                rows.append((None, 0.0, 0.0))
                queued += max(0.0, float(c.in_flight))
                continue
            sent = sent_of(address)
            unscraped = prefilling = count = 0.0
            if sent:
                if sent[0][0] <= horizon:
                    sent[:] = [x for x in sent if x[0] > horizon]
                for at, t in sent:
                    if at > m.updated_at:
                        unscraped += t
                        count += 1.0
                # the newest sends are the ones still waiting for their first token
                left = self.pending(address, m, c.in_flight)
                for at, t in reversed(sent):
                    if left <= 0:
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

    def pending(self, address: str, m, in_flight: int) -> int:
        """How many of this router's sends to the pod are still before their first token: the
        sends since the last moment the pod had nothing in flight, less the first tokens its TTFT
        histogram counted since then. That moment resets whatever drifted (first tokens served
        to other clients, requests that failed before theirs); a pod whose counter went back
        restarted. Never more than are in flight: a pod exporting no TTFT histogram counts every
        request in flight as pending."""
        picks = self._picks.get(address, 0)
        base = self._base.get(address)
        if base is None or in_flight <= 0 or m.ttft_count < base[1]:
            base = self._base[address] = (picks - max(0, in_flight), m.ttft_count)
        n = picks - base[0] - int(m.ttft_count - base[1])
        return n if n < in_flight else in_flight

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
        self._picks[address] = self._picks.get(address, 0) + 1
        self._mean[address] = MEAN_DECAY * self._mean.get(address, tokens) + (1 - MEAN_DECAY) * tokens
