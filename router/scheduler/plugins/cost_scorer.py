"""Scores each pod by the predicted cost of serving the request there, in prefill tokens.

    cost(pod) = ahead(pod) + decode(pod) + (1 + backlog) * (own(pod) + overflow(pod))

- `own`: the prompt tokens the pod would have to compute, given the prefix it holds (absolute
  tokens, not a match ratio: saving 2,000 tokens of a long prompt outweighs saving 100 of a
  short one, whatever the ratios). The part of it another pod holds is computed once and then
  serves that prefix's next requests there too, so it is divided by the share of them the pod
  would get (`_Homes`: a prefix seen steadily predicts more of it; a burst or a conversation's
  history predicts nothing).
- `decode`: each request running on a pod lengthens every step by what the pods' own metrics
  say (`request.tokens_per_running`, fitted by `router/step_cost.py`, in prefill tokens), and
  this request would run `max_tokens` steps there: `max_tokens × tokens_per_running × running`.
  That is the inter-token latency the pod's batch pays over the request's life, a persistent
  cost, so it is weighed only where the alternative is a recomputation shared with a prefix's
  next requests (a second home, above). Everywhere else the terms of the first token decide, as
  before: counted for every request, at low load it outweighed a conversation's history by the
  difference of two running requests, and on the bench's h100-8b multi-turn cell (commit
  4b85ddc) our share of prompt tokens cached after the first turn fell from 90.1 % to 86.1 %,
  TTFT p90 1.20× sglang-router's.
  Without it, and without the amortized `own`, one prefix on every request stayed on the few
  pods that held it, whose batches grew (ITL p50 148 ms against round robin's 80 in the bench's
  hot-prefix cell); the bench's hot-prefix cells are the evidence for both (bench/REPORT.md);
  in simulated time (`python -P bench/sim_time.py --workload hot-prefix`) today's machine
  shows no difference between the routers at all (README, Routing). Neither
  term alone did it (measured during development with a temporary override, not a command
  kept here: about half the gain each). The shared-prefix cell is unchanged (86.3 % hit,
  p90 3.04 s).
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
- `fit`: a pod whose promised KV (`committed`: the uncached prompt and output room of every
  request in flight there, booked at each pick and released when it ends) could not also hold
  this request to its end is passed over while another pod can. `overflow` sees only the room
  free at the last scrape, not the room the requests already running will still grow into, so
  without this a pod holding a prefix every request shares kept taking them all until its
  growing requests preempted one another: in simulated time (`python -P bench/sim_time.py
  --workload hot-prefix`, 3 seeds, at commit 3bf1edf) TTFT p90 4.23 s against round robin's
  0.18 s, the busiest pod 4.0× the mean, 29 preemptions; with it 0.35 s, 3.2×, none (the
  bench's hot-prefix cell: 49–54 s before, 0.37–0.39 s after). Where nothing is shared it
  moves little (no shared prefix, 8 seeds: p90 0.74 s against 0.67 s, preemptions 14 against
  20; mixed pods 0.82 s against 0.86 s, none against 5), and the shared-prefix cell is
  unchanged. It counts output room as if every request in flight ran to its end at once (an
  upper bound: the ones started long ago are near done), so it only settles ties of
  feasibility, never ranks.
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

import math
import time
from bisect import bisect_right
from itertools import repeat
from operator import is_
from typing import Protocol, Sequence

from ...endpoint_state import EndpointMetrics
from ...prefix_index import CHARS_PER_TOKEN
from ..types import Candidate, SchedulingRequest
from .normalize import inverse_minmax

STALE_AHEAD = 1e9          # a pod without fresh metrics: assume it is the busiest
STALE = -1.0               # a stale pod's load in costs(): its cost is STALE_AHEAD + its own tokens
UNFIT = 1e8                # added to a pod that cannot hold the request to its end while another can
MEAN_DECAY = 0.9           # weight of the history in each pod's mean uncached tokens per request
# A prefix's recent requests, decaying over PREFIX_RATE_S, stand for its next ones, but only in
# proportion to how long it has been seen, up to PREFIX_RAMP_S: a burst's requests arrive within
# about a second (inference-perf dispatches the shared-prefix cell's 288 requests so, by their
# start times in its raw reports), so it predicts at most a third of itself, while a prefix that
# keeps coming is predicted in full after 3 s. With the ramp as long as the decay (10 s, commit
# 4e62c79) the first seconds of a hot prefix piled onto its first pods (bench/REPORT.md:
# TTFT p90 0.34-0.36 s at 26 req/s against 0.23 s with the ramp).
PREFIX_RATE_S = 10.0
PREFIX_RAMP_S = 3.0
SENT_HORIZON_S = 5.0       # sends older than this are forgotten: surely scraped (0.1 s apart),
                           # and a pod with prefill queued that long shows it as waiting


class PrefixMatch(Protocol):
    """A prefix scorer (estimate or precise): share of the prompt each candidate holds."""

    def score(self, request: SchedulingRequest, candidates: list[Candidate]) -> Sequence[float] | None: ...
    def picked(self, request: SchedulingRequest, chosen: Candidate) -> None: ...


def prompt_tokens(request: SchedulingRequest) -> int:
    return max(1, len(request.prompt) // CHARS_PER_TOKEN)


class _Sends:
    """A pod's recent sends, oldest first: their times and the running total of their tokens, so
    the tokens of the newest k (sent since a scrape, or still before their first token) are one
    subtraction, not a walk over every send of the last SENT_HORIZON_S (at 1,000 pods, walking
    them was most of a pick's cost: bench/overhead_scheduling.py).

    It also counts how many of them are still before their first token (`costs()` reads it
    inline): the sends since the last moment the pod had nothing in flight, less the first
    tokens its TTFT histogram counted since then. That moment resets whatever drifted (first
    tokens served to other clients, requests that failed before theirs); a pod whose counter
    went back restarted. Never more than are in flight: a pod exporting no TTFT histogram counts
    every request in flight as pending."""

    __slots__ = ("times", "ends", "start", "oldest", "picks", "base_picks", "base_count", "mean", "terms",
                 "terms_metrics", "terms_in_flight", "terms_picks")

    def __init__(self, tokens: int) -> None:
        self.times: list[float] = []
        self.ends: list[float] = []   # tokens sent up to and including each send
        self.start = 0.0              # tokens sent before the oldest kept
        self.oldest = math.inf        # times[0], or infinity when none is kept: one compare per pick
        self.picks = 0                # sends this router made to the pod
        # (sends, first tokens the pod had counted) when it last had nothing in flight
        self.base_picks = 0
        self.base_count = -1.0        # < 0: no baseline yet
        self.mean = float(tokens)     # the pod's mean uncached tokens per request (MEAN_DECAY)
        # CostScorer.terms(): the pod's terms that no request changes, and what they were
        # computed from (its scrape, its requests in flight, these sends)
        self.terms = (0.0, 0.0, 0.0, 0.0, 0.0)
        self.terms_metrics: EndpointMetrics | None = None
        self.terms_in_flight = -1   # the pod's requests in flight, as EndpointState counts them
        self.terms_picks = -1

    def add(self, at: float, tokens: int) -> None:
        if not self.times:
            self.oldest = at
        self.times.append(at)
        self.ends.append((self.ends[-1] if self.ends else self.start) + tokens)
        self.picks += 1

    def forget(self, k: int) -> None:
        """Drop the k oldest."""
        if k > 0:
            self.start = self.ends[k - 1]
            del self.times[:k]
            del self.ends[:k]
            self.oldest = self.times[0] if self.times else math.inf


def _name_prefix(request: SchedulingRequest, share: float, homes: int) -> None:
    """Name the prefix the best holders hold (the hash of its last block of the prompt's
    character blocks, as the estimate index cuts them) and how many pods hold it, for `_Homes`."""
    hashes = request.prefix_hashes
    depth = round(share * len(hashes)) if hashes else 0
    if depth > 0:
        request.extras["prefix_key"] = hashes[depth - 1]
        request.extras["prefix_homes"] = homes


class _Homes:
    """How many requests a new home for a prefix some pod holds would share with its homes.

    A pod that lacks a prefix another pod holds computes it once, and then serves the prefix's
    next requests from cache too. So the cost of those tokens there is divided by the share of
    the prefix's next requests the pod would get, never by less than 1. The next requests are
    predicted from the recent ones (decaying over PREFIX_RATE_S), in proportion to how long the
    prefix has been seen, up to PREFIX_RAMP_S: a burst predicts little about what follows it (it
    settles on one pod, or a few when its pod is much busier), a prefix that keeps coming gets a
    home on every pod its load needs. A conversation's history is one request's prefix (the next
    turn's is longer), so it stays whole on its pod."""

    __slots__ = ("_seen",)
    MAX_PREFIXES = 65_536

    def __init__(self) -> None:
        # prefix key → (requests, decayed; when last seen; since when it has been seen)
        self._seen: dict[int, tuple[float, float, float]] = {}

    def share(self, key: object, homes: object, now: float) -> float:
        got = self._seen.get(key) if isinstance(key, int) else None
        if got is None or not isinstance(homes, int):
            return 1.0
        count, last, first = got
        span = (now - first) / PREFIX_RAMP_S
        expected = count * math.exp((last - now) / PREFIX_RATE_S) * (span if span < 1.0 else 1.0)
        return expected / (homes + 1) if expected > homes + 1 else 1.0

    def seen(self, key: object, now: float) -> None:
        if not isinstance(key, int):
            return
        got = self._seen.pop(key, None)  # re-inserted last: the dict's order is recency
        count = got[0] * math.exp((got[1] - now) / PREFIX_RATE_S) if got else 0.0
        first = got[2] if got and count >= 0.5 else now  # quiet for long: it starts again
        self._seen[key] = (1.0 + count, now, first)
        if len(self._seen) > self.MAX_PREFIXES:
            del self._seen[next(iter(self._seen))]


class CostScorer:
    name = "cost"

    def __init__(self, prefix: PrefixMatch | None = None, clock=time.monotonic) -> None:
        self.prefix = prefix
        self.clock = clock
        # address → (time, tokens) of the sends within SENT_HORIZON_S
        self._sent: dict[str, _Sends] = {}
        self._homes = _Homes()

    def costs(self, request: SchedulingRequest, candidates: list[Candidate]) -> list[float]:
        # One pass per candidate, every per-pod fact looked up once, no call and no dict per pod
        # unless it has news (a pod's request-independent terms are kept, see terms()): at 1,000
        # pods this loop is the scheduler's cost (bench/overhead_scheduling.py).
        total = prompt_tokens(request)
        whole = float(total)  # a pod's own tokens when it holds none of the prompt
        hits, blocks, best = self._prefix(request, candidates)
        out_tokens = request.output_tokens()
        now = self.clock()
        # the prefix a holder has that a pod lacks is computed there once, then serves the
        # prefix's next requests too: charged ÷ the share of them the pod would get
        share = self._homes.share(request.extras.get("prefix_key"), request.extras.get("prefix_homes"), now) if best else 1.0
        # per request running on the pod; weighed only against such a shared recomputation
        decoding = out_tokens * request.tokens_per_running if share > 1.0 else 0.0
        fresh = total * (1.0 - best / blocks)  # tokens no pod holds
        own_whole = whole if share == 1.0 else fresh + (whole - fresh) / share  # a pod holding none
        horizon = now - SENT_HORIZON_S
        sent_of, terms = self._sent.get, self.terms
        aheads: list[float] = []  # the work ahead of the request (a stale pod: its whole cost)
        loads: list[float] = []   # its own tokens plus the KV room it lacks (STALE: no metrics)
        queued = 0.0
        unfit: list[int] = []  # pods whose promised KV could not also hold this request to its end
        fits = False
        need_whole = whole + out_tokens  # the KV room a pod holding none of the prompt needs
        for c in candidates:
            address = c.endpoint.address
            held = None if hits is None else hits(address)
            if held is None:
                mine, own, need = whole, own_whole, need_whole
            else:
                mine = total * (1.0 - held / blocks)  # as _own_tokens()
                own = mine if share == 1.0 or mine <= fresh else fresh + (mine - fresh) / share
                need = mine + out_tokens
            m = c.metrics
            if m is None:
                aheads.append(STALE_AHEAD + mine)
                loads.append(STALE)
                queued += max(0.0, float(c.in_flight))
                continue
            sends = sent_of(address)
            if sends is None:  # never sent to: nothing since the scrape, nothing prefilling
                n = float(c.in_flight)  # compared as floats (mixed int/float arithmetic is slower)
                waiting = m.waiting
                queued += waiting if waiting > n else n
                ahead = waiting * mine
                running = m.running if m.running > n else n
                free, capacity = m.kv_free, m.kv_capacity
            else:
                if (sends.terms_metrics is not m or sends.terms_in_flight != c.in_flight
                        or sends.terms_picks != sends.picks or sends.oldest <= horizon):
                    terms(sends, m, c.in_flight, horizon)
                qn, ahead, running, free, capacity = sends.terms
                queued += qn
            if decoding:
                ahead += decoding * running
            aheads.append(ahead)
            if capacity:
                overflow = need - free
                loads.append(own + overflow if overflow > 0.0 else own)
                if c.committed + need > capacity:
                    unfit.append(len(aheads) - 1)
                else:
                    fits = True
            else:
                loads.append(own)
                fits = True
        scale = 1.0 + queued / len(candidates)  # 1 + the backlog per pod
        if unfit and fits:
            for i in unfit:
                aheads[i] += UNFIT
        request.extras["cost_rows"] = (candidates, hits, blocks)
        if STALE in loads:
            return [a if load == STALE else a + scale * load for a, load in zip(aheads, loads)]
        return [a + scale * load for a, load in zip(aheads, loads)]

    def on_update(self, address: str, metrics: EndpointMetrics, in_flight: int) -> None:
        """A pod was scraped (EndpointState.on_update): its terms are computed now, in the
        scraper's turn, rather than in the next pick, where at 1,000 pods a scrape of every pod
        would make that pick recompute them all."""
        sends = self._sent.get(address)
        if sends is not None:
            self.terms(sends, metrics, in_flight, self.clock() - SENT_HORIZON_S)

    @staticmethod
    def terms(sends: _Sends, m: EndpointMetrics, in_flight: int, horizon: float) -> None:
        """A pod's terms that depend on no request, kept in `sends.terms` with what they were
        computed from, until its next scrape, pick or finished request, or until one of its
        sends ages out: the requests queued there (in flight, or waiting and sent since the
        scrape if more), the prefill work ahead of a new request (the scraped queue at the pod's
        mean uncached tokens plus the tokens sent since that scrape, or the sends still before
        their first token if more), the requests running, its free KV tokens less what was sent
        since the scrape, and its KV capacity. Recounting on the same inputs gives the same
        terms (`_Sends`' baseline is rebased to the same values), so keeping them changes no
        decision (bench/overhead_scheduling_check.py compares pick by pick)."""
        n = float(in_flight)  # compared as floats (mixed int/float arithmetic is slower)
        unscraped = prefilling = count = 0.0
        times = sends.times
        if times:
            ends = sends.ends
            if times[0] <= horizon:
                sends.forget(bisect_right(times, horizon))
            n_sent = len(times)
            if n_sent:
                last = ends[-1]
                if times[-1] > m.updated_at:  # sends since the scrape: the j-th and later
                    j = bisect_right(times, m.updated_at)
                    count = float(n_sent - j)
                    unscraped = last - (ends[j - 1] if j else sends.start)
                # the newest sends are the ones still waiting for their first token (`_Sends`)
                first_tokens = m.ttft_count
                if n <= 0.0 or first_tokens < sends.base_count or sends.base_count < 0.0:
                    sends.base_picks = sends.picks - (int(n) if n > 0.0 else 0)
                    sends.base_count = first_tokens
                left = sends.picks - sends.base_picks - int(first_tokens - sends.base_count)
                if left > n:
                    left = int(n)
                if left > 0:
                    k = n_sent - left
                    prefilling = last - (ends[k - 1] if k > 0 else sends.start)
        waiting = m.waiting
        q = waiting + count
        ahead = waiting * sends.mean + unscraped
        if prefilling > ahead:
            ahead = prefilling
        running = m.running + count  # other routers' requests too
        sends.terms = (q if q > n else n, ahead, running if running > n else n, m.kv_free - unscraped, m.kv_capacity)
        sends.terms_metrics, sends.terms_in_flight, sends.terms_picks = m, in_flight, sends.picks

    def _prefix(self, request: SchedulingRequest, candidates: list[Candidate]):
        """What costs() needs for each candidate's own tokens, total * (1 - share of the prompt
        it holds): a lookup address → blocks held (None: holds none), the prompt's blocks, and
        the most any pod holds (0: not known). The estimate index's matches serve directly (no
        pass over the candidates), and name the prefix they share (`prefix_key`: the hash of
        its last block) for `_Homes`; any other prefix scorer's shares serve as blocks of one."""
        if self.prefix is None:
            return None, 1, 0
        matched = getattr(self.prefix, "matched", None)
        if matched is not None:
            found = matched(request)
            if found is None:
                return None, 1, 0
            held, blocks = found
            best = max(held.values())
            _name_prefix(request, best / blocks, sum(1 for v in held.values() if v == best))
            return held.get, blocks, best
        ratios = self.prefix.score(request, candidates)
        if ratios is None:
            return None, 1, 0
        best = max(ratios)
        _name_prefix(request, best, sum(1 for r in ratios if r == best))
        return dict(zip([c.endpoint.address for c in candidates], ratios)).get, 1, best

    def score(self, request: SchedulingRequest, candidates: list[Candidate]) -> list[float] | None:
        costs = self.costs(request, candidates)
        request.extras["cost"] = costs
        return inverse_minmax(costs)

    def picked(self, request: SchedulingRequest, chosen: Candidate) -> None:
        if self.prefix is not None:
            self.prefix.picked(request, chosen)
        address = chosen.endpoint.address
        tokens = self._own_tokens(request, chosen)
        sends = self._sent.get(address)
        if sends is None:
            sends = self._sent[address] = _Sends(tokens)
        sends.add(self.clock(), tokens)
        # what the pod promises this request by its end: the director books it with the pick
        # (EndpointState.committed), and releases it when the request ends
        request.extras["kv_tokens"] = float(tokens + request.output_tokens())
        self._homes.seen(request.extras.get("prefix_key"), self.clock())
        sends.mean = MEAN_DECAY * sends.mean + (1 - MEAN_DECAY) * tokens

    @staticmethod
    def _own_tokens(request: SchedulingRequest, chosen: Candidate) -> int:
        """The chosen pod's uncached prompt tokens, as the costs() that scored it counted them
        (0 for a pod it did not score)."""
        rows = request.extras.get("cost_rows")
        if not isinstance(rows, tuple):
            return prompt_tokens(request)
        candidates, hits, blocks = rows
        address = chosen.endpoint.address
        if not any(map(is_, candidates, repeat(chosen))) and all(c.endpoint.address != address for c in candidates):
            return 0
        total = prompt_tokens(request)
        held = None if hits is None else hits(address)
        return int(float(total) if held is None else total * (1.0 - held / blocks))  # as costs()
