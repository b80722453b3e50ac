"""Bench cells in simulated time: the simulator's own engine and KV cache, the router's real
scheduler, no sockets and no machine noise.

`igw bench` measures routers on a 2-core machine shared with other work, where one run of the
no-shared-prefix cell varied 1.5–7.6 s in TTFT p90 for the same seeded load. This model keeps
what decides placement and drops what adds noise: 8 pods each run `simulator.engine.Engine`'s
scheduling step (`_schedule` / `_complete`, vLLM V1 semantics, preemption included) with
`BlockCache`, stepped by an event queue instead of asyncio sleeps; the router's `Scheduler`
picks with a simulated clock; metrics are "scraped" every 0.1 s (staggered per pod) and the
router's in-flight count rises at the pick and falls when the pod's last token is out. The
default load is the no-shared-prefix cell's: prompts ~N(1024, 700) in [32, 4000] tokens, output
~N(128, 90) in [8, 512], Poisson 14 req/s for 60 s, h100-32b pods at time scale 3. `--workload
mixed-pods` makes 4 of the 8 pods step twice as slowly (at 10 req/s); `--workload shared-prefix`
is the shared-prefix cell (24 groups × 12 prompts of a 2048-token system prompt + 128-token
question, all sent within 0.1 s); `--workload hot-prefix` puts one 2048-token system prompt on
every request (600 over 45 s, ~13 req/s), a prefix every pod should come to hold.

    python -P bench/sim_time.py [--workload no-shared-prefix] [--seeds 1,2,3] \
        [--routers load-cost,round-robin,sglang] [--profile h100-8b]

Per router: TTFT p50/p90 (s, wall at time scale 3), output tok/s, preemptions, the busiest
pod's requests and prompt tokens ÷ the mean, the prefix-cache hit rate, and the decode term's
unit as `router/step_cost.py` fitted it from the pods' counters (prefill tokens per running
request per step; every router's pods feed the fit, only the cost profiles use it). A router here is the scheduler profile named
(`load-cost`, `legacy`), plain round robin, or `sglang`: sglang-router 0.3.2's cache_aware with
no prefix ever matching, i.e. the worker with the least text routed to it (its approximate tree
holds everything routed; no eviction within a minute), unless in-flight counts differ by more
than 64 and 1.5×, which 8 pods at this load never reach.
"""

from __future__ import annotations

import argparse
import dataclasses
import heapq
import random
import statistics
import sys
from dataclasses import dataclass, field

from inference_gateway.router.endpoint_state import EndpointMetrics, EndpointState
from inference_gateway.router.logs import configure
from inference_gateway.router.prefix_index import CHARS_PER_TOKEN, PrefixIndex
from inference_gateway.router.scheduler.plugins.max_score_picker import MaxScorePicker
from inference_gateway.router.scheduler.profiles import LEGACY_WEIGHTS, build_profiles
from inference_gateway.router.scheduler.scheduler import Scheduler
from inference_gateway.router.scheduler.types import SchedulingRequest
from inference_gateway.router.table import Endpoint, Pool, Strategy
from inference_gateway.simulator.block_cache import BlockCache
from inference_gateway.simulator.engine import Engine
from inference_gateway.simulator.profiles import get_profile
from inference_gateway.simulator.request import SimRequest

SCRAPE_S = 0.1


@dataclass(frozen=True)
class Load:
    pods: int = 8
    profile: str = "h100-32b"
    time_scale: float = 3.0
    rate: float = 14.0
    duration: float = 60.0
    input: tuple[float, float, int, int] = (1024, 700, 32, 4000)   # mean, sd, min, max
    output: tuple[float, float, int, int] = (128, 90, 8, 512)
    # shared prefix instead: `groups` × `per_group` prompts (a `system`-token prefix per group,
    # then a `question`), all sent within 0.1 s, `max_tokens` `answer` (the bench's cell)
    groups: int = 0
    per_group: int = 12
    system: int = 2048
    question: int = 128
    answer: int = 128
    spread_s: float = 0.1     # the group prompts' arrivals, uniform over this many seconds
    slow_pods: int = 0        # the first N pods take `slowdown`× as long per step (another GPU)
    slowdown: float = 2.0


def _draw(rng: random.Random, dist: tuple[float, float, int, int]) -> int:
    mean, sd, lo, hi = dist
    return int(min(hi, max(lo, rng.gauss(mean, sd))))


class _Filler:
    def token(self, seed: int, index: int) -> int:
        return 7 + (seed + index) % 50


