"""Router replicas as child processes, for local runs: `igw run --router-replicas N` (one
gateway whose Envoy spreads ext_proc streams over N routers, so routing uses several cores)
and bench/replicas.py. Each replica is `igw run --router-only` on its own loopback ports,
sharing the prefix index with the others (router/peer_sync.py). Every child dies with its
parent (operator/children.py) and is stopped by its PID.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from inference_gateway.bench.probes import process_cpu_seconds as _cpu_seconds
from inference_gateway.operator.children import spawn, stop_child
from inference_gateway.operator.ports import free_port

if TYPE_CHECKING:
    from inference_gateway.router.server import RouterSettings

START_TIMEOUT = 30.0


def free_peer_endpoint(host: str) -> str:
    return f"tcp://{host}:{free_port(host)}"


@dataclass
class RouterReplica:
    manifests: list[Path]
    host: str
    log_level: str = "warning"
    extra_args: tuple[str, ...] = ()  # more `igw run` options (e.g. --no-usage-metrics)
    ext_proc_port: int = 0
    metrics_port: int = 0
    peer_endpoint: str = ""
    proc: asyncio.subprocess.Process | None = None
    spent: float = 0.0      # CPU seconds of killed incarnations since they were ready
    ready_cpu: float = 0.0  # CPU the current incarnation had used when it became ready

    def __post_init__(self) -> None:
        self.ext_proc_port = self.ext_proc_port or free_port(self.host)
        self.metrics_port = self.metrics_port or free_port(self.host)
        self.peer_endpoint = self.peer_endpoint or free_peer_endpoint(self.host)

    async def start(self, peers: list[str] | None) -> None:
        """Start (or restart) the process; `peers` None: no sharing."""
        sync = [] if peers is None else ["--peer-listen", self.peer_endpoint, "--peers", ",".join(peers)]
        manifests = [a for m in self.manifests for a in ("--manifests", str(m))]
        self.proc = await spawn(
            sys.executable, "-P", "-c", "import sys; from inference_gateway.cli.main import main; sys.exit(main())",
            "--log-level", self.log_level, "run", "--router-only", *manifests, "--router-host", self.host,
            "--ext-proc-port", str(self.ext_proc_port), "--health-port", "0", "--metrics-port", str(self.metrics_port),
            *sync, *self.extra_args,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        for port in (self.ext_proc_port, self.metrics_port):
            while True:  # bounded by the deadline
                try:
                    _, writer = await asyncio.open_connection(self.host, port)
                    writer.close()
                    break
                except OSError:
                    if time.monotonic() > deadline or self.proc.returncode is not None:
                        await self.stop()
                        raise RuntimeError(f"router replica on {self.host}:{self.ext_proc_port} did not start")
                    await asyncio.sleep(0.05)
        self.ready_cpu = _cpu_seconds(self.proc.pid)

    def cpu(self) -> float:
        """CPU seconds spent since ready (start-up excluded), over every incarnation."""
        return self.spent + (_cpu_seconds(self.proc.pid) - self.ready_cpu if self.proc else 0.0)

    async def kill(self) -> None:
        """SIGKILL, as a node failure would (no goodbye to peers or Envoy)."""
        assert self.proc is not None
        self.spent += _cpu_seconds(self.proc.pid) - self.ready_cpu
        self.proc.kill()
        await self.proc.wait()

    async def stop(self) -> None:
        proc, self.proc = self.proc, None
        await stop_child(proc, grace=3.0)


def with_replicas(router: RouterSettings, count: int, manifests: list[Path], log_level: str = "warning",
                  extra_args: tuple[str, ...] = ()) -> tuple[RouterSettings, list[RouterReplica]]:
    """`router` (served in this process) joined by `count - 1` child replicas behind one Envoy,
    all sharing the prefix index: its settings with peer sync on, and the children (not started;
    start each with `start_children`). Envoy's ext_proc endpoints: `ext_proc_endpoints()`."""
    if count <= 1:
        return router, []
    own = router.peer_listen or free_peer_endpoint(router.host)
    children = [RouterReplica(manifests, router.host, log_level, extra_args) for _ in range(count - 1)]
    return replace(router, peer_listen=own, peers=router.peers + tuple(c.peer_endpoint for c in children)), children


def ext_proc_endpoints(router: RouterSettings, children: list[RouterReplica]) -> tuple[tuple[str, int], ...]:
    return ((router.host, router.ext_proc_port), *((c.host, c.ext_proc_port) for c in children)) if children else ()


async def start_children(router: RouterSettings, children: list[RouterReplica]) -> None:
    for child in children:
        await child.start([router.peer_listen or ""] + [c.peer_endpoint for c in children if c is not child])


async def start_replicas(count: int, manifests: list[Path], host: str, peers: list[str],
                         log_level: str = "warning", extra_args: tuple[str, ...] = ()) -> list[RouterReplica]:
    """`count` replicas sharing with each other and with `peers` (e.g. the in-process router)."""
    group = [RouterReplica(manifests, host, log_level, extra_args) for _ in range(count)]
    try:
        for r in group:
            await r.start(peers + [p.peer_endpoint for p in group if p is not r])
    except BaseException:
        await stop_replicas(group)
        raise
    return group


async def stop_replicas(group: list[RouterReplica]) -> None:
    await asyncio.gather(*(r.stop() for r in group))
