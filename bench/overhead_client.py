"""The load client of `make bench-overhead`, in its own process: POSTs one body to a URL,
`concurrency` at a time, for `duration` seconds or `count` requests, reading each response to
its end (a stream to its last event). Prints one JSON line: requests, errors, elapsed,
req/s, and latency p50/p99 in ms.

    python -P -m inference_gateway.bench.overhead_client URL BODY_FILE CONCURRENCY (--duration S | --count N)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import aiohttp


async def run(url: str, body: bytes, concurrency: int, duration: float | None, count: int | None) -> dict:
    lat: list[float] = []
    errors = 0
    remaining = count if count is not None else 1 << 62
    end = time.monotonic() + (duration if duration is not None else 3600.0)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency), timeout=timeout) as s:
        async def worker() -> None:
            nonlocal errors, remaining
            while remaining > 0 and time.monotonic() < end:
                remaining -= 1
                t = time.perf_counter()
                async with s.post(url, data=body, headers={"content-type": "application/json"}) as r:
                    async for _ in r.content.iter_any():
                        pass
                    errors += r.status != 200
                lat.append(time.perf_counter() - t)

        start = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.monotonic() - start
    lat.sort()
    n = len(lat)
    return {"requests": n, "errors": errors, "elapsed": elapsed, "rps": n / elapsed if elapsed else 0.0,
            "p50": lat[n // 2] * 1000 if n else float("nan"),
            "p99": lat[min(n - 1, int(n * 0.99))] * 1000 if n else float("nan")}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("body_file")
    p.add_argument("concurrency", type=int)
    p.add_argument("--duration", type=float)
    p.add_argument("--count", type=int)
    a = p.parse_args()
    result = asyncio.run(run(a.url, Path(a.body_file).read_bytes(), a.concurrency, a.duration, a.count))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
