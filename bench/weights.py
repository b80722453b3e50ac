"""How the scorer weights were chosen: the real scheduler against simulated pods, in simulated time.

8 pods, 4 running slots each, a FIFO queue behind them, and an LRU prefix cache of 400 blocks
per pod (about 3 groups' prompts). A request costs 20 ms + 2 ms per prompt block not already
cached on its pod + 100 ms of decode. 24 groups share a 40-block system prompt (plus a
4-block question each); Poisson arrivals at 170 req/s, which pods keep up with only when most
prefixes hit (cached ≈ 250 req/s of capacity, uncached ≈ 150). Metrics are "scraped" every
100 ms. For each weight set: mean and p90 latency, and the share of prompt blocks that hit.

    python -P bench/weights.py

Two scenarios: the Poisson one above, and a burst (24 groups x 12, all within ~0.1 s, caches for
~3 groups per pod: the KV-constrained shared-prefix cell in miniature). Each legacy weight set
runs behind the saturation filter unless the row says otherwise; the cost model never does.
"pods/group" is how many pods each group's requests were sent to (1.0 = kept whole).
Output of 2026-11-30 (two seeds averaged):

    Poisson 170 req/s, 400-block caches
    profile                                 mean ms   p90 ms  hit % pods/group
    load only 0/2/2/1                           285      410   31.7        8.0
    prefix only 1/0/0/0                         307      511   38.5        7.6
    3/2/2/1 (legacy default)                    234      346   42.9        7.4
    3/2/2/1, no saturation filter               141      189   86.8        2.4
    3/0/2/1 (no queue scorer)                   199      284   47.0        6.7
    3/2/0/1 (no KV scorer)                      226      333   43.7        7.3
    3/2/2/0 (upstream: no in-flight)            366      661   39.0        7.8
    3/0/0/0, no filter (prefix alone)          2443     6949   90.4        1.0
    prefix-cost (the new default)               173      275   90.4        1.0

    burst of 288, 150-block caches
    load only 0/2/2/1                           515      813   10.1        6.2
    prefix only 1/0/0/0                         427      757   57.6        1.5
    3/2/2/1 (legacy default)                    376      595   73.4        1.2
    3/2/2/1, no saturation filter               382      675   75.6        1.0
    3/0/2/1 (no queue scorer)                   376      595   73.4        1.2
    3/2/0/1 (no KV scorer)                      376      595   73.4        1.2
    3/2/2/0 (upstream: no in-flight)            427      757   57.6        1.5
    3/0/0/0, no filter (prefix alone)           582     1157   61.2        1.0
    prefix-cost (the new default)               358      576   80.0        1.0

What it says about the causes (issue 16): under steady load the saturation filter is the big
one (hit 43 % → 87 % without it: with KV high everywhere it pushes groups off the pods that
hold them, 7.4 pods per group); the queue scorer is second. In the burst the legacy profile
already keeps groups nearly whole in this model (1.2 pods/group) and the cost model gains
7 points of hit rate. This model's service time is dominated by a fixed 100 ms of decode per
request, which the cost model's token terms do not see, so there it keeps every group on one
pod where spreading hot groups (the no-filter row, 2.4 pods/group) gives a lower p90.
"""

from __future__ import annotations

import heapq
import random
import sys
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

from inference_gateway.router.endpoint_state import EndpointMetrics, EndpointState
from inference_gateway.router.logs import configure
from inference_gateway.router.prefix_index import BLOCK_CHARS, PrefixIndex, block_hashes
from inference_gateway.router.scheduler.plugins.max_score_picker import MaxScorePicker
from inference_gateway.router.scheduler.plugins.saturation_filter import SaturationFilter
from inference_gateway.router.scheduler.profiles import build_profiles
from inference_gateway.router.scheduler.scheduler import Scheduler
from inference_gateway.router.scheduler.types import SchedulingRequest
from inference_gateway.router.table import Endpoint, Pool, Strategy

PODS, SLOTS, CACHE_BLOCKS = 8, 4, 400
GROUPS, SYSTEM_BLOCKS, QUESTION_BLOCKS = 24, 40, 4
RATE, REQUESTS, SCRAPE = 170.0, 4000, 0.1


@dataclass(frozen=True)
class Scenario:
    name: str
    rate: float = RATE            # arrivals per second (Poisson)
    requests: int = REQUESTS
    slots: int = SLOTS            # running requests per pod
    cache_blocks: int = CACHE_BLOCKS


SCENARIOS = [
    Scenario("Poisson 170 req/s, 400-block caches"),
    # The KV-constrained shared-prefix burst of bench/REPORT.md in miniature: every request of
    # 24 groups x 12 arrives within ~0.1 s, and a pod's cache holds about 3 groups' prompts.
    Scenario("burst of 288, 150-block caches", rate=3000.0, requests=GROUPS * 12, slots=8, cache_blocks=150),
]


