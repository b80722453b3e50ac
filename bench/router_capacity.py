"""One router's sustained requests per second, then and now, side by side on this machine
(issue 15: "one router pod sustains ≥ 3× today's requests per second").

The gateway of an older commit (`--then`, default 905f6a3: the code of the day issue 15 was
filed, started by that commit's own `bench/overhead.py --serve-gateway` from a `git archive`
of it, on this checkout's dependencies) and the gateway of this checkout take the same load:
short non-streamed chat requests from `--connections` connections for `--duration` seconds,
from `make bench-overhead`'s client to its upstream, each gateway with one router and one
Envoy worker, in alternating rounds (then, now, then, now, …). Each gateway is measured twice:
- shared: every process may run on every core, as `make bench-overhead` runs;
- pinned: the router (the gateway process and its threads; Envoy is a child of its own) alone
  on core 1, and Envoy, the upstream and the client on core 0: one router pod with a core of
  its own, as a Kubernetes pod with a CPU request of 1 has.
Per run: req/s, the router's CPU per request (its idle rate, scraping and xDS, subtracted) and
each core's busy share while the load ran, which tells whether the router's core or the other
side was the limit. Then medians over the rounds and now ÷ then.

    python -P bench/router_capacity.py [--then 905f6a3] [--rounds 3] [--duration 6] [--connections 32]

Needs git history (a clone, not an export) for `--then`, and 2 or more CPUs for the pinned runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from inference_gateway.bench.overhead import chat_body
from inference_gateway.bench.overhead_setups import (
    Proc, _alive, client, router_cpu_seconds, start_gateway, wait_port,
)
from inference_gateway.bench.probes import _descendants, per_cpu
from inference_gateway.operator.ports import free_port

REPO = Path(__file__).resolve().parents[1]
THEN = "905f6a3"  # the last commit before issue 15 was filed (2026-11-25)
# The top-level directories the package maps into one namespace (pyproject.toml's package-dir).
PACKAGE_DIRS = ("operator", "router", "simulator", "bench", "cli")
ROUTER_CORE, OTHERS_CORE = 1, 0
IDLE_SECONDS = 2.0


def export_commit(ref: str, into: Path) -> Path:
    """`ref`'s tree under `into`/src, importable as `inference_gateway` from `into`/pkg; returns
    the PYTHONPATH entry."""
    src, pkg = into / "src", into / "pkg" / "inference_gateway"
    src.mkdir(parents=True)
    pkg.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref], capture_output=True, timeout=120)
    if archive.returncode != 0:
        raise SystemExit(f"git archive {ref} failed (this needs a clone with history): "
                         f"{archive.stderr.decode(errors='replace')[-500:]}")
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive.stdout, check=True, timeout=120)
    for name in PACKAGE_DIRS:
        if (src / name).is_dir():
            (pkg / name).symlink_to(src / name)
    return into / "pkg"


def _then_env(pythonpath: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(pythonpath)}


def start_then_gateway(workdir: Path, pythonpath: Path, upstream: tuple[str, int]) -> tuple[Proc, int]:
    """The older commit's gateway, started the way its own `make bench-overhead` started it."""
    listen = free_port()
    d = workdir / f"then-{listen}"
    d.mkdir()
    manifests = subprocess.run(
        [sys.executable, "-P", "-c", "import sys\nfrom inference_gateway.bench.overhead import gateway_manifests\n"
         "print(gateway_manifests(int(sys.argv[1]), (sys.argv[2], int(sys.argv[3])), 'PREFIX_CACHE'))",
         str(listen), upstream[0], str(upstream[1])],
        capture_output=True, text=True, env=_then_env(pythonpath), timeout=60, check=True).stdout
    (d / "m.yaml").write_text(manifests)
    src = pythonpath.parent / "src"
    proc = Proc([sys.executable, "-P", str(src / "bench" / "overhead.py"), "--serve-gateway", str(d / "m.yaml"),
                 "--envoy-concurrency", "1", "--log-level", "info"], env=_then_env(pythonpath))
    wait_port("127.0.0.1", listen)
    time.sleep(0.5)  # a scrape or two, so the pod is known to be idle
    return proc, listen


def stop_then_gateway(proc: Proc) -> None:
    """Envoy first, by PID: the older gateway exits on SIGTERM without stopping its Envoy
    (today's stops its own, and would restart one that exits first)."""
    envoys = [pid for pid in _descendants(proc.pid) if pid != proc.pid and _is_envoy(pid)]
    for pid in envoys:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while any(_is_envoy(pid) for pid in envoys) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.stop()  # the gateway; anything of its tree still alive is killed by PID and reported


