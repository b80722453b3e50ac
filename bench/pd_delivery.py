"""Prefill/decode delivery, measured both ways: Envoy mirrors the prefill request, or the router
posts it itself. Same pods, same requests, one run; prints a table.

    .venv/bin/python -P bench/pd_delivery.py [--requests 400] [--concurrency 16]

The gateway runs as `igw run --manifests` in its own process, so the router's CPU per request
is read from /proc for that process alone (Envoy is a separate process, the client is this one).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from inference_gateway.bench.probes import process_cpu_seconds as cpu_seconds
from inference_gateway.operator.ports import free_port
from inference_gateway.cli.sim_fleet import SimFleet

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ROLE = "rolebasedgroup.workloads.x-k8s.io/role"
BACKEND = {"alibabacloud.com/inference_backend": "sglang"}


async def wait_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise TimeoutError(f"gateway port {port} did not open")


async def drive(url: str, n: int, concurrency: int) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while not queue.empty():  # bounded: n requests in all
            i = queue.get_nowait()
            body = {"model": "/models/Qwen3-32B", "max_tokens": 8,
                    "messages": [{"role": "user", "content": f"conversation {i % 32}: " + "context " * 200}]}
            started = time.perf_counter()
            async with session.post(url, json=body) as resp:
                await resp.read()
                if resp.status != 200:
                    errors += 1
            latencies.append(time.perf_counter() - started)

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return latencies, errors


async def measure(mode: str, prefill: SimFleet, decode: SimFleet, args: argparse.Namespace, work: Path) -> dict:
    listen = free_port()
    d = work / mode
    d.mkdir()
    pool = (EXAMPLES / "prefix-cache" / "sglang-pd.yaml").read_text()
    (d / "pool.yaml").write_text(pool.replace("targetPortNumber: 8000", f"targetPortNumber: {prefill.port}"))
    (d / "gateway.yaml").write_text((EXAMPLES / "gateway.yaml").read_text().replace("port: 8080", f"port: {listen}"))
    (d / "pods.yaml").write_text(prefill.pods_yaml() + "---\n" + decode.pods_yaml())
    igw = Path(sys.executable).parent / "igw"
    proc = subprocess.Popen([str(igw), "--log-level", "warning", "run", "--manifests", str(d), "--pd-delivery", mode,
                             "--ext-proc-port", str(free_port()), "--health-port", "0", "--metrics-port", "0",
                             "--xds-port", str(free_port()), "--admin-port", str(free_port()),
                             "--envoy-concurrency", "1", "--no-usage-metrics"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await wait_port(listen)
        url = f"http://127.0.0.1:{listen}/v1/chat/completions"
        await drive(url, 40, 4)  # warm-up
        cpu0 = cpu_seconds(proc.pid)
        started = time.perf_counter()
        latencies, errors = await drive(url, args.requests, args.concurrency)
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(proc.pid) - cpu0
    finally:
        proc.terminate()
        proc.wait(10)
    latencies.sort()
    return {"mode": mode, "rps": args.requests / elapsed, "p50": statistics.median(latencies) * 1000,
            "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000, "errors": errors,
            "cpu_us": cpu / args.requests * 1e6}


async def main(args: argparse.Namespace) -> int:
    port = free_port("127.0.0.70")
    common = ["--time-scale", str(args.time_scale)]
    prefill = SimFleet(2, {**BACKEND, ROLE: "prefill"}, "sglang-prefill", "sglang", first_ip=70, port=port,
                       extra_args=["--role", "prefill", "--bootstrap-port", "34000", *common])
    decode = SimFleet(2, {**BACKEND, ROLE: "decode"}, "sglang-decode", "sglang", first_ip=72, port=port,
                      extra_args=["--role", "decode", *common])
    await prefill.start()
    await decode.start()
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for mode in ("mirror", "router"):
                rows.append(await measure(mode, prefill, decode, args, Path(tmp)))
    finally:
        await decode.stop()
        await prefill.stop()
    print(f"prefill/decode delivery: {args.requests} requests, concurrency {args.concurrency}, "
          f"2 prefill + 2 decode simulated SGLang pods (time scale {args.time_scale})")
    print(f"{'delivery':10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'router CPU/req':>15}")
    for r in rows:
        print(f"{r['mode']:10} {r['rps']:8.1f} {r['p50']:8.1f} {r['p99']:8.1f} {r['errors']:7d} {r['cpu_us']:12.0f} µs")
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--time-scale", type=float, default=0.1)
    sys.exit(asyncio.run(main(parser.parse_args())))