@dataclass
class _Observer:
    ttft_count: int = 0
    preemptions: int = 0
    out_tokens: int = 0
    itl_sum: float = 0.0      # what a vLLM pod's ITL histogram and prefix-cache counters export
    itl_count: int = 0
    steps: int = 0            # and its iteration-tokens histogram's count
    prefill_tokens: int = 0

    def on_admitted(self, req, cached, queue_time) -> None: ...
    def on_first_token(self, req, ttft) -> None:
        self.ttft_count += 1
    def on_step(self, new_tokens, itls, prefill_tokens) -> None:
        self.out_tokens += new_tokens
        self.itl_sum += sum(itls)
        self.itl_count += len(itls)
        self.steps += 1
        self.prefill_tokens += prefill_tokens
    def on_finished(self, req, e2e) -> None: ...
    def on_preempted(self, req) -> None:
        self.preemptions += 1


@dataclass
class Result:
    ttfts: list[float] = field(default_factory=list)
    out_tokens: int = 0
    span: float = 0.0
    preemptions: int = 0
    requests: list[int] = field(default_factory=list)
    prompt_tokens: list[int] = field(default_factory=list)
    cached_tokens: int = 0
    decode_unit: float = 0.0  # the decode term's fitted unit at the end (router/step_cost.py)

    def row(self) -> tuple[float, ...]:
        t = sorted(self.ttfts)
        p90 = t[int(0.9 * (len(t) - 1))]
        mean_r = statistics.mean(self.requests)
        mean_p = statistics.mean(self.prompt_tokens)
        return (statistics.median(t), p90, self.out_tokens / self.span, self.preemptions,
                max(self.requests) / mean_r, max(self.prompt_tokens) / mean_p,
                100 * self.cached_tokens / sum(self.prompt_tokens), self.decode_unit)


class _RoundRobin:
    def __init__(self, endpoints) -> None:
        self.endpoints, self.i = endpoints, 0

    def pick(self, pool, request) -> Endpoint:
        self.i = (self.i + 1) % len(self.endpoints)
        return self.endpoints[self.i]


class _SglangNoMatch:
    """sglang-router cache_aware when no prefix matches: the smallest approximate tree."""

    def __init__(self, endpoints, state: EndpointState) -> None:
        self.endpoints, self.state = endpoints, state
        self.text = {ep.address: 0 for ep in endpoints}

    def pick(self, pool, request: SchedulingRequest) -> Endpoint:
        loads = [self.state.in_flight.get(ep.address, 0) for ep in self.endpoints]
        if max(loads) - min(loads) > 64 and max(loads) > 1.5 * min(loads):
            ep = self.endpoints[loads.index(min(loads))]
        else:
            ep = min(self.endpoints, key=lambda e: self.text[e.address])
        self.text[ep.address] += len(request.prompt)
        return ep


