"""The setups `make bench-overhead` compares, started and stopped by PID: the upstream, plain
Envoy, and the gateway (router + Envoy in a process of its own); the load client; and the
machine's state while they run."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from inference_gateway.bench.probes import _descendants, _machine, process_cpu_seconds
from inference_gateway.operator.children import tied
from inference_gateway.operator.ports import free_port

MODEL = "bench-model"
CANARY = "bench-canary"  # an InferenceModel whose only target is MODEL: the response is renamed back
_TICK = os.sysconf("SC_CLK_TCK")


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


def _alive(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Proc:
    """A child process, stopped by PID together with every process it started (Envoy)."""

    leftovers: list[str] = []  # every process found alive after its setup was stopped

    def __init__(self, argv: list[str], ready: bool = True, env: dict[str, str] | None = None) -> None:
        self.argv = argv
        self.p = subprocess.Popen(tied(argv), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        if ready:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                line = self.p.stdout.readline()
                if not line:
                    raise RuntimeError(f"{argv[:3]} exited: {self.p.wait()}")
                if line.startswith("READY"):
                    break
        # keep draining so a chatty child never blocks on a full pipe
        threading.Thread(target=lambda: [None for _ in self.p.stdout], daemon=True).start()

    @property
    def pid(self) -> int:
        return self.p.pid

    def stop(self) -> None:
        tree = [pid for pid in _descendants(self.p.pid) if pid != self.p.pid]
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        # Its children (Envoy) must be gone too: checked with ps, killed by PID if not.
        deadline = time.monotonic() + 5
        while any(_alive(pid) for pid in tree) and time.monotonic() < deadline:
            time.sleep(0.05)
        if tree:
            listed = subprocess.run(["ps", "-o", "pid=,comm=", "-p", ",".join(map(str, tree))],
                                    capture_output=True, text=True).stdout.split("\n")
            for line in filter(None, (x.strip() for x in listed)):
                pid = int(line.split()[0])
                if _alive(pid):
                    Proc.leftovers.append(line)
                    os.kill(pid, signal.SIGKILL)


# -- plain Envoy ---------------------------------------------------------------------------------

def envoy_bin() -> str:
    from inference_gateway.operator.envoy_process import envoy_binary  # noqa: PLC0415

    return envoy_binary()


def plain_envoy_config(listen: int, admin: int, upstream: tuple[str, int]) -> dict:
    hcm = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
        "static_resources": {
            "listeners": [{"name": "l", "address": {"socket_address": {"address": "127.0.0.1", "port_value": listen}},
                           "per_connection_buffer_limit_bytes": 8 * 1024 * 1024,
                           "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                                           "typed_config": {
                "@type": hcm, "stat_prefix": "plain", "codec_type": "AUTO",
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


def start_plain_envoy(workdir: Path, upstream: tuple[str, int], concurrency: int) -> tuple[Proc, int]:
    listen, admin = free_port(), free_port()
    cfg = workdir / f"plain-{listen}.json"
    cfg.write_text(json.dumps(plain_envoy_config(listen, admin, upstream)))
    envoy = Proc([envoy_bin(), "-c", str(cfg), "--concurrency", str(concurrency), "--disable-hot-restart",
                  "-l", "warning"], ready=False)
    wait_port("127.0.0.1", listen)
    return envoy, listen


# -- the gateway -----------------------------------------------------------------------------

def gateway_manifests(listen: int, canary_listen: int, upstream: tuple[str, int], strategy: str) -> str:
    """Two gateways on the same pod: `listen` routes to a pool with no InferenceModel (no
    request is renamed, so no response passes through the router); `canary_listen` to a pool
    whose InferenceModel `CANARY` targets `MODEL` (the response is renamed back). A route whose
    pools may rename pays a response-headers message on every request: Envoy takes a processing
    mode override only in the answer to the request headers, before the body names the model."""
    docs = [f"""
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{name: igw}}
spec: {{controllerName: inference.networking.x-k8s.io/gateway-controller}}
---
apiVersion: v1
kind: Pod
metadata: {{name: upstream, labels: {{app: bench}}}}
status: {{podIP: {upstream[0]}, conditions: [{{type: Ready, status: "True"}}]}}
---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceModel
metadata: {{name: canary}}
spec:
  modelName: {CANARY}
  criticality: Standard
  poolRef: {{name: bench-canary}}
  targetModels: [{{name: {MODEL}, weight: 1}}]
"""]
    for name, port in (("bench", listen), ("bench-canary", canary_listen)):
        docs.append(f"""
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferencePool
metadata: {{name: {name}, annotations: {{inference.networking.x-k8s.io/routing-strategy: "{strategy}"}}}}
spec:
  targetPortNumber: {upstream[1]}
  selector: {{app: bench}}
  extensionRef: {{name: inference-gateway-ext-proc}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: {name}}}
spec:
  gatewayClassName: igw
  listeners: [{{name: http, protocol: HTTP, port: {port}}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}}}
spec:
  parentRefs: [{{name: {name}}}]
  rules:
  - backendRefs: [{{name: {name}, kind: InferencePool, group: inference.networking.x-k8s.io}}]
