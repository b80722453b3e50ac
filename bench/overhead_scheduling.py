"""Scheduling alone, for `make bench-overhead`: one pick on a large PREFIX_CACHE pool whose
prefix index is full, timed in this process (no gRPC, no Envoy)."""

from __future__ import annotations

import random
import time

MODEL = "bench-model"


def scheduling(endpoints: int = 1000, measured: int = 2000) -> dict:
    """The scheduler alone on a PREFIX_CACHE pool of `endpoints` pods whose prefix index was
    filled by 10 picks per pod (500 shared 2.5 KB system prompts + 1.3 KB unique tails)."""
    import collections  # noqa: PLC0415
    import gc  # noqa: PLC0415

    from inference_gateway.router.endpoint_state import EndpointMetrics, EndpointState  # noqa: PLC0415
    from inference_gateway.router.logs import configure  # noqa: PLC0415
    from inference_gateway.router.prefix_index import PrefixIndex  # noqa: PLC0415
    from inference_gateway.router.scheduler.scheduler import Scheduler  # noqa: PLC0415
    from inference_gateway.router.scheduler.types import SchedulingRequest  # noqa: PLC0415
    from inference_gateway.router.server import tune_gc  # noqa: PLC0415
    from inference_gateway.router.table import Endpoint, Pool, Strategy  # noqa: PLC0415

    configure("warning")
    rng = random.Random(1)
    eps = tuple(Endpoint(f"p{i}", "d", f"10.0.{i // 256}.{i % 256}", 8000) for i in range(endpoints))
    pool = Pool("d", "p", 8000, strategy=Strategy.PREFIX_CACHE, endpoints=eps)
    state = EndpointState(stale_after=1e9)

    def scrape() -> None:
        now = time.monotonic()
        for ep in eps:
            # floats where the scraper parses floats (router/metrics_scraper.py)
            state.update(ep.address, EndpointMetrics(waiting=float(rng.randint(0, 3)), running=float(rng.randint(0, 50)),
                                                     kv_usage=rng.random() * 0.7, kv_blocks=2000, block_size=16,
                                                     updated_at=now))

    scrape()
    index = PrefixIndex()
    sched = Scheduler(state, index)
    systems = ["".join(rng.choice("abcdefghij ") for _ in range(64 * 40)) for _ in range(500)]
    tails = ["".join(rng.choice("xyz ") for _ in range(64 * 20)) for _ in range(997)]
    inflight: collections.deque = collections.deque()

    def one(prompt: str) -> None:
        ep = sched.pick(pool, SchedulingRequest(MODEL, MODEL, prompt))
        state.started(ep.address)
        inflight.append(ep.address)
        if len(inflight) > 2 * endpoints:
            state.finished(inflight.popleft())

    for i in range(endpoints * 10):
        one(systems[i % 500] + tails[i % 997])
        if i % 500 == 0:
            scrape()
    tune_gc()
    lat, cpu = [], []
    for i in range(measured):
        if i % 100 == 0:
            scrape()
        prompt = systems[rng.randrange(500)] + tails[rng.randrange(997)]
        t, c = time.perf_counter(), time.thread_time()
        one(prompt)
        lat.append(time.perf_counter() - t)
        # This thread's CPU alone: on a shared machine, wall time also counts the moments the
        # process waited for a core.
        cpu.append(time.thread_time() - c)
    lat.sort()
    gc.unfreeze()
    cpu.sort()
    return {"p50": lat[len(lat) // 2] * 1e3, "p99": lat[int(len(lat) * 0.99)] * 1e3,
            "cpu p50": cpu[len(cpu) // 2] * 1e3, "cpu p99": cpu[int(len(cpu) * 0.99)] * 1e3, "index_blocks": len(index)}
