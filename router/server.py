"""The router as a running service: ext_proc gRPC, gRPC health, Prometheus metrics, scraping.

It is handed a `TableHolder`; whoever owns the holder (the operator) swaps snapshots in.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import grpc
import structlog
from aiohttp import web
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as pb_grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .endpoint_state import EndpointState
from .extproc import ExtProcService
from .metrics_scraper import MetricsScraper
from .prefix_index import PrefixIndex
from .scheduler.scheduler import Scheduler
from .table import RoutingTable, TableHolder
from .telemetry import Telemetry

log = structlog.get_logger("router")

GRPC_OPTIONS = [
    ("grpc.so_reuseport", 0),  # a port clash must fail loudly, not silently share the port
    ("grpc.max_receive_message_length", 128 * 1024 * 1024),  # long-context bodies
    ("grpc.max_send_message_length", 128 * 1024 * 1024),
]


@dataclass(frozen=True)
class RouterSettings:
    host: str = "127.0.0.1"
    ext_proc_port: int = 9002
    health_port: int = 9003     # 0: no health server
    metrics_port: int = 9090    # 0: no metrics server
    scrape_interval: float = 0.1
    stale_after: float = 1.0


class Router:
    def __init__(self, holder: TableHolder, settings: RouterSettings = RouterSettings()) -> None:
        self.holder = holder
        self.settings = settings
        self.state = EndpointState(stale_after=settings.stale_after)
        self.prefix_index = PrefixIndex()
        self.scheduler = Scheduler(self.state, self.prefix_index)
        self.telemetry = Telemetry()
        self.service = ExtProcService(holder, self.scheduler, self.state, self.telemetry)
        self.scraper = MetricsScraper(self.state, interval=settings.scrape_interval)
        self._grpc: grpc.aio.Server | None = None
        self._health_server: grpc.aio.Server | None = None
        self._health = health.aio.HealthServicer() if hasattr(health, "aio") else health.HealthServicer()
        self._metrics_runner: web.AppRunner | None = None

    def _on_table(self, table: RoutingTable) -> None:
        self.scraper.on_table(table)
        self.prefix_index.retain({ep.address for ep in table.endpoints()})
        for pool in table.pools.values():
            self.telemetry.ready_pods.labels(pool.key).set(len(pool.endpoints))

    async def start(self) -> None:
        s = self.settings
        self._grpc = grpc.aio.server(options=GRPC_OPTIONS)
        pb_grpc.add_ExternalProcessorServicer_to_server(self.service, self._grpc)
        self._grpc.add_insecure_port(f"{s.host}:{s.ext_proc_port}")
        await self._grpc.start()
        if s.health_port:
            self._health_server = grpc.aio.server(options=GRPC_OPTIONS)
            health_pb2_grpc.add_HealthServicer_to_server(self._health, self._health_server)
            self._health_server.add_insecure_port(f"{s.host}:{s.health_port}")
            await self._health_server.start()
            await _set_serving(self._health, "")
            await _set_serving(self._health, "envoy.service.ext_proc.v3.ExternalProcessor")
        if s.metrics_port:
            app = web.Application()
            app.router.add_get("/metrics", self._metrics)
            self._metrics_runner = web.AppRunner(app, access_log=None)
            await self._metrics_runner.setup()
            await web.TCPSite(self._metrics_runner, s.host, s.metrics_port).start()
        self.holder.subscribe(self._on_table)
        log.info("router started", ext_proc=f"{s.host}:{s.ext_proc_port}", health_port=s.health_port,
                 metrics_port=s.metrics_port)

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.telemetry.registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def stop(self) -> None:
        await self.scraper.stop()
        for server in (self._grpc, self._health_server):
            if server is not None:
                await server.stop(grace=1.0)
        if self._metrics_runner is not None:
            await self._metrics_runner.cleanup()


async def _set_serving(servicer, service: str) -> None:
    result = servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    if asyncio.iscoroutine(result):
        await result