""")
    return "---".join(docs)


async def serve_gateway(manifests: str, envoy_concurrency: int, log_level: str, usage: bool,
                        admin_port: int, replicas: int = 1, access_log: str | None = None,
                        one_message: bool = True) -> None:
    """The gateway process: the router in-process with the file provider, Envoy as its child,
    and with `replicas` > 1 that many router processes in all behind the one Envoy, sharing the
    prefix index (`igw run --router-replicas N`). SIGTERM stops it cleanly (Envoy and the
    replicas by PID) rather than killing Python mid-flight."""
    from inference_gateway.cli.router_replicas import (  # noqa: PLC0415
        ext_proc_endpoints, start_children, stop_replicas, with_replicas,
    )
    from inference_gateway.cli.standalone import Standalone, StandaloneSettings  # noqa: PLC0415
    from inference_gateway.router.logs import configure  # noqa: PLC0415
    from inference_gateway.router.server import RouterSettings  # noqa: PLC0415

    configure(log_level)
    router, children = with_replicas(
        RouterSettings(ext_proc_port=free_port(), health_port=0, metrics_port=0, read_usage=usage),
        replicas, [Path(manifests)], log_level, () if usage else ("--no-usage-metrics",))
    gateway = Standalone(StandaloneSettings(
        manifests=[Path(manifests)], envoy_concurrency=envoy_concurrency, router=router,
        ext_proc_endpoints=ext_proc_endpoints(router, children),
        xds_port=free_port(), admin_port=admin_port, workdir=Path(manifests).parent / "envoy", access_log=access_log,
        one_message=one_message))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await start_children(router, children)
        await gateway.start()
        await _serve(gateway, stop)
    finally:
        await stop_replicas(children)


async def _serve(gateway, stop: asyncio.Event) -> None:
    profile = None
    if os.environ.get("IGW_PROFILE"):  # developer aid: cProfile of the router process
        import cProfile  # noqa: PLC0415

        profile = cProfile.Profile()
        profile.enable()
    print("READY", flush=True)
    try:
        await stop.wait()
    finally:
        if profile is not None:
            profile.disable()
            profile.dump_stats(os.environ["IGW_PROFILE"])
        await gateway.stop()


def start_gateway(workdir: Path, upstream: tuple[str, int], envoy_concurrency: int, log_level: str,
                  usage: bool = True, strategy: str = "PREFIX_CACHE", replicas: int = 1,
                  access_log: Path | None = None, two_messages: bool = False) -> tuple[Proc, int, int, int]:
    """The gateway process (with `replicas` router processes; its Envoy writing `access_log`
    if given), its two listeners' ports (plain routes, canary route) and its Envoy's admin port."""
    listen, canary, admin = free_port(), free_port(), free_port()
    d = workdir / f"gw-{listen}"
    d.mkdir()
    (d / "m.yaml").write_text(gateway_manifests(listen, canary, upstream, strategy))
    argv = [sys.executable, "-P", "-m", "inference_gateway.bench.overhead", "--serve-gateway", str(d / "m.yaml"),
            "--envoy-concurrency", str(envoy_concurrency), "--log-level", log_level, "--admin-port", str(admin)]
    if not usage:
        argv.append("--no-usage")
    argv += ["--router-replicas", str(replicas)]
    if access_log is not None:
        argv += ["--access-log", str(access_log)]
    if two_messages:
        argv.append("--two-messages")
    proc = Proc(argv)
    wait_port("127.0.0.1", listen)
    wait_port("127.0.0.1", canary)
    time.sleep(0.5)  # a scrape or two, so the pod is known to be idle
    return proc, listen, canary, admin


def router_cpu_seconds(gateway_pid: int) -> float:
    """CPU of the gateway process and its router replicas: every process of its tree but Envoy."""
    total = 0.0
    for pid in _descendants(gateway_pid):
        try:
            if open(f"/proc/{pid}/comm").read().strip() == "envoy":
                continue
        except OSError:
            continue
        total += process_cpu_seconds(pid)
    return total


def ext_proc_messages(admin_port: int) -> float:
    """Messages Envoy has sent to the router so far (its ext_proc filters' own statistics)."""
    import urllib.request  # noqa: PLC0415

    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/stats?filter=ext_proc.stream_msgs_sent",
                                timeout=10) as resp:
        text = resp.read().decode()
    return sum(float(line.rsplit(":", 1)[1]) for line in text.splitlines() if ":" in line)


# -- load and machine --------------------------------------------------------------------------

def client(url: str, body_file: Path, concurrency: int, duration: float | None = None,
           count: int | None = None) -> dict:
    argv = [sys.executable, "-P", "-m", "inference_gateway.bench.overhead_client", url + "/v1/chat/completions",
            str(body_file), str(concurrency)]
    argv += ["--duration", str(duration)] if duration is not None else ["--count", str(count)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=(duration or 0) + 600)
    if out.returncode != 0:
        raise RuntimeError(f"load client failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


class Machine:
    """Load average and how much CPU processes other than ours used while a repeat ran."""

    def __init__(self) -> None:
        self.load = os.getloadavg()
        self._busy0 = _machine()[0]
        self._ours0 = self._ours()
        self._t0 = time.monotonic()

    @staticmethod
    def _ours() -> float:
        """CPU of this process tree, the reaped part included (cutime, cstime)."""
        total = 0
        for pid in _descendants(os.getpid()):
            try:
                fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += sum(int(f) for f in fields[11:15])
        return total / _TICK

    def others_cores(self) -> float:
        """Cores' worth of CPU used by everything but this benchmark since the start."""
        busy = (_machine()[0] - self._busy0) / _TICK
        return max(0.0, busy - (self._ours() - self._ours0)) / max(1e-9, time.monotonic() - self._t0)
