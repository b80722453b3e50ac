"""What the gateway's metric scrapes cost while no request flows: the CPU of N idle simulated
vLLM pods and of the gateway (router process, then its Envoy) over a few seconds, first with
the pods alone, then with `igw run` scraping them (10 times a second each, as it serves).

    python -P bench/scrape_cost.py [--pods 8] [--profile h100-8b] [--seconds 10] [--repeats 3]

On the benchmark's 2 cores the simulated pods' CPU is the simulated GPUs' too, so whatever a
scrape costs a pod slows the pods every router is measured on, and only ours scrapes. Pods on
loopback 127.0.10.x, the gateway on 127.0.0.1 (the bench's own addresses); everything started
here is stopped here.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from inference_gateway.bench.overhead_setups import process_cpu_seconds
from inference_gateway.bench.routers import IgwGateway, Pods
from inference_gateway.bench.workloads import MODEL
from inference_gateway.router.server import RouterSettings


async def _cores(groups: list[list[int]], seconds: float) -> list[float]:
    """Cores each group of processes used over the next `seconds`."""
    before = [sum(process_cpu_seconds(p) for p in g) for g in groups]
    since = time.monotonic()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - since
    return [(sum(process_cpu_seconds(p) for p in g) - b) / elapsed for g, b in zip(groups, before)]


async def one(args: argparse.Namespace) -> tuple[float, float, float, float]:
    pods = Pods(args.pods, args.profile, 3.0, [MODEL])
    await pods.start()
    gateway = IgwGateway("igw-prefix-cache", "PREFIX_CACHE", {MODEL: "Critical"}, Path(tempfile.mkdtemp()))
    try:
        [alone] = await _cores([pods.pids()], args.seconds)
        await gateway.start(pods.pods)
        await asyncio.sleep(2)  # past the first scrapes and the readiness request
        router, envoy = gateway.pids()[:1], gateway.pids()[1:]
        pods_cores, router_cores, envoy_cores = await _cores([pods.pids(), router, envoy], args.seconds)
        return alone, pods_cores, router_cores, envoy_cores
    finally:
        await gateway.stop()
        await pods.stop()


async def main_async(args: argparse.Namespace) -> None:
    runs = []
    for i in range(args.repeats):
        runs.append(await one(args))
        print(f"repeat {i + 1}: pods alone {runs[-1][0]:.3f} cores; scraped: pods {runs[-1][1]:.3f}, "
              f"router {runs[-1][2]:.3f}, Envoy {runs[-1][3]:.3f}", flush=True)
    med = [statistics.median(r[k] for r in runs) for k in range(4)]
    scrapes = args.pods / RouterSettings.scrape_interval  # per second: `igw run` scrapes at its default
    print(f"\n{args.pods} idle {args.profile} pods, medians of {args.repeats} ({args.seconds:g} s each):")
    print(f"pods alone             {med[0]:.3f} cores")
    print(f"pods, scraped          {med[1]:.3f} cores  ({(med[1] - med[0]) / scrapes * 1e6:.0f} µs per scrape)")
    print(f"router process         {med[2]:.3f} cores  ({med[2] / scrapes * 1e6:.0f} µs per scrape, all idle work)")
    print(f"its Envoy              {med[3]:.3f} cores")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pods", type=int, default=8)
    p.add_argument("--profile", default="h100-8b")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--repeats", type=int, default=3)
    asyncio.run(main_async(p.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
