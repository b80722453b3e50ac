"""Where the router's memory goes, measured in process: Python objects or the allocator?

Runs the gateway in this process (router + a real Envoy child) on 2 simulated pods and sends
rounds of 2,500 chat requests with unique prompts. After each round it prints the prefix
index's size, this process's RSS, the live pymalloc blocks (`sys.getallocatedblocks()`, Python
objects alive), the objects the cyclic collector tracks, and glibc's own account
(`mallinfo2()`: bytes malloc'd and in use, in arenas and in mmapped blocks, and bytes free but
kept in its arenas: live C/large allocations vs fragmentation). `--tracemalloc` also prints
the 12 source lines whose live allocations grew most between the second round and the last.
`--distinct 500` draws the prompts from 500, so the prefix index stops growing after the first
round and whatever still grows is not the index. At the end it unfreezes the heap
and counts the garbage that the periodic gc.freeze() had frozen (the leak fixed in
router/server.py: 8 objects per request before the fix, 0 after).

    .venv/bin/python -P bench/heap_growth.py [--rounds 14] [--tracemalloc] [--distinct 500]

RSS includes the load client, which runs in this process too.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import random
import sys
import tempfile
import tracemalloc
from pathlib import Path

import aiohttp

from inference_gateway.cli.sim_fleet import SimFleet
from inference_gateway.cli.standalone import Standalone, StandaloneSettings
from inference_gateway.operator.ports import free_port
from inference_gateway.router import allocator
from inference_gateway.router.logs import configure
from inference_gateway.router.server import RouterSettings

REPO = Path(__file__).resolve().parents[1]
SUBNET = "127.4.5"
HOST = f"{SUBNET}.1"
LABELS = {"alibabacloud.com/inference-workload": "vllm-inference"}
WORDS = "the router learns which pod holds each prompt prefix and sends the next turn there".split()
ROUND = 2500


def rss_mb() -> float:
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 1024 / 1024


def malloc_mb() -> tuple[float, float]:
    """glibc: (MB allocated and in use, arenas + mmapped blocks; MB free inside its arenas)."""
    got = allocator.usage()
    return (got[0] / 2**20, got[1] / 2**20) if got else (float("nan"), float("nan"))


def frozen_garbage() -> collections.Counter:
    """Unfreeze, collect, and count what was garbage (by type)."""
    gc.set_debug(gc.DEBUG_SAVEALL)
    gc.unfreeze()
    gc.collect()
    kinds = collections.Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.garbage)
    gc.set_debug(0)
    gc.garbage.clear()
    return kinds


async def main(rounds: int, trace: bool, distinct: int) -> None:
    configure("warning")
    work = Path(tempfile.mkdtemp(prefix="igw-heap-"))
    fleet = SimFleet(count=2, labels=LABELS, port=free_port(f"{SUBNET}.2"), subnet=SUBNET,
                     extra_args=["--time-scale", "0.01"])
    await fleet.start()
    port = free_port(HOST)
    examples = REPO / "examples"
    (work / "pool.yaml").write_text((examples / "prefix-cache" / "vllm-single.yaml").read_text()
                                    .replace("targetPortNumber: 8000", f"targetPortNumber: {fleet.port}"))
    (work / "gateway.yaml").write_text((examples / "gateway.yaml").read_text().replace("port: 8080", f"port: {port}"))
    (work / "pods.yaml").write_text(fleet.pods_yaml())
    gateway = Standalone(StandaloneSettings(
        manifests=[work], listen_address=HOST, xds_port=free_port(), admin_port=free_port(), envoy_concurrency=1,
        workdir=work / "envoy", router=RouterSettings(host=HOST, ext_proc_port=free_port(HOST), health_port=0,
                                                      metrics_port=0, log_requests=False)))
    rng = random.Random(3)
    try:
        await gateway.start()
        url = f"http://{HOST}:{port}/v1/chat/completions"
        async with aiohttp.ClientSession() as session:
            gate = asyncio.Semaphore(16)

            texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randrange(20, 120))) for _ in range(distinct)]

            async def one() -> int:
                text = rng.choice(texts) if texts else " ".join(rng.choice(WORDS) for _ in range(rng.randrange(20, 120)))
                body = {"model": "/models/Qwen3-32B", "max_tokens": 2, "messages": [{"role": "user", "content": text}]}
                async with gate, session.post(url, json=body) as resp:
                    await resp.read()
                    return resp.status

            print(f"{'requests':>9}{'index blocks':>14}{'RSS MB':>9}{'pymalloc blocks':>17}{'gc objects':>12}"
                  f"{'malloc used MB':>16}{'malloc free MB':>16}")
            if trace:
                tracemalloc.start(8)
            first = None
            for n in range(1, rounds + 1):
                statuses = await asyncio.gather(*(one() for _ in range(ROUND)))
                assert set(statuses) == {200}, collections.Counter(statuses)
                gc.collect()
                used, free = malloc_mb()
                print(f"{n * ROUND:>9}{len(gateway.router.prefix_index):>14}{rss_mb():>9.1f}"
                      f"{sys.getallocatedblocks():>17}{len(gc.get_objects()):>12}{used:>16.1f}{free:>16.1f}",
                      flush=True)
                if trace and n == 2:
                    first = tracemalloc.take_snapshot()
        if first is not None:
            print(f"live allocations grown most from request {2 * ROUND} to {rounds * ROUND} (tracemalloc):")
            for stat in tracemalloc.take_snapshot().compare_to(first, "lineno")[:12]:
                print(f"  {stat}")
        garbage = frozen_garbage()
        print(f"frozen garbage after {rounds * ROUND} requests: {sum(garbage.values())} objects "
              f"({sum(garbage.values()) / (rounds * ROUND):.2f} per request); {garbage.most_common(4)}")
    finally:
        await gateway.stop()
        await fleet.stop()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=14, help=f"rounds of {ROUND} requests (default 14)")
    p.add_argument("--tracemalloc", action="store_true", help="trace Python allocations (slower)")
    p.add_argument("--distinct", type=int, default=0,
                   help="draw prompts from this many (the index stops growing: growth is elsewhere); 0: all unique")
    args = p.parse_args()
    asyncio.run(main(args.rounds, args.tracemalloc, args.distinct))
