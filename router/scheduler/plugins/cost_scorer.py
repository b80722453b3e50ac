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
from itertools import compress, count, repeat
from operator import is_
from typing import Protocol, Sequence

from ...prefix_index import CHARS_PER_TOKEN
from ..types import Candidate, SchedulingRequest
from .normalize import inverse_minmax
from .pod_speed import PodSpeed

STALE_AHEAD = 1e9          # a pod without fresh metrics: assume it is the busiest
STALE = -1.0               # a stale pod's load in costs(): its cost is not scaled
MEAN_DECAY = 0.9           # weight of the history in each pod's mean uncached tokens per request
SENT_HORIZON_S = 5.0       # a send older than this has surely been scraped (scrapes are 0.1 s apart)


class PrefixMatch(Protocol):
    """A prefix scorer (estimate or precise): share of the prompt each candidate holds."""

    def score(self, request: SchedulingRequest, candidates: list[Candidate]) -> Sequence[float] | None: ...
    def picked(self, request: SchedulingRequest, chosen: Candidate) -> None: ...


def prompt_tokens(request: SchedulingRequest) -> int:
    return max(1, len(request.prompt) // CHARS_PER_TOKEN)


class _Sent:
    """What this router sent one pod, in one record (one lookup per candidate per pick):
    - `tokens`: the uncached tokens of its picks still in flight, oldest first, trimmed to the
      pod's in-flight count (requests are taken to finish in the order they were sent), with
      their sum `total` kept as they come and go (summing per candidate per pick cost ~0.7 µs
      × 1,000 pods);
    - `recent`: (time, tokens) of the sends its last scrape cannot show yet;
    - `mean`: its mean uncached tokens per request."""

    __slots__ = ("tokens", "total", "recent", "mean")

    def __init__(self, mean: float) -> None:
        self.tokens: deque[int] = deque()
        self.total = 0.0  # a float already: costs() reads it for every candidate
        self.recent: list[tuple[float, int]] = []
        self.mean = mean


class CostScorer:
    name = "cost"

    def __init__(self, prefix: PrefixMatch | None = None, clock=time.monotonic) -> None:
        self.prefix = prefix
        self.clock = clock
        self._pods: dict[str, _Sent] = {}
        self.speed = PodSpeed()

    def costs(self, request: SchedulingRequest, candidates: list[Candidate]) -> list[float]:
        # One pass per candidate, every per-pod fact looked up once and nothing built per pod
        # but two lists: at 1,000 pods this loop is the scheduler's cost
        # (bench/overhead_scheduling.py).
        total = prompt_tokens(request)
        whole = float(total)  # a pod's own tokens when it holds none of the prompt
        hits, blocks = self._prefix(request, candidates)
        out_tokens = request.output_tokens()
        horizon = self.clock() - SENT_HORIZON_S
        sent_to = self._pods.get
        aheads: list[float] = []  # the work ahead of the request (a stale pod: its whole cost)
        loads: list[float] = []   # its own tokens plus the KV room it lacks (STALE: no metrics)
        queued = 0.0
        for c in candidates:
            address = c.endpoint.address
            if hits is None:
                mine = whole
            else:
                held = hits(address)
                mine = whole if held is None else total * (1.0 - held / blocks)  # as _row()
            pod = sent_to(address)
            n = c.in_flight
            flying = 0.0
            if pod is not None:
                tokens = pod.tokens
                while len(tokens) > n:
                    pod.total -= tokens.popleft()
                flying = pod.total
            m = c.metrics
            if m is None:
                aheads.append(STALE_AHEAD + mine)
                loads.append(STALE)
                queued += max(0.0, float(n))
                continue
            sending = float(n)  # compared as floats below (mixed int/float arithmetic is slower)
            pending = count = 0.0
            mean = mine
            if pod is not None:
                mean = pod.mean
                recent = pod.recent
                if recent:
                    since = m.updated_at if m.updated_at > horizon else horizon
                    if recent[0][0] <= since:
                        recent[:] = [x for x in recent if x[0] > since]
                    count = float(len(recent))
                    for _, t in recent:
                        pending += t
            waiting = m.waiting
            q = waiting + count
            queued += q if q > sending else sending
            ahead = waiting * mean + pending
            aheads.append(flying if flying > ahead else ahead)
            if m.kv_blocks and m.block_size:
                overflow = mine + out_tokens - (m.kv_blocks * m.block_size * (1.0 - m.kv_usage) - pending)
                loads.append(mine + overflow if overflow > 0.0 else mine)
            else:
                loads.append(mine)
        scale = 1.0 + queued / len(candidates)  # 1 + the backlog per pod
        speed = self.speed.factors(candidates)
        request.extras["cost_rows"] = (candidates, hits, blocks, aheads, loads)
        if STALE in loads:
            return [a if load == STALE else f * (a + scale * load) for f, a, load in zip(speed, aheads, loads)]
        return [f * (a + scale * load) for f, a, load in zip(speed, aheads, loads)]

    def _prefix(self, request: SchedulingRequest, candidates: list[Candidate]):
        """What costs() needs for each candidate's own tokens, total * (1 - share of the prompt
        it holds): a lookup address → blocks held (None: holds none), and the prompt's blocks.
        The estimate index's matches serve directly (no pass over the candidates); any other
        prefix scorer's shares serve as blocks of one."""
        if self.prefix is None:
            return None, 1
        matched = getattr(self.prefix, "matched", None)
        if matched is not None:
            found = matched(request)
            return (None, 1) if found is None else (found[0].get, found[1])
        ratios = self.prefix.score(request, candidates)
        if ratios is None:
            return None, 1
        return dict(zip([c.endpoint.address for c in candidates], ratios)).get, 1

    def score(self, request: SchedulingRequest, candidates: list[Candidate]) -> list[float] | None:
        costs = self.costs(request, candidates)
        request.extras["cost"] = costs
        return inverse_minmax(costs)

    def picked(self, request: SchedulingRequest, chosen: Candidate) -> None:
        if self.prefix is not None:
            self.prefix.picked(request, chosen)
        address = chosen.endpoint.address
        tokens, wait = self._row(request, chosen)
        pod = self._pods.get(address)
        if pod is None:
            pod = self._pods[address] = _Sent(tokens)
        pod.recent.append((self.clock(), tokens))
        pod.tokens.append(tokens)
        pod.total += tokens
        pod.mean = MEAN_DECAY * pod.mean + (1 - MEAN_DECAY) * tokens
        self.speed.predicted(address, wait)

    @staticmethod
    def _row(request: SchedulingRequest, chosen: Candidate) -> tuple[int, float]:
        """The chosen pod's uncached tokens and predicted wait (work ahead + its own), from the
        costs() that scored it (its row found by identity, at C speed; else by address)."""
        rows = request.extras.get("cost_rows")
        total = prompt_tokens(request)
        if not isinstance(rows, tuple):
            return total, total
        candidates, hits, blocks, aheads, loads = rows
        i = next(compress(count(), map(is_, candidates, repeat(chosen))), None)
        if i is None:
            address = chosen.endpoint.address
            found = [j for j, c in enumerate(candidates) if c.endpoint.address == address]
            if not found:
                return 0, 0
            i = found[-1]
        held = None if hits is None else hits(chosen.endpoint.address)
        mine = float(total) if held is None else total * (1.0 - held / blocks)  # as costs()
        tokens = int(mine)
        return tokens, (tokens if loads[i] == STALE else aheads[i] + mine)

    def _in_flight_tokens(self, c: Candidate) -> float:
        pod = self._pods[c.endpoint.address]
        tokens = pod.tokens
        while len(tokens) > c.in_flight:
            pod.total -= tokens.popleft()
        return pod.total
