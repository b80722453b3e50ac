"""`make bench-overhead`: what the gateway costs, from one run on the same trivial upstream.

Prints requests/s and latency p50/p99 for the same load sent directly to the upstream,
through plain Envoy (one static cluster), and through our gateway (Envoy + ext_proc router,
the router in its own process); the router's CPU time per request (/proc/<pid>/stat
utime+stime over the gateway run); the scheduler's p50/p99 for a 1,000-endpoint pool with a
filled prefix index (in this process); and the latency a 200 KB prompt adds (gateway p50 minus
plain Envoy p50, sequential requests).

The upstream is a raw asyncio HTTP/1.1 server answering every POST with one fixed small chat
completion (and /metrics with an idle vLLM's gauges, so the router sees a healthy pod). The
load client is `wrk` when installed (`apt-get install -y wrk`), else an aiohttp client in its
own process (slower: it caps the direct and plain-Envoy numbers, so the ratio is kinder).

    python -P bench/overhead.py [--duration 8] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from inference_gateway.bench.probes import process_cpu_seconds as cpu_seconds
from inference_gateway.operator.ports import free_port

REPO = Path(__file__).resolve().parents[1]
MODEL = "bench-model"

UPSTREAM = r'''
import asyncio, json, sys
BODY = json.dumps({"id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": "bench-model",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}}).encode()
OK = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
METRICS = (b"vllm:num_requests_waiting{model_name=\"bench-model\"} 0\nvllm:num_requests_running{model_name=\"bench-model\"} 0\n"
           b"vllm:kv_cache_usage_perc{model_name=\"bench-model\"} 0.0\n")
MET = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: " + str(len(METRICS)).encode() + b"\r\n\r\n" + METRICS
async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            n = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    n = int(line[15:])
            if n:
                await reader.readexactly(n)
            writer.write(MET if head.startswith(b"GET /metrics") else OK)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()
async def main():
    server = await asyncio.start_server(handle, sys.argv[1], int(sys.argv[2]), backlog=1024)
    print("READY", flush=True)
    await server.serve_forever()
asyncio.run(main())
'''


def wait_port(host: str, port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{host}:{port} did not open")
            time.sleep(0.05)



def chat_body(prompt: str = "Say ok.") -> bytes:
    return json.dumps({"model": MODEL, "messages": [{"role": "user", "content": prompt}], "max_tokens": 1}).encode()


# -- load ----------------------------------------------------------------------------------

def run_wrk(url: str, duration: float, connections: int, body: bytes, workdir: Path) -> dict:
    script = workdir / "post.lua"
    script.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                      f"wrk.body = {json.dumps(body.decode())}\n")
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency", "-s", str(script),
                          url + "/v1/chat/completions"], capture_output=True, text=True, timeout=duration + 60).stdout
    unit = {"us": 1e-3, "ms": 1.0, "s": 1000.0}

    def pct(p: str) -> float:
        m = re.search(rf"^\s*{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return float(m.group(1)) * unit[m.group(2)] if m else float("nan")

    if "Requests/sec" not in out:
        raise RuntimeError(f"wrk failed on {url}: {out[-2000:]}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": pct("50"), "p99": pct("99"), "requests": total,
            "errors": int(errors.group(1)) if errors else 0}


AIOHTTP_CLIENT = r'''
import asyncio, json, sys, time
import aiohttp
url, duration, conns, body = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4].encode()
async def main():
    lat, errors = [], 0
    end = time.monotonic() + duration
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conns)) as s:
        async def worker():
            nonlocal errors
            while time.monotonic() < end:
                t = time.perf_counter()
                async with s.post(url, data=body, headers={"content-type": "application/json"}) as r:
                    await r.read()
                    errors += r.status != 200
                lat.append(time.perf_counter() - t)
        start = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(conns)))
        elapsed = time.monotonic() - start
    lat.sort()
    print(json.dumps({"rps": len(lat) / elapsed, "p50": lat[len(lat) // 2] * 1000,
                      "p99": lat[int(len(lat) * 0.99)] * 1000, "requests": len(lat), "errors": errors}))
asyncio.run(main())
'''


def run_aiohttp(url: str, duration: float, connections: int, body: bytes) -> dict:
    out = subprocess.run([sys.executable, "-P", "-c", AIOHTTP_CLIENT, url + "/v1/chat/completions", str(duration),
                          str(connections), body.decode()], capture_output=True, text=True, timeout=duration + 60)
    return json.loads(out.stdout.strip().splitlines()[-1])


def load(url: str, args: argparse.Namespace, workdir: Path, body: bytes | None = None) -> dict:
    body = body or chat_body()
    if args.client == "wrk":
        return run_wrk(url, args.duration, args.connections, body, workdir)
    return run_aiohttp(url, args.duration, args.connections, body)


# -- the three setups ------------------------------------------------------------------------

def envoy_bin() -> str:
    from inference_gateway.operator.envoy_process import envoy_binary  # noqa: PLC0415

    return envoy_binary()


def plain_envoy_config(listen: int, admin: int, upstream: tuple[str, int]) -> dict:
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
        "static_resources": {
            "listeners": [{"name": "l", "address": {"socket_address": {"address": "127.0.0.1", "port_value": listen}},
                           "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                                           "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": "plain", "codec_type": "AUTO",
                "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"],
                                                     "routes": [{"match": {"prefix": "/"},
                                                                 "route": {"cluster": "upstream", "timeout": "0s"}}]}]},
                "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]}}]}]}],
            "clusters": [{"name": "upstream", "type": "STATIC", "connect_timeout": "5s",
                          "circuit_breakers": {"thresholds": [{"max_connections": 100000, "max_pending_requests": 100000,
                                                               "max_requests": 100000}]},
                          "load_assignment": {"cluster_name": "upstream", "endpoints": [{"lb_endpoints": [
                              {"endpoint": {"address": {"socket_address": {"address": upstream[0],
                                                                           "port_value": upstream[1]}}}}]}]}}]},
    }


def gateway_manifests(listen: int, upstream: tuple[str, int], strategy: str) -> str:
    return f"""
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferencePool
metadata: {{name: bench, annotations: {{inference.networking.x-k8s.io/routing-strategy: "{strategy}"}}}}
spec:
  targetPortNumber: {upstream[1]}
  selector: {{app: bench}}
  extensionRef: {{name: inference-gateway-ext-proc}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{name: igw}}
