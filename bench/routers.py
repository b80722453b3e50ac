"""What sits between the client and the pods: our gateway and the peers it is compared with.

Every router has `start(pods)`, `stop()`, `url` and `pids` (the processes whose CPU counts as
"router CPU"; our gateway runs as its own `igw run` process with its Envoy as a child).
All of them listen on 127.0.0.1 and are stopped by PID.
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import yaml

from inference_gateway.operator.children import spawn, stop_child
from inference_gateway.operator.envoy_process import EnvoyProcess
from inference_gateway.operator.ports import free_port
from inference_gateway.cli.sim_fleet import SimFleet, SimPod

from .igw_process import children_of
from .pd_pods import PD_LABELS, pd_policy, role_of, sglang_pd_args
from .workloads import MODEL

POD_LABELS = {"app": "bench-vllm"}


class Router(Protocol):
    name: str
    label: str

    @property
    def url(self) -> str: ...
    def pids(self) -> list[int]: ...
    async def start(self, pods: list[SimPod]) -> None: ...
    async def stop(self) -> None: ...


# -- the pods -------------------------------------------------------------------------------
class Pods:
    """N simulated vLLM pods, one loopback IP each (127.0.10.1, .2, ...), restartable."""

    def __init__(self, count: int, profile: str, time_scale: float, model_names: list[str]) -> None:
        port = free_port("127.0.10.1")
        self.fleet = SimFleet(count=count, labels=POD_LABELS, name_prefix="bench-vllm", model=MODEL, port=port,
                              extra_args=["--profile", profile, "--time-scale", str(time_scale),
                                          "--served-model-name", *model_names])
        self.fleet.pods = [SimPod(f"bench-vllm-{i}", f"127.0.10.{i + 1}", port, dict(POD_LABELS))
                           for i in range(count)]

    @property
    def pods(self) -> list[SimPod]:
        return self.fleet.pods

    def pids(self) -> list[int]:
        return [p.process.pid for p in self.pods if p.process is not None]

    async def start(self) -> None:
        await self.fleet.start(timeout=60)

    async def stop(self) -> None:
        await self.fleet.stop()


# -- our gateway ------------------------------------------------------------------------------
def gateway_manifests(pods: list[SimPod], listener_port: int, strategy: str | None,
                      models: dict[str, str]) -> list[dict[str, Any]]:
    """InferencePool (+ routing-strategy annotation), InferenceModels, Gateway API objects, Pods."""
    pd = any(role_of(p) for p in pods)
    pool: dict[str, Any] = {
        "apiVersion": "inference.networking.x-k8s.io/v1alpha2", "kind": "InferencePool",
        "metadata": {"name": "bench-pool"},
        "spec": {"targetPortNumber": pods[0].port, "selector": dict(PD_LABELS if pd else POD_LABELS),
                 "extensionRef": {"name": "inference-gateway-ext-proc"}},
    }
    if strategy and not pd:
        pool["metadata"]["annotations"] = {"inference.networking.x-k8s.io/routing-strategy": strategy}
    docs: list[dict[str, Any]] = [pool] + ([pd_policy("bench-pool", strategy)] if pd else [])
    for i, (name, criticality) in enumerate(models.items()):
        docs.append({
            "apiVersion": "inference.networking.x-k8s.io/v1alpha2", "kind": "InferenceModel",
            "metadata": {"name": f"bench-model-{i}"},
            "spec": {"modelName": name, "criticality": criticality,
                     "poolRef": {"group": "inference.networking.x-k8s.io", "kind": "InferencePool", "name": "bench-pool"},
                     "targetModels": [{"name": name, "weight": 100}]},
        })
    docs += [
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass", "metadata": {"name": "bench-class"},
         "spec": {"controllerName": "inference.networking.x-k8s.io/gateway-controller"}},
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "bench-gateway"},
         "spec": {"gatewayClassName": "bench-class",
                  "listeners": [{"name": "http", "protocol": "HTTP", "port": listener_port}]}},
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "bench-route"},
         "spec": {"parentRefs": [{"name": "bench-gateway"}],
                  "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/v1"}}],
                             "backendRefs": [{"name": "bench-pool", "kind": "InferencePool",
                                              "group": "inference.networking.x-k8s.io"}]}]}},
    ]
    docs += [p.manifest() for p in pods]
    return docs


class IgwGateway:
    """Our gateway as its own process: `igw run --manifests` on a generated manifests dir (the
    router and its Envoy child), so the bench driver's CPU is not the router's, as for the
    peers. Stopped by PID; tied to the bench process (operator/children.py)."""

    def __init__(self, name: str, strategy: str | None, models: dict[str, str], workdir: Path,
                 legacy: bool = False, scrape_interval: float | None = None) -> None:
        self.name = name
        self.strategy = strategy
        # legacy: the weighted scorers the cost model replaced (router/scheduler/profiles.py)
        self.legacy = legacy
        # `igw run --scrape-interval` (None: its default), to measure what the scrapes cost
        self.scrape_interval = scrape_interval
        self.label = (f"igw {strategy or 'default (load-aware)'}{' legacy weights' if legacy else ''}"
                      f"{f', scrapes every {scrape_interval:g} s' if scrape_interval else ''}")
        self.models = models
        self.workdir = workdir
        self.port = free_port()
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pids(self) -> list[int]:
        if self.process is None:
            return []
        return [self.process.pid, *children_of(self.process.pid)]  # the router, then its Envoy

    def argv(self, manifests: Path, scheduler: Path | None) -> list[str]:
        ports = {flag: free_port() for flag in ("--ext-proc-port", "--health-port", "--metrics-port",
                                                "--xds-port", "--admin-port")}
        argv = [str(Path(sys.executable).parent / "igw"), "--log-level", "warning", "run",
                "--manifests", str(manifests), "--listen-address", "127.0.0.1", "--router-host", "127.0.0.1",
                "--envoy-concurrency", "1"]
        for flag, port in ports.items():
            argv += [flag, str(port)]
        if self.scrape_interval:
            argv += ["--scrape-interval", f"{self.scrape_interval:g}"]
        return argv + (["--scheduler-config", str(scheduler)] if scheduler else [])

    async def start(self, pods: list[SimPod]) -> None:
        manifests = self.workdir / "manifests"
        manifests.mkdir(parents=True, exist_ok=True)
        (manifests / "bench.yaml").write_text(yaml.safe_dump_all(
            gateway_manifests(pods, self.port, self.strategy, self.models), sort_keys=False))
        scheduler = self._legacy_config() if self.legacy else None
        log = self.workdir / "igw.log"
        with open(log, "ab") as out:
            self.process = await spawn(*self.argv(manifests, scheduler), stdin=asyncio.subprocess.DEVNULL,
                                       stdout=out, stderr=out)
        await self._wait_serving(log, next(iter(self.models)))

    def _legacy_config(self) -> Path:
        from inference_gateway.router.scheduler.profiles import LEGACY_WEIGHTS

        path = self.workdir / "scheduler.yaml"
        path.write_text(yaml.safe_dump({
            "profiles": {strategy.value: dict(weights) for strategy, weights in LEGACY_WEIGHTS.items()},
            "saturation": {"max_kv": 0.8}}))
        return path

    async def _wait_serving(self, log: Path, model: str, within: float = 120.0) -> None:
        """Until a request through the gateway answers 200 (the pods are scraped by then)."""
        deadline = asyncio.get_running_loop().time() + within
        body = {"model": model, "messages": [{"role": "user", "content": "ready?"}], "max_tokens": 1}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            while True:
                assert self.process is not None
                if self.process.returncode is not None:
                    raise RuntimeError(f"igw exited with {self.process.returncode}: {_tail(log)}")
                try:
                    async with session.post(self.url + "/v1/chat/completions", json=body) as resp:
                        if resp.status == 200:
                            return
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise RuntimeError(f"igw not serving within {within:g}s: {_tail(log)}")
                await asyncio.sleep(0.2)

    async def stop(self) -> None:
        if self.process is not None:
            await stop_child(self.process, grace=10.0)
            self.process = None


def _tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


# -- plain Envoy, round robin -----------------------------------------------------------------
def envoy_round_robin_bootstrap(pods: list[SimPod], listen_port: int, admin_port: int) -> dict[str, Any]:
    """A static Envoy bootstrap: one listener, one STATIC ROUND_ROBIN cluster of the pods."""
    unlimited = 1_000_000
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "bench", "codec_type": "AUTO", "stream_idle_timeout": "600s", "request_timeout": "0s",
        "route_config": {"name": "local", "virtual_hosts": [{
            "name": "all", "domains": ["*"],
            "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "pods", "timeout": "0s"}}]}]},
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
    }
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "static_resources": {
            "listeners": [{"name": "bench", "address": {"socket_address": {"address": "127.0.0.1", "port_value": listen_port}},
                           "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                                           "typed_config": hcm}]}]}],
            "clusters": [{
                "name": "pods", "type": "STATIC", "lb_policy": "ROUND_ROBIN", "connect_timeout": "5s",
                "circuit_breakers": {"thresholds": [{"max_connections": unlimited, "max_pending_requests": unlimited,
                                                     "max_requests": unlimited, "max_retries": 3}]},
                "load_assignment": {"cluster_name": "pods", "endpoints": [{"lb_endpoints": [
                    {"endpoint": {"address": {"socket_address": {"address": p.ip, "port_value": p.port}}}}
                    for p in pods]}]},
            }],
        },
    }


class EnvoyRoundRobin:
    name = "envoy-round-robin"
    label = "Envoy round robin"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.envoy: EnvoyProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pids(self) -> list[int]:
        return [self.envoy.process.pid] if self.envoy and self.envoy.process else []

    async def start(self, pods: list[SimPod]) -> None:
        admin = free_port()
        self.envoy = EnvoyProcess(envoy_round_robin_bootstrap(pods, self.port, admin), admin,
                                  workdir=self.workdir / "envoy", concurrency=1)
        await self.envoy.start()
        await wait_http(f"{self.url}/v1/models", timeout=20)

    async def stop(self) -> None:
        if self.envoy is not None:
            await self.envoy.stop()
            self.envoy = None


# -- sglang-router ----------------------------------------------------------------------------
class SglangRouter:
    """`sglang-router launch` (Rust; from the bench venv), bound to 127.0.0.1, one policy."""

    lists_no_models = True  # its /v1/models answers `unknown` (see client_launcher.py)

    def __init__(self, policy: str, binary: Path, workdir: Path) -> None:
        self.policy = policy
        self.name = f"sglang-{policy.replace('_', '-')}"
        self.label = f"sglang-router {policy}"
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.process: asyncio.subprocess.Process | None = None
        self.command: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pids(self) -> list[int]:
        return [self.process.pid] if self.process else []

    async def start(self, pods: list[SimPod]) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        workers = (sglang_pd_args(pods) if any(role_of(p) for p in pods)
                   else ["--worker-urls", *[f"http://{p.address}" for p in pods]])
        self.command = [str(self.binary), "launch", "--host", "127.0.0.1", "--port", str(self.port),
                        "--policy", self.policy, *workers,
                        "--prometheus-host", "127.0.0.1", "--prometheus-port", str(free_port()),
                        "--log-level", "warn", "--request-timeout-secs", "600"]
        log = open(self.workdir / "sglang-router.log", "ab")
        try:
            self.process = await spawn(
                *self.command, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
                env={**os.environ, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1"})
        finally:
            log.close()
        try:
            await wait_http(f"{self.url}/readiness", timeout=60, process=self.process)
        except BaseException:
            await self.stop()
            raise

    async def stop(self, grace: float = 5.0) -> None:
        proc, self.process = self.process, None
        await stop_child(proc, grace)


async def wait_http(url: str, timeout: float, process: asyncio.subprocess.Process | None = None) -> None:
    """Until GET url answers 200 (bounded by `timeout`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while loop.time() < deadline:
            if process is not None and process.returncode is not None:
                raise RuntimeError(f"{url}: the process exited with code {process.returncode}")
            try:
                async with session.get(url) as resp:
                    if resp.status == 200:
                        return
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError(f"{url} not ready within {timeout}s")


def make_routers(names: list[str], models: dict[str, str], workdir: Path, sglang_binary: Path) -> list[Router]:
    out: list[Router] = []
    for name in names:
        d = workdir / name
        base, scrape = igw_variant(name)
        if base.startswith(("igw-load-aware", "igw-prefix-cache")) and base in ROUTERS + EXTRA_ROUTERS:
            out.append(IgwGateway(name, "PREFIX_CACHE" if base.startswith("igw-prefix-cache") else None, models, d,
                                  legacy=base.endswith("-legacy"), scrape_interval=scrape))
        elif name == "envoy-round-robin":
            out.append(EnvoyRoundRobin(d))
        elif name in ("sglang-cache-aware", "sglang-round-robin"):
            out.append(SglangRouter(name.removeprefix("sglang-").replace("-", "_"), sglang_binary, d))
        else:
            raise ValueError(f"unknown router {name!r}; known: {', '.join(ROUTERS + EXTRA_ROUTERS)}")
    return out


def igw_variant(name: str) -> tuple[str, float | None]:
    """`igw-prefix-cache:scrape=0.5` → ("igw-prefix-cache", 0.5): one of our gateways with the
    pods scraped at another interval, run beside the default in the same cell (bench/README.md)."""
    base, sep, option = name.partition(":")
    if not sep:
        return name, None
    key, _, value = option.partition("=")
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if key != "scrape" or not 0 < seconds < math.inf:  # an unknown base is make_routers' to refuse
        raise ValueError(f"unknown router {name!r}: a variant is igw-<strategy>:scrape=<seconds>, e.g. "
                         "igw-prefix-cache:scrape=0.5")
    return base, seconds


ROUTERS = ["igw-load-aware", "igw-prefix-cache", "envoy-round-robin", "sglang-cache-aware", "sglang-round-robin"]
# Selectable by name (--routers), not run by default: our previous weighted-scorer profiles.
EXTRA_ROUTERS = ["igw-load-aware-legacy", "igw-prefix-cache-legacy"]
