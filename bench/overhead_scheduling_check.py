"""Scheduling decisions, pick by pick, to check that a change made for speed decides the same:
`save FILE` before the change, `compare FILE` after it (exit 1 when anything differs).

    python -P bench/overhead_scheduling_check.py save /tmp/before.pkl
    python -P bench/overhead_scheduling_check.py compare /tmp/before.pkl

A deterministic run (seeded; time is a counter) of 3,000 picks on 300 pods per profile: cost
and legacy weights × load-aware, estimate and precise prefix. 5% of the pods miss a scrape
(stale), 2% are down, ~3% report no KV size, TTFT histograms grow, requests finish out of
order of their sending. Each pick's pod, cost list and prefix hit ratio are compared.
"""

from __future__ import annotations

import collections
import pickle
import random
import sys

from inference_gateway.router.endpoint_state import EndpointMetrics, EndpointState
from inference_gateway.router.logs import configure
from inference_gateway.router.prefix_index import PrefixIndex
from inference_gateway.router.scheduler import scheduler as scheduler_module
from inference_gateway.router.scheduler.plugins.max_score_picker import MaxScorePicker
from inference_gateway.router.scheduler.profiles import DEFAULT_WEIGHTS, LEGACY_WEIGHTS, build_profiles
from inference_gateway.router.scheduler.scheduler import Scheduler
from inference_gateway.router.scheduler.types import SchedulingRequest
from inference_gateway.router.table import Endpoint, Pool, Strategy

PODS, PICKS, SEED = 300, 3000, 7


def run(weights: dict, strategy: Strategy) -> list[tuple]:
    clock = [1000.0]
    scheduler_module.time.monotonic = lambda: clock[0]  # this process only: time is a counter
    rng = random.Random(SEED)
    eps = tuple(Endpoint(f"p{i}", "d", f"10.0.{i // 256}.{i % 256}", 8000) for i in range(PODS))
    pool = Pool("d", "p", 8000, strategy=strategy, endpoints=eps)
    state = EndpointState(stale_after=0.5)
    ttft: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0])

    def scrape() -> None:
        for i, ep in enumerate(eps):
            r = rng.random()
            if r < 0.05:
                continue  # missed: goes stale
            if r < 0.07:
                state.mark_down(ep.address, clock[0])
                continue
            t = ttft[ep.address]
            k = rng.randint(0, 8)
            t[0] += k * rng.random() * (0.5 + i % 3)  # the histogram's _sum (no scorer reads it)
            t[1] += k
            state.update(ep.address, EndpointMetrics(
                waiting=rng.randint(0, 6), running=rng.randint(0, 50), kv_usage=rng.random() * 0.95,
                kv_blocks=None if r < 0.1 else 2000, block_size=16, updated_at=clock[0],
                ttft_count=t[1]))

    scrape()
    index = PrefixIndex()
    profiles = build_profiles(index, weights, MaxScorePicker(random.Random(SEED + 1)))
    sched = Scheduler(state, index, profiles)
    for scorer, _ in profiles[strategy].scorers:
        if hasattr(scorer, "clock"):
            scorer.clock = lambda: clock[0]
    systems = ["".join(rng.choice("abc") for _ in range(64 * 30)) for _ in range(40)]
    inflight: collections.deque[str] = collections.deque()
    out = []
    for i in range(PICKS):
        if i % 50 == 0:
            clock[0] += 0.1
            scrape()
        prompt = systems[rng.randrange(40)] + "".join(rng.choice("xyz") for _ in range(rng.randrange(300)))
        request = SchedulingRequest("m", "m", prompt, body={"max_tokens": rng.choice([None, 10, 500, 4000])})
        ep = sched.pick(pool, request)
        out.append((ep.address, request.extras.get("cost"), request.prefix_hit_ratio))
        state.started(ep.address)
        inflight.append(ep.address)
        while len(inflight) > rng.randrange(200, 800):
            state.finished(inflight.popleft())
        clock[0] += 0.001
    return out


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[1] not in ("save", "compare"):
        print(__doc__)
        return 2
    configure("warning")
    results = {(name, s.value): run(w, s) for name, w in (("cost", DEFAULT_WEIGHTS), ("legacy", LEGACY_WEIGHTS))
               for s in (Strategy.DEFAULT, Strategy.PREFIX_CACHE, Strategy.PRECISE_PREFIX_CACHE)}
    if sys.argv[1] == "save":
        with open(sys.argv[2], "wb") as f:
            pickle.dump(results, f)
        return 0
    with open(sys.argv[2], "rb") as f:
        before = pickle.load(f)
    for key, picks in results.items():
        first = next((i for i, (a, b) in enumerate(zip(before.get(key, []), picks)) if a != b), None)
        same = before.get(key) == picks
        print(f"{key[0]:7} {key[1]:22} {'identical' if same else f'DIFFERENT (first at pick {first})'}")
    return 0 if before == results else 1


if __name__ == "__main__":
    sys.exit(main())