spec: {{controllerName: inference.networking.x-k8s.io/gateway-controller}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: gw}}
spec:
  gatewayClassName: igw
  listeners: [{{name: http, protocol: HTTP, port: {listen}}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: r}}
spec:
  parentRefs: [{{name: gw}}]
  rules:
  - backendRefs: [{{name: bench, kind: InferencePool, group: inference.networking.x-k8s.io}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: upstream, labels: {{app: bench}}}}
status: {{podIP: {upstream[0]}, conditions: [{{type: Ready, status: "True"}}]}}
"""


async def serve_gateway(args: argparse.Namespace) -> None:
    """The gateway process (`--serve-gateway`): the router in-process with the file provider,
    Envoy as its child; stdout gets the router's logs (discarded by the parent)."""
    from inference_gateway.cli.standalone import Standalone, StandaloneSettings  # noqa: PLC0415
    from inference_gateway.router.logs import configure  # noqa: PLC0415
    from inference_gateway.router.server import RouterSettings  # noqa: PLC0415

    configure(args.log_level)
    gateway = Standalone(StandaloneSettings(
        manifests=[Path(args.manifests)], envoy_concurrency=args.envoy_concurrency,
        router=RouterSettings(ext_proc_port=free_port(), health_port=0, metrics_port=0,
                              read_usage=not args.no_usage),
        xds_port=free_port(), admin_port=free_port(), workdir=Path(args.manifests).parent / "envoy"))
    await gateway.start()
    profile = None
    if os.environ.get("IGW_PROFILE"):  # developer aid: cProfile of the router process
        import cProfile  # noqa: PLC0415
        import signal  # noqa: PLC0415

        profile = cProfile.Profile()
        profile.enable()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("READY", flush=True)
    try:
        if profile is not None:
            await stop.wait()
            profile.disable()
            profile.dump_stats(os.environ["IGW_PROFILE"])
        else:
            await asyncio.Event().wait()
    finally:
        await gateway.stop()


class Proc:
    def __init__(self, argv: list[str], ready: bool = True) -> None:
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if ready:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                line = self.p.stdout.readline()
                if not line:
                    raise RuntimeError(f"{argv[:3]} exited: {self.p.wait()}")
                if line.startswith("READY"):
                    break
            # keep draining so a chatty child never blocks on a full pipe
            import threading  # noqa: PLC0415

            threading.Thread(target=lambda: [None for _ in self.p.stdout], daemon=True).start()

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def start_gateway(workdir: Path, upstream: tuple[str, int], args: argparse.Namespace, strategy: str,
                  no_usage: bool = False) -> tuple[Proc, int]:
    listen = free_port()
    d = workdir / f"gw-{strategy}-{int(no_usage)}"
    d.mkdir()
    (d / "m.yaml").write_text(gateway_manifests(listen, upstream, strategy))
    argv = [sys.executable, "-P", str(Path(__file__).resolve()), "--serve-gateway", str(d / "m.yaml"),
            "--envoy-concurrency", str(args.envoy_concurrency), "--log-level", args.log_level]
    if no_usage:
        argv.append("--no-usage")
    proc = Proc(argv)
    wait_port("127.0.0.1", listen)
    time.sleep(0.5)  # a scrape or two, so the pod is known to be idle
    return proc, listen


