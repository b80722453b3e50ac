"""`make bench-soak`: the gateway under steady load for a long time; does anything grow?

Starts simulated vLLM pods and `igw run` (router + Envoy, as a user runs them) on 127.4.1.x,
measures the gateway's capacity (closed loop, `--probe-seconds`), then sends an open-loop load
at `--load` × that capacity for `--minutes`. Every 10 s it samples the RSS and open file
descriptors of the router process and of Envoy, and the size of the router's prefix index. It
prints requests, errors (by status), shed rate, goodput, latency p50/p99, RSS and fds at start,
at minute 2 (or a fifth of a shorter run), when the prefix index reached its capacity, and at
the end, and the RSS growth from minute 2 and from the full index to the end. The router's RSS
is split into glibc's brk heap and its anonymous mappings (/proc/PID/smaps): the prefix index
lives in the mappings (pymalloc arenas, its big dict tables) and grows by design until it holds
its capacity, at a pace set by the load and the routing; a heap that keeps growing is a leak in
memory allocated in C.

    .venv/bin/python -P bench/soak.py                 # 10 minutes at 70% of capacity
    .venv/bin/python -P bench/soak.py --minutes 3     # shorter
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import statistics
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from inference_gateway.operator.children import spawn, stop_child
from inference_gateway.operator.ports import free_port
from inference_gateway.cli.sim_fleet import SimFleet

REPO = Path(__file__).resolve().parents[1]
NETWORK = "127.4.1"
GATEWAY_IP = f"{NETWORK}.1"
MODEL = "/models/Qwen3-32B"
LABELS = {"alibabacloud.com/inference-workload": "vllm-inference"}
SAMPLE_EVERY = 10.0
MAX_CONNECTIONS = 256
WORDS = "the router learns which pod holds each prompt prefix and sends the next turn there".split()


def proc_rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def rss_parts_mb(pid: int) -> tuple[float, float]:
    """Resident MB of the process's brk heap (glibc's main arena, where freed holes stay
    resident) and of its anonymous mappings (pymalloc arenas, big blocks, threads' arenas)."""
    heap = anon = 0
    name = ""
    for line in open(f"/proc/{pid}/smaps"):
        first, _, rest = line.partition(" ")
        if not first.endswith(":"):  # a mapping's header: address perms offset dev inode [name]
            fields = rest.split()
            name = fields[4] if len(fields) > 4 else ""
        elif first == "Rss:":
            kb = int(rest.split()[0])
            if name == "[heap]":
                heap += kb
            elif not name:
                anon += kb
    return heap / 1024, anon / 1024


def proc_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def child_pids(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                out.append(int(entry))
    return out


@dataclass
class Sample:
    t: float
    router_rss: float
    router_fds: int
    envoy_rss: float
    envoy_fds: int
    index_blocks: int  # the router's prefix index: it grows to its capacity, then holds
    router_heap: float = 0.0  # of router_rss: glibc's brk heap
    router_anon: float = 0.0  # of router_rss: anonymous mappings


def index_blocks(metrics_url: str) -> int:
    """The router's `inference_extension_prefix_indexer_size` (blocks held, all pods)."""
    try:
        text = urllib.request.urlopen(metrics_url, timeout=2).read().decode()
    except OSError:
        return -1
    for line in text.splitlines():
        if line.startswith("inference_extension_prefix_indexer_size "):
            return int(float(line.split()[1]))
    return -1


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: collections.Counter = field(default_factory=collections.Counter)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())


def body(rng: random.Random) -> dict:
    conversation = rng.randrange(200)  # shared prefixes, as conversations have
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(20, 120)))
    b = {"model": MODEL, "max_tokens": 8,
         "messages": [{"role": "system", "content": f"conversation {conversation}: be brief."},
                      {"role": "user", "content": text}]}
    if rng.random() < 0.5:
        b |= {"stream": True, "stream_options": {"include_usage": True}}
    return b


async def one(session: aiohttp.ClientSession, url: str, payload: dict, tally: Tally,
              started: float | None = None) -> None:
    """One request; its latency counts from `started` (its scheduled time, open loop)."""
    started = time.perf_counter() if started is None else started
    try:
        async with session.post(url, json=payload) as resp:
            await resp.read()
            status = str(resp.status)
    except (aiohttp.ClientError, asyncio.TimeoutError) as err:
        status = type(err).__name__
    tally.statuses[status] += 1
    if status == "200":
        tally.latencies.append(time.perf_counter() - started)


