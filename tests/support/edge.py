"""What the hostile-input tests share: a gateway on its own loopback network with chosen edge
limits, and a raw HTTP/1.1 exchange (bytes out, status + headers + body back) that sends what
a well-behaved client library would refuse to send."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator

from inference_gateway.operator.ports import free_port
from inference_gateway.cli.sim_fleet import SimFleet
from inference_gateway.cli.standalone import Standalone, StandaloneSettings
from inference_gateway.operator.translate.edge_limits import EdgeLimits
from inference_gateway.router.server import RouterSettings

from .env import EXAMPLES, VLLM_LABELS, write_manifests

MODEL = "/models/Qwen3-32B"


@dataclass
class EdgeGateway:
    gateway: Standalone
    fleet: SimFleet
    host: str
    port: int

    @property
    def envoy_pid(self) -> int:
        assert self.gateway.envoy is not None and self.gateway.envoy.process is not None
        return self.gateway.envoy.process.pid


@asynccontextmanager
async def edge_gateway(tmp_path: Path, network: str, limits: EdgeLimits, pods: int = 2) -> AsyncIterator[EdgeGateway]:
    """The seed's pool and Gateway on `network`.1 with `pods` simulated vLLM pods on .2, .3, …"""
    host = f"{network}.1"
    fleet = SimFleet(count=pods, labels=VLLM_LABELS, port=free_port(f"{network}.2"), subnet=network)
    await fleet.start()
    gateway = None
    try:
        port = free_port(host)
        d = tmp_path / "manifests"
        d.mkdir()
        write_manifests(d, "pool.yaml", (EXAMPLES / "prefix-cache" / "vllm-single.yaml").read_text()
                        .replace("targetPortNumber: 8000", f"targetPortNumber: {fleet.port}"))
        write_manifests(d, "gateway.yaml", (EXAMPLES / "gateway.yaml").read_text().replace("port: 8080", f"port: {port}"))
        write_manifests(d, "pods.yaml", fleet.pods_yaml())
        gateway = Standalone(StandaloneSettings(
            manifests=[d], listen_address=host, edge=limits,
            router=RouterSettings(host=host, ext_proc_port=free_port(host), health_port=0, metrics_port=0,
                                  scrape_interval=0.05, log_requests=False),
            xds_port=free_port(), admin_port=free_port(), envoy_concurrency=1, workdir=tmp_path / "envoy"))
        await gateway.start()
        yield EdgeGateway(gateway, fleet, host, port)
    finally:
        if gateway is not None:
            await gateway.stop()
        await fleet.stop()


@dataclass
class Answer:
    status: int            # 0: the connection closed without an answer
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


def parse_answer(data: bytes) -> Answer:
    while data.startswith(b"HTTP/1.1 1"):  # interim answers (100 Continue) come first
        data = data.partition(b"\r\n\r\n")[2]
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep or not head.startswith(b"HTTP/"):
        return Answer(0, {}, data)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    return Answer(status, headers, body)


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2:]
    return bytes(out)


async def exchange(host: str, port: int, request: bytes, timeout: float = 20.0) -> Answer:
    """Send raw bytes, read until the server closes (or `timeout`), parse the first answer."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        await writer.drain()
        chunks = []
        async with asyncio.timeout(timeout):
            while chunk := await reader.read(65536):
                chunks.append(chunk)
    except (ConnectionError, TimeoutError):
        pass
    finally:
        writer.close()
    return parse_answer(b"".join(chunks))


def http_request(method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
                 host: str = "gateway") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"host: {host}", "connection: close"]
    if body is not None:
        lines += ["content-type: application/json", f"content-length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "surrogateescape") + (body or b"")


def rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0