def simulate(weights: dict[str, float], seed: int = 7, scenario: Scenario = SCENARIOS[0],
             saturation: bool = True) -> tuple[float, float, float, float]:
    """(mean ms, p90 ms, prefix blocks hit %, mean pods per group)."""
    rng = random.Random(seed)
    RATE, REQUESTS, SLOTS, CACHE_BLOCKS = scenario.rate, scenario.requests, scenario.slots, scenario.cache_blocks  # noqa: N806
    eps = tuple(Endpoint(f"pod-{i}", "sim", f"10.9.0.{i}", 8000) for i in range(PODS))
    pool = Pool("sim", "pool", 8000, strategy=Strategy.PREFIX_CACHE, endpoints=eps)
    state = EndpointState(stale_after=1e12)
    index = PrefixIndex()
    off = SaturationFilter(max_waiting=float("inf"), max_kv=float("inf"))
    profiles = build_profiles(index, {Strategy.PREFIX_CACHE: weights}, MaxScorePicker(random.Random(seed)),
                              saturation=None if saturation else off)
    sched = Scheduler(state, index, profiles)
    systems = ["".join(rng.choice("abcdefgh ") for _ in range(BLOCK_CHARS * SYSTEM_BLOCKS)) for _ in range(GROUPS)]
    caches = {ep.address: OrderedDict() for ep in eps}
    running = {ep.address: 0 for ep in eps}
    queues: dict[str, deque] = {ep.address: deque() for ep in eps}
    events: list = []  # (time, kind, payload)
    t = 0.0
    for i in range(REQUESTS):
        t += rng.expovariate(RATE)
        heapq.heappush(events, (t, 0, i))
    heapq.heappush(events, (0.0, 2, None))
    latencies, hit_blocks, all_blocks = [], 0, 0
    homes: dict[int, set[str]] = {}
    arrived: dict[int, float] = {}

    def start(address: str, now: float, req: tuple[int, list[int]]) -> None:
        nonlocal hit_blocks, all_blocks
        rid, hashes = req
        cache = caches[address]
        hit = 0
        for h in hashes:
            if h not in cache:
                break
            hit += 1
        for h in hashes:
            cache[h] = None
            cache.move_to_end(h)
        while len(cache) > CACHE_BLOCKS:
            cache.popitem(last=False)
        hit_blocks += hit
        all_blocks += len(hashes)
        running[address] += 1
        heapq.heappush(events, (now + 0.020 + 0.002 * (len(hashes) - hit) + 0.100, 1, (rid, address)))

    done = 0
    while events and done < REQUESTS:
        now, kind, payload = heapq.heappop(events)
        if kind == 2:  # scrape
            for ep in eps:
                a = ep.address
                state.update(a, EndpointMetrics(waiting=len(queues[a]), running=running[a],
                                                kv_usage=min(1.0, len(caches[a]) / CACHE_BLOCKS) * 0.5
                                                + 0.5 * running[a] / SLOTS, updated_at=time.monotonic()))
            heapq.heappush(events, (now + SCRAPE, 2, None))
        elif kind == 0:  # arrival
            g = rng.randrange(GROUPS)
            prompt = systems[g] + "".join(rng.choice("xyz ") for _ in range(BLOCK_CHARS * QUESTION_BLOCKS))
            req = SchedulingRequest("m", "m", prompt)
            ep = sched.pick(pool, req)
            homes.setdefault(g, set()).add(ep.address)
            state.started(ep.address)
            arrived[payload] = now
            item = (payload, req.prefix_hashes or block_hashes(prompt, "m"))
            if running[ep.address] < SLOTS:
                start(ep.address, now, item)
            else:
                queues[ep.address].append(item)
        else:  # completion
            rid, address = payload
            running[address] -= 1
            state.finished(address)
            latencies.append(now - arrived.pop(rid))
            done += 1
            if queues[address]:
                start(address, now, queues[address].popleft())
    latencies.sort()
    return (sum(latencies) / len(latencies) * 1000, latencies[int(len(latencies) * 0.9)] * 1000,
            100 * hit_blocks / max(1, all_blocks), sum(len(h) for h in homes.values()) / max(1, len(homes)))


LEGACY = {"prefix": 3, "queue": 2, "kv-cache": 2, "in-flight": 1}
# (name, weights, saturation filter on): the legacy default, then one cause removed at a time,
# then the cost model (which never runs the saturation filter).
CANDIDATES = [
    ("load only 0/2/2/1", {"queue": 2, "kv-cache": 2, "in-flight": 1}, True),
    ("prefix only 1/0/0/0", {"prefix": 1}, True),
    ("3/2/2/1 (legacy default)", LEGACY, True),
    ("3/2/2/1, no saturation filter", LEGACY, False),
    ("3/0/2/1 (no queue scorer)", {"prefix": 3, "kv-cache": 2, "in-flight": 1}, True),
    ("3/2/0/1 (no KV scorer)", {"prefix": 3, "queue": 2, "in-flight": 1}, True),
    ("3/2/2/0 (upstream: no in-flight)", {"prefix": 3, "queue": 2, "kv-cache": 2}, True),
    ("3/0/0/0, no filter (prefix alone)", {"prefix": 3}, False),
    ("prefix-cost (the new default)", {"prefix-cost": 1}, False),
]


def main() -> int:
    configure("warning")
    for scenario in SCENARIOS:
        print(f"\n{scenario.name}")
        print(f"{'profile':<38}{'mean ms':>9}{'p90 ms':>9}{'hit %':>7}{'pods/group':>11}")
        for name, weights, saturation in CANDIDATES:
            results = [simulate(weights, seed, scenario, saturation) for seed in (7, 8)]
            mean, p90, hit, homes = (sum(r[k] for r in results) / len(results) for k in range(4))
            print(f"{name:<38}{mean:>9.0f}{p90:>9.0f}{hit:>7.1f}{homes:>11.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