async def closed_loop(url: str, seconds: float, concurrency: int) -> float:
    """Requests/s the gateway completes with `concurrency` clients back to back."""
    tally, rng = Tally(), random.Random(1)
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def worker() -> None:
            while time.monotonic() < deadline:
                await one(session, url, body(rng), tally)
        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return tally.statuses["200"] / (time.monotonic() - started)


async def open_loop(url: str, rate: float, seconds: float, sample) -> tuple[Tally, float]:  # type: ignore[no-untyped-def]
    """`rate` requests/s on schedule whatever the answers do (Poisson arrivals). At most
    MAX_CONNECTIONS are open: beyond that requests wait in the client, and that wait counts in
    their latency (it is measured from the scheduled time)."""
    tally, rng = Tally(), random.Random(2)
    tasks: set[asyncio.Task] = set()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS),
                                     timeout=aiohttp.ClientTimeout(total=60)) as session:
        started = time.monotonic()
        next_at, next_sample = started, started
        while (now := time.monotonic()) < started + seconds:
            if now >= next_sample:
                sample(now - started)
                next_sample += SAMPLE_EVERY
            while next_at <= now:
                scheduled = time.perf_counter() - (now - next_at)
                task = asyncio.create_task(one(session, url, body(rng), tally, scheduled))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                next_at += rng.expovariate(rate)
            await asyncio.sleep(min(next_at, next_sample) - time.monotonic())
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - started
    sample(elapsed)
    return tally, elapsed


def manifests(directory: Path, fleet: SimFleet, port: int) -> None:
    examples = REPO / "examples"
    (directory / "pool.yaml").write_text((examples / "prefix-cache" / "vllm-single.yaml").read_text()
                                         .replace("targetPortNumber: 8000", f"targetPortNumber: {fleet.port}"))
    (directory / "gateway.yaml").write_text((examples / "gateway.yaml").read_text()
                                            .replace("port: 8080", f"port: {port}"))
    (directory / "pods.yaml").write_text(fleet.pods_yaml())


async def wait_listening(port: int, proc: asyncio.subprocess.Process, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.returncode is not None:
            raise RuntimeError(f"igw run exited with {proc.returncode}")
        try:
            _, writer = await asyncio.open_connection(GATEWAY_IP, port)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError("the gateway never listened") from None
            await asyncio.sleep(0.2)


def report(args: argparse.Namespace, capacity: float, rate: float, tally: Tally, elapsed: float,
           samples: list[Sample]) -> None:
    ok = tally.statuses["200"]
    shed = tally.statuses["429"]
    errors = tally.requests - ok
    lat = sorted(tally.latencies)
    pct = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000) if lat else (lambda q: float("nan"))
    base_t = min(120.0, elapsed / 5)
    start, end = samples[0], samples[-1]
    base = min(samples, key=lambda s: abs(s.t - base_t))
    # The prefix index fills at a rate set by the load (unique prompt blocks per second) and
    # then holds at its capacity: growth is judged from then too.
    full = next((s for s in samples if s.index_blocks >= 0.99 * end.index_blocks), end)
    # An index still growing at the last samples has not filled: no growth is judged from it.
    filled = end.t - full.t >= 20
    print(f"\nsoak: {elapsed / 60:.1f} min at {rate:.0f} req/s ({args.load:.0%} of the {capacity:.0f} req/s measured "
          f"closed-loop), {args.pods} simulated vLLM pods; shared 2-core machine")
    print(f"requests {tally.requests}, ok {ok}, errors {errors} "
          f"({', '.join(f'{k}: {v}' for k, v in tally.statuses.items() if k != '200') or 'none'}), "
          f"shed (429) {shed / max(1, tally.requests):.2%}, goodput {ok / elapsed:.0f} req/s")
    print(f"latency p50 {pct(0.50):.1f} ms, p99 {pct(0.99):.1f} ms")
    print(f"{'':12}{'t (s)':>8}{'router RSS MB':>15}{'(heap':>7}{'anon)':>7}{'router fds':>12}{'envoy RSS MB':>14}"
          f"{'envoy fds':>11}{'index blocks':>14}")
    rows = sorted([("start", start), ("minute 2", base)] + ([("index full", full)] if filled else []) + [("end", end)],
                  key=lambda row: row[1].t)
    for name, s in rows:
        print(f"{name:12}{s.t:>8.0f}{s.router_rss:>15.1f}{s.router_heap:>7.1f}{s.router_anon:>7.1f}{s.router_fds:>12}"
              f"{s.envoy_rss:>14.1f}{s.envoy_fds:>11}{s.index_blocks:>14}")
    if not filled:
        print("the prefix index was still growing at the end: run longer to see it hold")
    for name, b in [(f"minute 2 (t={base.t:.0f}s)", base)] + [(f"the index full (t={full.t:.0f}s)", full)] * filled:
        print(f"RSS growth from {name} to the end: router {(end.router_rss - b.router_rss) / b.router_rss:+.1%}, "
              f"envoy {(end.envoy_rss - b.envoy_rss) / b.envoy_rss:+.1%}")