def simulate(router: str, seed: int, load: Load = Load(), weights: dict | None = None) -> Result:
    rng = random.Random(seed)
    profile = get_profile(load.profile)
    eps = tuple(Endpoint(f"pod-{i}", "sim", f"10.9.0.{i + 1}", 8000) for i in range(load.pods))
    strategy = Strategy.PREFIX_CACHE if load.groups else Strategy.DEFAULT
    pool = Pool("sim", "pool", 8000, strategy=strategy, endpoints=eps)
    state = EndpointState(stale_after=1e12)
    now = 0.0
    if router == "round-robin":
        sched = _RoundRobin(eps)
    elif router == "sglang":
        sched = _SglangNoMatch(eps, state)
    else:
        w = weights or (LEGACY_WEIGHTS[strategy] if router == "legacy" else {router: 1.0})
        index = PrefixIndex()
        profiles = build_profiles(index, {strategy: w}, MaxScorePicker(random.Random(seed)))
        for scorer, _ in profiles[strategy].scorers:
            if hasattr(scorer, "clock"):
                scorer.clock = lambda: now
        sched = Scheduler(state, index, profiles)
    observers = [_Observer() for _ in eps]
    slow = profile.with_overrides(**{k: getattr(profile, k) * load.slowdown for k in
                                     ("step_fixed_s", "prefill_token_s", "decode_seq_s", "attention_token_s")})
    engines = [Engine(slow if i < load.slow_pods else profile, BlockCache(profile.kv_capacity_tokens, profile.block_size),
                      _Filler(), o, load.time_scale) for i, o in enumerate(observers)]
    busy = [False] * load.pods
    plans: list = [None] * load.pods
    result = Result(requests=[0] * load.pods, prompt_tokens=[0] * load.pods)
    events: list = []  # (time, order, kind, payload)
    order = 0

    def push(t: float, kind: str, payload) -> None:
        nonlocal order
        order += 1
        heapq.heappush(events, (t, order, kind, payload))

    n = 0
    if load.groups:
        systems = [[rng.randrange(100, 30000) for _ in range(load.system)] for _ in range(load.groups)]
        prompts = [s + [rng.randrange(100, 30000) for _ in range(load.question)] for s in systems
                   for _ in range(load.per_group)]
        rng.shuffle(prompts)
        for ids in prompts:
            push(rng.random() * load.spread_s, "arrive", (n, ids, load.answer))
            n += 1
    else:
        t = 0.0
        while True:
            t += rng.expovariate(load.rate)
            if t > load.duration:
                break
            n_in = _draw(rng, load.input)
            push(t, "arrive", (n, [rng.randrange(100, 30000) for _ in range(n_in)], _draw(rng, load.output)))
            n += 1
    for i in range(load.pods):
        push(-rng.random() * SCRAPE_S, "scrape", i)  # every pod scraped before the first request
    sent: dict[int, tuple[int, SimRequest, float]] = {}
    remaining = n

    def kick(i: int) -> None:
        if busy[i]:
            return
        engine = engines[i]
        if not engine.waiting and not engine.running:
            return
        plan = engine._schedule(now)
        if not plan.scheduled:
            return
        busy[i], plans[i] = True, plan
        push(now + engine.step_time(plan) * load.time_scale, "step", i)

    while events and remaining:
        now, _, kind, payload = heapq.heappop(events)
        if kind == "scrape":
            i = payload
            e, o = engines[i], observers[i]
            state.update(eps[i].address, EndpointMetrics(
                waiting=len(e.waiting), running=len(e.running), kv_usage=e.kv.usage(),
                kv_blocks=e.kv.num_blocks, block_size=e.kv.block_size, updated_at=now + 1e-9,
                ttft_count=o.ttft_count, itl_sum=o.itl_sum, itl_count=o.itl_count, steps=o.steps,
                prefill_tokens=o.prefill_tokens))
            push(now + SCRAPE_S, "scrape", i)
        elif kind == "arrive":
            rid, ids, n_out = payload
            n_in = len(ids)
            prompt = "".join(f"{t:04x}" for t in ids)  # CHARS_PER_TOKEN characters a token
            req = SchedulingRequest("m", "m", prompt, body={"max_tokens": n_out})
            ep = sched.pick(pool, req)
            kv = req.extras.get("kv_tokens", 0.0)  # booked as the director books it
            state.started(ep.address, kv)
            i = eps.index(ep)
            result.requests[i] += 1
            result.prompt_tokens[i] += n_in
            sim = SimRequest(str(rid), ids, n_out, arrival_time=now, seed=rid)
            sent[rid] = (i, sim, kv)
            engines[i].submit(sim)
            kick(i)
        else:  # step
            i = payload
            busy[i] = False
            engines[i]._complete(plans[i], now)
            for req, _ in plans[i].scheduled:
                if req.first_token_time == now:
                    result.ttfts.append(now - req.arrival_time)
                    result.cached_tokens += req.num_cached_tokens
                if req.finish_time == now:
                    state.finished(eps[i].address, sent.pop(int(req.request_id))[2])
                    remaining -= 1
            kick(i)
    result.span = now
    result.decode_unit = state.step_cost.tokens_per_running()
    result.out_tokens = sum(o.out_tokens for o in observers)
    result.preemptions = sum(o.preemptions for o in observers)
    return result


LOADS = {
    "no-shared-prefix": Load(),
    # the same on a pool of two GPU kinds: 4 of the 8 pods step twice as slowly (less load:
    # the pool has 3/4 of the capacity)
    "mixed-pods": Load(slow_pods=4, rate=10.0),
    "shared-prefix": Load(groups=24),
    # one application's system prompt on every request, ~13 req/s over 45 s: a prefix every pod
    # should end up holding, since one pod cannot serve the whole load
    "hot-prefix": Load(groups=1, per_group=600, spread_s=45.0),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--workload", default="no-shared-prefix", choices=sorted(LOADS))
    p.add_argument("--profile", default=None, help="pod profile (default h100-32b)")
    p.add_argument("--rate", type=float, default=None, help="Poisson arrivals per second (no-shared-prefix, mixed-pods)")
    p.add_argument("--routers", default="load-cost,round-robin,sglang",
                   help="scorer names (load-cost, prefix-cost, …), legacy, round-robin, sglang")
    args = p.parse_args(argv)
    configure("warning")
    seeds = [int(s) for s in args.seeds.split(",")]
    load = LOADS[args.workload]
    if args.profile:
        load = dataclasses.replace(load, profile=args.profile)
    if args.rate:
        load = dataclasses.replace(load, rate=args.rate)
    print(f"{args.workload}: medians over seeds {args.seeds}")
    print(f"{'router':<14}{'TTFT p50':>9}{'p90':>7}{'tok/s':>7}{'preempt':>8}{'max req':>8}{'max tok':>8}{'hit %':>7}{'decode':>7}")
    for router in args.routers.split(","):
        rows = [simulate(router, s, load).row() for s in seeds]
        med = [statistics.median(r[k] for r in rows) for k in range(8)]
        per = " ".join(f"{r[1]:.2f}" for r in rows)
        print(f"{router:<14}{med[0]:>9.2f}{med[1]:>7.2f}{med[2]:>7.0f}{med[3]:>8.0f}{med[4]:>8.2f}{med[5]:>8.2f}"
              f"{med[6]:>7.1f}{med[7]:>7.1f}   p90 per seed {per}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
