"""How the scorer weights were chosen: the real scheduler against simulated pods, in simulated time.

8 pods, 4 running slots each, a FIFO queue behind them, and an LRU prefix cache of 400 blocks
per pod (about 3 groups' prompts). A request costs 20 ms + 2 ms per prompt block not already
cached on its pod + 100 ms of decode. 24 groups share a 40-block system prompt (plus a
4-block question each); Poisson arrivals at 170 req/s, which pods keep up with only when most
prefixes hit (cached ≈ 250 req/s of capacity, uncached ≈ 150). Metrics are "scraped" every
100 ms. For each weight set: mean and p90 latency, and the share of prompt blocks that hit.

    python -P bench/weights.py

Output of the run behind the defaults (2026-11-25, quoted in router/scheduler/profiles.py):

    weights (prefix/queue/kv/in-flight)     mean ms   p90 ms  hit %
    load only 0/2/2/1                           285      410   31.7
    prefix only 1/0/0/0                         307      511   38.5
    1/2/2/1                                     263      386   37.0
    3/2/2/1 (default)                           234      346   42.9
    3/2/2/0 (upstream)                          366      661   39.0
    5/2/2/1                                     236      353   43.5
    10/2/2/1                                    236      353   43.5

Every profile also runs the saturation filter, which is why prefix weights above 3 change
little: it, not the weights, stops a hot prefix from piling up. The in-flight scorer matters
most (3/2/2/0 → 3/2/2/1: p90 661 → 346 ms): scraped queues lag bursts by a scrape interval.
"""

from __future__ import annotations

import heapq
import random
import sys
import time
from collections import OrderedDict, deque

from inference_gateway.router.endpoint_state import EndpointMetrics, EndpointState
from inference_gateway.router.logs import configure
from inference_gateway.router.prefix_index import BLOCK_CHARS, PrefixIndex, block_hashes
from inference_gateway.router.scheduler.plugins.max_score_picker import MaxScorePicker
from inference_gateway.router.scheduler.profiles import build_profiles
from inference_gateway.router.scheduler.scheduler import Scheduler
from inference_gateway.router.scheduler.types import SchedulingRequest
from inference_gateway.router.table import Endpoint, Pool, Strategy

PODS, SLOTS, CACHE_BLOCKS = 8, 4, 400
GROUPS, SYSTEM_BLOCKS, QUESTION_BLOCKS = 24, 40, 4
RATE, REQUESTS, SCRAPE = 170.0, 4000, 0.1


def simulate(weights: dict[str, float], seed: int = 7) -> tuple[float, float, float]:
    rng = random.Random(seed)
    eps = tuple(Endpoint(f"pod-{i}", "sim", f"10.9.0.{i}", 8000) for i in range(PODS))
    pool = Pool("sim", "pool", 8000, strategy=Strategy.PREFIX_CACHE, endpoints=eps)
    state = EndpointState(stale_after=1e12)
    index = PrefixIndex()
    profiles = build_profiles(index, {Strategy.PREFIX_CACHE: weights}, MaxScorePicker(random.Random(seed)))
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
            100 * hit_blocks / max(1, all_blocks))


CANDIDATES = [
    ("load only 0/2/2/1", {"queue": 2, "kv-cache": 2, "in-flight": 1}),
    ("prefix only 1/0/0/0", {"prefix": 1}),
    ("1/2/2/1", {"prefix": 1, "queue": 2, "kv-cache": 2, "in-flight": 1}),
    ("3/2/2/1 (default)", {"prefix": 3, "queue": 2, "kv-cache": 2, "in-flight": 1}),
    ("3/2/2/0 (upstream)", {"prefix": 3, "queue": 2, "kv-cache": 2}),
    ("5/2/2/1", {"prefix": 5, "queue": 2, "kv-cache": 2, "in-flight": 1}),
    ("10/2/2/1", {"prefix": 10, "queue": 2, "kv-cache": 2, "in-flight": 1}),
]


def main() -> int:
    configure("warning")
    print(f"{'weights (prefix/queue/kv/in-flight)':<38}{'mean ms':>9}{'p90 ms':>9}{'hit %':>7}")
    for name, weights in CANDIDATES:
        results = [simulate(weights, seed) for seed in (7, 8)]
        mean = sum(r[0] for r in results) / len(results)
        p90 = sum(r[1] for r in results) / len(results)
        hit = sum(r[2] for r in results) / len(results)
        print(f"{name:<38}{mean:>9.0f}{p90:>9.0f}{hit:>7.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
