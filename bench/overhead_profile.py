"""Where the router's CPU goes under `make bench-overhead`'s sustained load, and what a changed
event loop buys: developer aids for issue 15, outside `make bench-overhead`.

    python -P bench/overhead_profile.py split [--seconds 8]
        py-spy (`pip install py-spy`, not a project dependency) samples the gateway process
        while 32 connections send short requests; samples are split into grpc.aio's machinery,
        our code, and idle. Run it with `IGW_ASYNCIO=1`: on uvloop the loop, grpc.aio's
        callbacks and the epoll wait all run in C under one Python frame, and cannot be told
        apart without native stacks.
    python -P bench/overhead_profile.py uvloop [--rounds 5] [--seconds 5]
        the gateway on asyncio's loop (`IGW_ASYNCIO=1`) and on uvloop (as `igw run` serves,
        cli/event_loop.py), a fresh gateway per run, alternating: req/s and the gateway
        process's CPU per request (idle not subtracted), medians.
    python -P bench/overhead_profile.py env "NAME=VALUE[;NAME=VALUE…]" … [--rounds 5]
        the same A/B for environment settings of the gateway process (e.g. gRPC's
        `GRPC_EXPERIMENTS`), each against the gateway as it is, alternating.

Both use the setups of bench/overhead_setups.py on loopback 127.15.0.x.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from inference_gateway.bench.overhead import chat_body
from inference_gateway.bench.overhead_setups import Proc, client, router_cpu_seconds, start_gateway
from inference_gateway.operator.ports import free_port

HOST = "127.15.0.2"
EXTPROC = Path(__file__).resolve().parent.parent / "router" / "extproc.py"


def _category(frames: list[str], extproc_lines: list[str]) -> str:
    """One py-spy stack (root first) → where its CPU went."""
    leaf = frames[-1]
    if re.search(r"EpollSelector\.select|Condition\.wait|Event\.wait", leaf):
        return "idle (epoll, the log flusher's wait)"
    m = re.match(r"ExtProcService\.Process \(.*extproc\.py:(\d+)\)", leaf)
    if m and re.search(r"await (read|write)\(", extproc_lines[int(m.group(1)) - 1]):
        return "grpc.aio: inside context.read()/write() (C core, Cython)"
    if leaf.startswith(("Handle._run (asyncio/events.py", "Thread.run (threading.py")) or "isawaitable" in leaf:
        return "grpc.aio: Cython callbacks on the loop, its poller thread"
    if any("router/" in f or "structlog" in f or "json/" in f for f in frames):
        return "ours: parsing, decision, logging, the stream handler"
    return "asyncio's loop, other"


def split(args: argparse.Namespace, work: Path, upstream: tuple[str, int], short: Path) -> None:
    spy = shutil.which("py-spy")
    if spy is None:
        sys.exit("py-spy not found: pip install py-spy")
    gw, port, _, _ = start_gateway(work, upstream, 1, "info")
    raw = work / "spy.txt"
    try:
        url = f"http://127.0.0.1:{port}"
        client(url, short, 4, count=200)
        rec = subprocess.Popen([spy, "record", "-p", str(gw.pid), "-d", str(int(args.seconds) + 1), "-r", "200",
                                "-f", "raw", "-o", str(raw), "--nonblocking"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        before = router_cpu_seconds(gw.pid)
        r = client(url, short, 32, duration=args.seconds)
        used = router_cpu_seconds(gw.pid) - before
        rec.wait(60)
    finally:
        gw.stop()
    lines = EXTPROC.read_text().splitlines()
    cats: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        cats[_category(stack.split(";"), lines)] += int(n)
    total = sum(cats.values())
    print(f"{r['rps']:.0f} req/s, gateway process CPU {used / r['requests'] * 1e6:.0f} µs/req (idle included); "
          f"{total} py-spy samples:")
    for name, n in cats.most_common():
        print(f"{100 * n / total:5.1f}%  {name}")


def _variants(args: argparse.Namespace) -> dict[str, dict[str, str]]:
    """Name → the environment the gateway process gets on top of this one."""
    if args.what == "uvloop":
        return {"asyncio": {"IGW_ASYNCIO": "1"}, "uvloop": {"IGW_ASYNCIO": ""}}
    out: dict[str, dict[str, str]] = {"as is": {}}
    for spec in args.settings:
        out[spec] = dict(item.split("=", 1) for item in spec.split(";"))
    return out


def ab(args: argparse.Namespace, work: Path, upstream: tuple[str, int], short: Path) -> None:
    variants = _variants(args)
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name in results:
            env = dict(os.environ)
            os.environ.update(variants[name])
            try:
                gw, port, _, _ = start_gateway(work, upstream, 1, "info")
            finally:
                os.environ.clear()
                os.environ.update(env)
            try:
                url = f"http://127.0.0.1:{port}"
                client(url, short, 4, count=200)
                before = router_cpu_seconds(gw.pid)
                r = client(url, short, 32, duration=args.seconds)
                cpu = (router_cpu_seconds(gw.pid) - before) / r["requests"] * 1e6
            finally:
                gw.stop()
            results[name].append((r["rps"], cpu))
            print(f"{name}: {r['rps']:.0f} req/s, {cpu:.0f} µs/req, {r['errors']} errors", flush=True)
    for name, runs in results.items():
        print(f"{name:30} median {statistics.median(x[0] for x in runs):.0f} req/s, "
              f"{statistics.median(x[1] for x in runs):.0f} µs/req (runs: {', '.join(f'{x[1]:.0f}' for x in runs)})")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=["split", "uvloop", "env"])
    p.add_argument("settings", nargs="*", help="env: one variant per argument, NAME=VALUE[;NAME=VALUE…]")
    p.add_argument("--seconds", type=float, default=None)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    args.seconds = args.seconds or (8.0 if args.what == "split" else 5.0)
    work = Path(tempfile.mkdtemp(prefix="igw-overhead-profile-"))
    upstream = (HOST, free_port(HOST))
    short = work / "short.json"
    short.write_bytes(chat_body())
    up = Proc([sys.executable, "-P", "-m", "inference_gateway.bench.overhead_upstream", *map(str, upstream)])
    try:
        (split if args.what == "split" else ab)(args, work, upstream, short)
    finally:
        up.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"processes left running after a setup was stopped: {', '.join(Proc.leftovers) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