# -- in-process measurements -------------------------------------------------------------------

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
            state.update(ep.address, EndpointMetrics(waiting=rng.randint(0, 3), running=rng.randint(0, 50),
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
    lat = []
    for i in range(measured):
        if i % 100 == 0:
            scrape()
        prompt = systems[rng.randrange(500)] + tails[rng.randrange(997)]
        t = time.perf_counter()
        one(prompt)
        lat.append(time.perf_counter() - t)
    lat.sort()
    gc.unfreeze()
    return {"p50": lat[len(lat) // 2] * 1e3, "p99": lat[int(len(lat) * 0.99)] * 1e3, "index_blocks": len(index)}


def big_prompt_latency(url: str, n: int = 30) -> float:
    """p50 ms of sequential ~200 KB chat requests."""
    import urllib.request  # noqa: PLC0415

    rng = random.Random(2)
    lat = []
    for i in range(n + 3):
        text = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz     ") for _ in range(200 * 1024))
        body = chat_body(f"{i} " + text)
        req = urllib.request.Request(url + "/v1/chat/completions", data=body,
                                     headers={"content-type": "application/json"})
        t = time.perf_counter()
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()
        if i >= 3:  # warm-up
            lat.append(time.perf_counter() - t)
    return statistics.median(lat) * 1000


# -- main ----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=8.0, help="seconds of load per setup (default 8)")
    p.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    p.add_argument("--client", choices=["wrk", "aiohttp"], default="wrk" if shutil.which("wrk") else "aiohttp")
    p.add_argument("--envoy-concurrency", type=int, default=1, help="Envoy workers, same for plain and gateway")
    p.add_argument("--log-level", default="info", help="the router's log level (info: a line per request)")
    p.add_argument("--skip-usage-variant", action="store_true", help="do not also measure read_usage off")
    p.add_argument("--serve-gateway", metavar="MANIFESTS", help=argparse.SUPPRESS)
    p.add_argument("--no-usage", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve_gateway:
        args.manifests = args.serve_gateway
        asyncio.run(serve_gateway(args))
        return 0

    workdir = Path(tempfile.mkdtemp(prefix="igw-overhead-"))
    upstream = ("127.0.0.2", free_port("127.0.0.2"))
    procs: list[Proc] = []
    rows: list[tuple[str, dict]] = []
    try:
        procs.append(Proc([sys.executable, "-P", "-c", UPSTREAM, *map(str, upstream)]))
        print(f"client: {args.client}, {args.connections} connections, {args.duration:g}s per setup; "
              f"Envoy workers: {args.envoy_concurrency}; {os.cpu_count()} CPUs", flush=True)
        rows.append(("direct", load(f"http://{upstream[0]}:{upstream[1]}", args, workdir)))

        listen, admin = free_port(), free_port()
        cfg = workdir / "plain.json"
        cfg.write_text(json.dumps(plain_envoy_config(listen, admin, upstream)))
        envoy = Proc([envoy_bin(), "-c", str(cfg), "--concurrency", str(args.envoy_concurrency),
                      "--disable-hot-restart", "-l", "warning"], ready=False)
        procs.append(envoy)
        wait_port("127.0.0.1", listen)
        rows.append(("plain Envoy", load(f"http://127.0.0.1:{listen}", args, workdir)))
        big_plain = big_prompt_latency(f"http://127.0.0.1:{listen}")
        envoy.stop()

        variants = [("gateway", False)] + ([] if args.skip_usage_variant else [("gateway, usage off", True)])
        cpu: dict[str, float] = {}
        big_gw = None
        for name, no_usage in variants:
            gw, port = start_gateway(workdir, upstream, args, "PREFIX_CACHE", no_usage)
            procs.append(gw)
            before = cpu_seconds(gw.p.pid)
            result = load(f"http://127.0.0.1:{port}", args, workdir)
            used = cpu_seconds(gw.p.pid) - before
            cpu[name] = used / max(1, result["requests"]) * 1e6
            rows.append((name, result))
            if big_gw is None:
                big_gw = big_prompt_latency(f"http://127.0.0.1:{port}")
            gw.stop()
        sched = scheduling()
    finally:
        for proc in reversed(procs):
            proc.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    plain_rps = dict(rows)["plain Envoy"]["rps"]
    print()
    print(f"{'setup':<22}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'% of Envoy':>12}{'router CPU/req':>16}")
    for name, r in rows:
        share = f"{100 * r['rps'] / plain_rps:.0f}%"
        c = f"{cpu[name]:.0f} µs" if name in cpu else ""
        print(f"{name:<22}{r['rps']:>9.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}{r['errors']:>8}{share:>12}{c:>16}")
    print()
    print(f"scheduling, 1,000 endpoints, PREFIX_CACHE, prefix index {sched['index_blocks']:,} blocks: "
          f"p50 {sched['p50']:.3f} ms, p99 {sched['p99']:.3f} ms")
    print(f"200 KB prompt, p50: plain Envoy {big_plain:.1f} ms, gateway {big_gw:.1f} ms, "
          f"added {big_gw - big_plain:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