def _is_envoy(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip() == "envoy" and _alive(pid)
    except OSError:
        return False


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of one process onto `cpus` (threads started later inherit it)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return
    for task in tasks:
        try:
            os.sched_setaffinity(int(task), cpus)
        except OSError:
            pass  # a thread that just ended


def pin_gateway(gateway_pid: int) -> None:
    """The router (the gateway process and its non-Envoy children) on its own core, Envoy on
    the other."""
    for pid in _descendants(gateway_pid):
        pin(pid, {OTHERS_CORE} if _is_envoy(pid) else {ROUTER_CORE})


def measure(gateway_pid: int, url: str, body: Path, args: argparse.Namespace) -> dict[str, float]:
    """Sustained load on one gateway: req/s, router CPU per request (idle rate subtracted),
    each core's busy share."""
    client(url, body, 4, count=200)  # warm-up: caches, first-use imports
    before, t = router_cpu_seconds(gateway_pid), time.monotonic()
    time.sleep(IDLE_SECONDS)
    idle_rate = (router_cpu_seconds(gateway_pid) - before) / (time.monotonic() - t)
    cores0, before, t = per_cpu(), router_cpu_seconds(gateway_pid), time.monotonic()
    r = client(url, body, args.connections, duration=args.duration)
    used = router_cpu_seconds(gateway_pid) - before - idle_rate * (time.monotonic() - t)
    cores1 = per_cpu()
    busy = {cpu: (cores1[cpu][0] - cores0[cpu][0]) / max(1, cores1[cpu][1] - cores0[cpu][1]) for cpu in cores1}
    return {"rps": r["rps"], "cpu": max(0.0, used) / max(1, r["requests"]) * 1e6, "errors": r["errors"],
            "p50": r["p50"], **{f"core{cpu}": share for cpu, share in busy.items()}}


def one_run(which: str, pinned: bool, workdir: Path, then_path: Path, upstream: tuple[str, int],
            up: Proc, body: Path, args: argparse.Namespace) -> dict[str, float]:
    everything = set(range(os.cpu_count() or 1))
    pin(os.getpid(), {OTHERS_CORE} if pinned else everything)  # the client inherits it
    for pid in _descendants(up.pid):
        pin(pid, {OTHERS_CORE} if pinned else everything)
    if which == "then":
        gw, port = start_then_gateway(workdir, then_path, upstream)
    else:
        gw, port, _, _ = start_gateway(workdir, upstream, 1, "info")
    try:
        if pinned:
            pin_gateway(gw.pid)
        return measure(gw.pid, f"http://127.0.0.1:{port}", body, args)
    finally:
        if which == "then":
            stop_then_gateway(gw)
        else:
            gw.stop()
        pin(os.getpid(), everything)


def _head() -> str:
    rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return (rev.stdout.strip() or "?") + (" with uncommitted changes" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--then", default=THEN, help=f"the older commit (default {THEN}, issue 15's day)")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians shown (default 3)")
    p.add_argument("--duration", type=float, default=6.0, help="seconds of sustained load per run (default 6)")
    p.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    args = p.parse_args(argv)
    if (os.cpu_count() or 1) < 2:
        raise SystemExit("the pinned runs need 2 or more CPUs")

    workdir = Path(tempfile.mkdtemp(prefix="igw-capacity-"))
    upstream = ("127.1.0.3", free_port("127.1.0.3"))
    runs: dict[tuple[str, str], list[dict[str, float]]] = {}
    up = None
    try:
        then_path = export_commit(args.then, workdir / "then")
        body = workdir / "short.json"
        body.write_bytes(chat_body())
        up = Proc([sys.executable, "-P", "-m", "inference_gateway.bench.overhead_upstream", *map(str, upstream)])
        for i in range(args.rounds):
            load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
            for mode in ("shared", "pinned"):
                for which in ("then", "now"):
                    r = one_run(which, mode == "pinned", workdir, then_path, upstream, up, body, args)
                    runs.setdefault((mode, which), []).append(r)
                    print(f"round {i + 1}/{args.rounds} (load average {load} at its start) {mode:<6} {which:<4} "
                          f"{r['rps']:>6.0f} req/s, router {r['cpu']:>5.0f} µs/req, p50 {r['p50']:.2f} ms, "
                          f"core0 {100 * r['core0']:.0f}% core1 {100 * r['core1']:.0f}% busy, "
                          f"{r['errors']:.0f} non-200", flush=True)
    finally:
        if up is not None:
            up.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    def m(mode: str, which: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[(mode, which)])

    print(f"\nmedians of {args.rounds} rounds; then = {args.then}, now = {_head()}; one router, one Envoy "
          f"worker, {args.connections} connections of short non-streamed chat requests, {args.duration:g} s each")
    print(f"{'':<8}{'':<6}{'req/s':>8}{'router µs/req':>15}{'core0 busy':>12}{'core1 busy':>12}")
    for mode in ("shared", "pinned"):
        for which in ("then", "now"):
            print(f"{mode:<8}{which:<6}{m(mode, which, 'rps'):>8.0f}{m(mode, which, 'cpu'):>15.0f}"
                  f"{100 * m(mode, which, 'core0'):>11.0f}%{100 * m(mode, which, 'core1'):>11.0f}%")
        ratios = [n["rps"] / t["rps"] for t, n in zip(runs[(mode, "then")], runs[(mode, "now")])]
        cpu = m(mode, "then", "cpu") / max(1e-9, m(mode, "now", "cpu"))
        print(f"{mode:<8}now ÷ then: {statistics.median(ratios):.2f}× the req/s (per round: "
              f"{', '.join(f'{x:.2f}' for x in ratios)}), {cpu:.2f}× less router CPU per request")
    print(f"pinned: the router alone on core {ROUTER_CORE}; Envoy, the upstream and the client on core {OTHERS_CORE}")
    errors = sum(r["errors"] for rs in runs.values() for r in rs)
    print(f"non-200 answers, all runs: {errors:.0f}")
    print(f"processes left running after a gateway was stopped: {', '.join(Proc.leftovers) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
