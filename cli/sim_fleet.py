"""Simulated model-server pods as child processes, one per loopback IP, like pods on a node.

Used by `igw demo`, the end-to-end tests and the benchmarks. Each pod is a separate process
(`python -m inference_gateway.simulator`), started and stopped by its PID.
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import structlog
import yaml

from inference_gateway.operator.children import spawn, stop_child

log = structlog.get_logger("sim")


@dataclass
class SimPod:
    name: str
    ip: str
    port: int
    labels: dict[str, str]
    process: asyncio.subprocess.Process | None = None

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    def manifest(self, namespace: str = "default", ready: bool = True) -> dict[str, Any]:
        return {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": self.name, "namespace": namespace, "labels": self.labels},
            "status": {"phase": "Running", "podIP": self.ip,
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
        }


@dataclass
class SimFleet:
    count: int
    labels: dict[str, str]
    name_prefix: str = "vllm-inference"
    runtime: str = "vllm"
    model: str = "/models/Qwen3-32B"
    first_ip: int = 2               # 127.0.0.2, 127.0.0.3, ...
    subnet: str = "127.0.0"         # the first three octets of the pods' loopback addresses
    port: int = 8000
    extra_args: list[str] = field(default_factory=list)
    pods: list[SimPod] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.pods = [SimPod(f"{self.name_prefix}-{i}", f"{self.subnet}.{self.first_ip + i}", self.port, dict(self.labels))
                     for i in range(self.count)]

    def pods_yaml(self, namespace: str = "default") -> str:
        return yaml.safe_dump_all([p.manifest(namespace) for p in self.pods], sort_keys=False)

    async def start(self, timeout: float = 30.0) -> None:
        try:
            await asyncio.gather(*(self._start_pod(pod, timeout) for pod in self.pods))
        except BaseException:
            await self.stop()
            raise

    async def _start_pod(self, pod: SimPod, timeout: float) -> None:
        pod.process = await spawn(
            sys.executable, "-P", "-m", "inference_gateway.simulator",
            "--runtime", self.runtime, "--host", pod.ip, "--port", str(pod.port), "--model", self.model,
            "--pod-name", pod.name, *self.extra_args,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        assert pod.process.stdout is not None
        deadline = asyncio.get_running_loop().time() + timeout
        said: deque[bytes] = deque(maxlen=5)  # its last words, for the error if it dies
        while True:  # read until READY (bounded by the deadline)
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"simulated pod {pod.name} not ready within {timeout}s")
            line = await asyncio.wait_for(pod.process.stdout.readline(), remaining)
            if not line:
                raise RuntimeError(f"simulated pod {pod.name} exited at start (code {await pod.process.wait()}): "
                                   + b"".join(said).decode(errors="replace"))
            said.append(line)
            if line.startswith(b"READY"):
                break
        # Keep draining its output so a chatty pod never blocks on a full pipe.
        asyncio.get_running_loop().create_task(_drain(pod.process.stdout))
        log.info("simulated pod started", pod=pod.name, address=pod.address, pid=pod.process.pid)

    async def stop(self, grace: float = 3.0) -> None:
        async def stop_one(pod: SimPod) -> None:
            proc, pod.process = pod.process, None
            await stop_child(proc, grace)

        await asyncio.gather(*(stop_one(p) for p in self.pods))


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass
