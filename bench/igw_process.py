"""`igw run --manifests` as a real child process, for the fault benchmark and the tests that
signal or kill the gateway itself (SIGTERM drain, SIGKILL, Envoy crashes). Addresses in
127.5.x.x; every process is tied to its parent (operator/children.py)."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from inference_gateway.operator.children import spawn, stop_child
from inference_gateway.operator.ports import free_port
from inference_gateway.cli.sim_fleet import SimFleet

VLLM_LABELS = {"alibabacloud.com/inference-workload": "vllm-inference"}
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

HOST = "127.5.0.1"  # the gateway's listener and router


def fleet(count: int, subnet: int = 1, **kwargs) -> SimFleet:
    """Simulated vLLM pods on 127.5.<subnet>.2, .3, …"""
    f = SimFleet(count=count, labels=VLLM_LABELS, port=free_port(f"127.5.{subnet}.2"), **kwargs)
    for i, pod in enumerate(f.pods):
        pod.ip = f"127.5.{subnet}.{2 + i}"
    return f


def pool_yaml(port: int, fail_open: bool = False) -> str:
    mode = "FailOpen" if fail_open else "FailClose"
    return f"""
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferencePool
metadata: {{name: qwen-inference-pool}}
spec:
  targetPortNumber: {port}
  selector: {{alibabacloud.com/inference-workload: vllm-inference}}
  extensionRef: {{name: inference-gateway-ext-proc, failureMode: {mode}}}
"""


@dataclass
class Igw:
    manifests: Path
    listener_port: int
    extra: list[str] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)
    process: asyncio.subprocess.Process | None = None
    log_path: Path | None = None
    log_level: str = "info"

    def __post_init__(self) -> None:
        if not self.ports:
            self.ports = {name: free_port(HOST) for name in ("ext-proc", "health", "metrics")}
            self.ports |= {name: free_port() for name in ("xds", "admin")}

    @classmethod
    def write(cls, directory: Path, pods: SimFleet, fail_open: bool = False, extra: list[str] | None = None) -> "Igw":
        directory.mkdir(parents=True, exist_ok=True)
        port = free_port(HOST)
        (directory / "pool.yaml").write_text(pool_yaml(pods.port, fail_open))
        (directory / "gateway.yaml").write_text(gateway_yaml(port))
        (directory / "pods.yaml").write_text(pods.pods_yaml())
        return cls(directory, port, extra or [])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.listener_port}"

    def argv(self) -> list[str]:
        p = self.ports
        return [str(Path(sys.executable).parent / "igw"), "--log-level", self.log_level, "run", "--manifests",
                str(self.manifests), "--listen-address", HOST, "--router-host", HOST,
                "--ext-proc-port", str(p["ext-proc"]), "--health-port", str(p["health"]),
                "--metrics-port", str(p["metrics"]), "--xds-port", str(p["xds"]),
                "--admin-port", str(p["admin"]), "--envoy-concurrency", "1", "--scrape-interval", "0.05",
                *self.extra]

    async def start(self, log_path: Path, ready_within: float = 30.0) -> None:
        self.log_path = log_path
        with open(log_path, "ab") as out:
            self.process = await spawn(*self.argv(), stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out)
        await self.wait_serving(ready_within)

    async def wait_serving(self, within: float) -> float:
        """Until a chat request through the gateway answers 200; seconds it took."""
        started = time.monotonic()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            while True:
                assert self.process is None or self.process.returncode is None, \
                    f"igw exited with {self.process.returncode}: {self.log_tail()}"
                try:
                    async with session.post(self.url + "/v1/chat/completions", json=chat()) as resp:
                        if resp.status == 200:
                            return time.monotonic() - started
                except aiohttp.ClientError:
                    pass
                assert time.monotonic() - started < within, f"not serving within {within}s: {self.log_tail()}"
                await asyncio.sleep(0.1)

    def envoy_pids(self) -> list[int]:
        assert self.process is not None
        return children_of(self.process.pid)

    async def health(self) -> int:
        async with grpc.aio.insecure_channel(f"{HOST}:{self.ports['health']}") as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""),
                                                                    timeout=2)
            return reply.status

    def signal(self, sig: int) -> None:
        assert self.process is not None
        os.kill(self.process.pid, sig)

    async def wait(self, timeout: float) -> int:
        assert self.process is not None
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def stop(self) -> None:
        await stop_child(self.process, grace=10.0)

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""


def gateway_yaml(port: int) -> str:
    """The seed's GatewayClass/Gateway/HTTPRoute with the listener on `port`."""
    return (EXAMPLES / "gateway.yaml").read_text().replace("port: 8080", f"port: {port}")


def children_of(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(c) for c in f.read().split()]
    except FileNotFoundError:
        pass
    return out


def alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


async def wait_gone(pid: int, within: float) -> None:
    deadline = time.monotonic() + within
    while alive(pid):
        assert time.monotonic() < deadline, f"process {pid} still alive after {within}s"
        await asyncio.sleep(0.05)


def chat(max_tokens: int = 2, stream: bool = False, text: str = "hello") -> dict:
    body: dict = {"model": "/models/Qwen3-32B", "messages": [{"role": "user", "content": text}],
                  "max_tokens": max_tokens}
    if stream:
        body["stream"] = True
    return body