async def main(args: argparse.Namespace) -> int:
    fleet = SimFleet(count=args.pods, labels=LABELS, port=free_port(f"{NETWORK}.2"), subnet=NETWORK, first_ip=2)
    workdir = Path(tempfile.mkdtemp(prefix="igw-soak-"))
    port, metrics_port = free_port(GATEWAY_IP), free_port(GATEWAY_IP)
    proc = None
    await fleet.start()
    try:
        manifests(workdir, fleet, port)
        log = open(workdir / "igw.log", "wb")
        proc = await spawn(
            sys.executable, "-P", "-m", "inference_gateway.cli.main", "run", "--manifests", str(workdir),
            "--listen-address", GATEWAY_IP, "--router-host", GATEWAY_IP, "--ext-proc-port", str(free_port(GATEWAY_IP)),
            "--health-port", "0", "--metrics-port", str(metrics_port), "--xds-port", str(free_port()),
            "--admin-port", str(free_port()), "--envoy-concurrency", "1",
            stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        await wait_listening(port, proc)
        envoys = child_pids(proc.pid)
        assert len(envoys) == 1, f"expected one Envoy child of igw run, found {envoys}"
        envoy = envoys[0]
        url = f"http://{GATEWAY_IP}:{port}/v1/chat/completions"
        metrics_url = f"http://{GATEWAY_IP}:{metrics_port}/metrics"
        capacity = await closed_loop(url, args.probe_seconds, args.concurrency)
        rate = capacity * args.load
        samples: list[Sample] = []

        def sample(t: float) -> None:
            samples.append(Sample(t, proc_rss_mb(proc.pid), proc_fds(proc.pid), proc_rss_mb(envoy), proc_fds(envoy),
                                  index_blocks(metrics_url), *rss_parts_mb(proc.pid)))
            s = samples[-1]
            print(f"  t={t:5.0f}s router {s.router_rss:6.1f} MB (heap {s.router_heap:.1f}, anon {s.router_anon:.1f}) "
                  f"{s.router_fds} fds, "
                  f"envoy {s.envoy_rss:6.1f} MB {s.envoy_fds} fds, index {s.index_blocks} blocks", flush=True)

        print(f"capacity {capacity:.0f} req/s closed-loop at {args.concurrency} clients; "
              f"soaking at {rate:.0f} req/s for {args.minutes} min", flush=True)
        tally, elapsed = await open_loop(url, rate, args.minutes * 60, sample)
        report(args, capacity, rate, tally, elapsed, samples)
        return 0
    finally:
        await stop_child(proc, grace=10)
        await fleet.stop()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0, help="soak duration (default 10)")
    p.add_argument("--load", type=float, default=0.7, help="fraction of the measured capacity (default 0.7)")
    p.add_argument("--pods", type=int, default=4, help="simulated vLLM pods (default 4)")
    p.add_argument("--probe-seconds", type=float, default=15.0, help="capacity probe duration (default 15)")
    p.add_argument("--concurrency", type=int, default=32, help="clients of the capacity probe (default 32)")
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
