"""Bytes per block of the prefix index, alone in a process: what the router's RSS grows by
while its index fills, and after, once churn has resized its tables.

Feeds the soak's kind of prompts (200 conversations, 20-120 random words) into a PrefixIndex
of 4 pods × 28,125 blocks (the soak's capacity: 112,500 blocks), picking the pod that holds
the longest prefix 80% of the time, and prints the process's RSS growth per block held. glibc's
mmap threshold is pinned and the heap trimmed before each reading, as the router does
(router/allocator.py), so freed memory is not counted; `--glibc-defaults` leaves both alone,
to show what they save. Deterministic (seeded); ~5 s.

    .venv/bin/python -P bench/index_memory.py [--glibc-defaults]
"""

from __future__ import annotations

import argparse
import gc
import random

from inference_gateway.router import allocator
from inference_gateway.router.prefix_index import PrefixIndex, block_hashes

WORDS = "the router learns which pod holds each prompt prefix and sends the next turn there".split()
PODS = [f"127.14.0.{i}:8000" for i in range(2, 6)]
CAPACITY = 28_125
READINGS = (10_000, 20_000, 40_000, 100_000)


def rss_mb() -> float:
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20


def prompt(rng: random.Random) -> str:
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(20, 120)))
    return f"system: conversation {rng.randrange(200)}: be brief.\nuser: {words}"


def main(housekeeping: bool) -> None:
    trim = allocator.trim if housekeeping else (lambda: False)
    if housekeeping:
        allocator.pin_mmap_threshold()
    rng = random.Random(2)
    index = PrefixIndex()
    for pod in PODS:
        index.set_capacity(pod, CAPACITY)
    gc.disable()  # the index holds no cycles; keeps the readings steady
    trim()
    base = rss_mb()
    print(f"{'requests':>9}{'blocks held':>13}{'index MB':>10}{'bytes/block':>13}")
    for n in range(1, READINGS[-1] + 1):
        hashes = block_hashes(prompt(rng), "/models/Qwen3-32B")
        matched = index.match(hashes)
        pod = max(matched, key=matched.get) if matched and rng.random() < 0.8 else rng.choice(PODS)
        index.record(pod, hashes)
        if n in READINGS:
            trim()
            grown = rss_mb() - base
            print(f"{n:>9}{len(index):>13}{grown:>10.1f}{grown * 2**20 / len(index):>13.0f}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--glibc-defaults", action="store_true", help="no pinned mmap threshold, no malloc_trim")
    main(not p.parse_args().glibc_defaults)
