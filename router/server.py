"""The router as a running service: ext_proc gRPC, gRPC health, Prometheus metrics, scraping.

It is handed a `TableHolder`; whoever owns the holder (the operator) swaps snapshots in.
"""

from __future__ import annotations

import asyncio
import gc
from dataclasses import dataclass

import grpc
import structlog
from aiohttp import web
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as pb_grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from . import allocator
from .admission import Admission
from .director import Director
from .endpoint_state import EndpointState
from .extproc import ExtProcService
from .kv_events import KVEventSubscriber
from .metrics_scraper import MetricsScraper
from .peer_sync import PeerSync
from .prefill_sender import PrefillSender
from .prefix_index import PrefixIndex
from .scheduler.config import SchedulerConfig, load_config
from .scheduler.plugins.saturation_filter import SaturationFilter
from .scheduler.profiles import Precise, build_profiles
from .scheduler.scheduler import Scheduler
from .table import RoutingTable, TableHolder
from .telemetry import Telemetry
from .token_usage import TokenAccounting
from .tokenization import load_tokenizer

log = structlog.get_logger("router")

GRPC_OPTIONS = [
    ("grpc.so_reuseport", 0),  # a port clash must fail loudly, not silently share the port
    ("grpc.max_receive_message_length", 128 * 1024 * 1024),  # long-context bodies
    ("grpc.max_send_message_length", 128 * 1024 * 1024),
    # Channelz keeps per-call and per-message statistics nobody reads here; off, the router
    # spent 4–10% less CPU per request (bench/overhead.py, A/B back to back).
    ("grpc.enable_channelz", 0),
]


@dataclass(frozen=True)
class RouterSettings:
    host: str = "127.0.0.1"
    ext_proc_port: int = 9002
    health_port: int = 9003     # 0: no health server
    metrics_port: int = 9090    # 0: no metrics server
    scrape_interval: float = 0.1
    stale_after: float = 1.0
    # Scorer weights per strategy and admission thresholds (YAML; see scheduler/config.py).
    # None: the defaults. `scheduler` (an already parsed config) wins over the file.
    scheduler_config: str | None = None
    scheduler: SchedulerConfig | None = None
    # Token histograms (inference_model_input_tokens, …_output_tokens), from the pods' own
    # token metrics (token_usage.py): no ext_proc message and no response bytes per request.
    read_usage: bool = True
    log_requests: bool = True   # one "Request Handled" JSON line per request
    # Precise prefix mode: the model servers' tokenizer.json (None: our simulator's tokenizer).
    tokenizer: str | None = None
    # Prefill/decode delivery: "mirror" (Envoy sends the prefill copy) or "router" (the router
    # posts it). bench/pd_delivery.py measures both; mirror is the default.
    pd_delivery: str = "mirror"
    # Picker mode: requests whose gateway names no pool (any conformant gateway; only our own
    # Envoy says which pool a route targets) go to this pool, "namespace/name".
    pool: str = ""
    # Conformance only: honour the `test-epp-endpoint-selection` header (router/picker_protocol.py).
    test_endpoint_selection: bool = False
    # Router replicas sharing their estimate prefix index (router/peer_sync.py): this replica's
    # ZMQ endpoint (e.g. tcp://10.0.0.5:5600; None: no sharing) and its peers' endpoints.
    peer_listen: str | None = None
    peers: tuple[str, ...] = ()


class Router:
    def __init__(self, holder: TableHolder, settings: RouterSettings = RouterSettings()) -> None:
        self.holder = holder
        self.settings = settings
        config = settings.scheduler or load_config(settings.scheduler_config)
        self.state = EndpointState(stale_after=settings.stale_after)
        self.prefix_index = PrefixIndex()
        self.precise = Precise(tokenizer=load_tokenizer(settings.tokenizer))
        self.scheduler = Scheduler(self.state, self.prefix_index, build_profiles(
            self.prefix_index, config.weights,
            saturation=SaturationFilter(config.admission.max_waiting, config.admission.max_kv),
            precise=self.precise))
        self.kv_events = KVEventSubscriber(self.precise.index)
        self.telemetry = Telemetry()
        self.admission = Admission(self.state, config.admission, on_change=self._queue_changed)
        self.prefill_sender = PrefillSender() if settings.pd_delivery == "router" else None
        self.accounting = TokenAccounting(self.telemetry) if settings.read_usage else None
        self.director = Director(holder, self.scheduler, self.state, self.telemetry, admission=self.admission,
                                 accounting=self.accounting, log_requests=settings.log_requests,
                                 prefill_sender=self.prefill_sender, default_pool=settings.pool)
        self.service = ExtProcService(self.director, test_selection=settings.test_endpoint_selection)
        self.peer_sync = PeerSync(self.prefix_index, settings.peer_listen, settings.peers,
                                  registry=self.telemetry.registry) if settings.peer_listen else None
        self.telemetry.watch_pools(self._pool_gauges, lambda: len(self.prefix_index),
                                   self.state.step_cost.tokens_per_running)
        self.scraper = MetricsScraper(self.state, interval=settings.scrape_interval, reader=self.accounting)
        self._grpc: grpc.aio.Server | None = None
        self._health_server: grpc.aio.Server | None = None
        self._health = health.aio.HealthServicer() if hasattr(health, "aio") else health.HealthServicer()
        self._metrics_runner: web.AppRunner | None = None
        self._gc_task: asyncio.Task | None = None

    def _on_table(self, table: RoutingTable) -> None:
        if self.accounting is not None:
            self.accounting.on_table(table)
        self.scraper.on_table(table)
        self.kv_events.on_table(table)
        self.prefix_index.retain({ep.address for ep in table.endpoints()})
        if self.peer_sync is not None:
            self.peer_sync.on_table(table)

    def _queue_changed(self, pool: str, criticality, length: int) -> None:
        self.telemetry.child(self.telemetry.queue_size, pool, str(criticality)).set(length)

    def _pool_gauges(self) -> list[tuple[str, int, float, float]]:
        out = []
        for pool in self.holder.current.pools.values():
            fresh = [m for m in (self.state.fresh(ep.address) for ep in pool.endpoints) if m is not None]
            kv = sum(m.kv_usage for m in fresh) / len(fresh) if fresh else 0.0
            queue = sum(m.waiting for m in fresh) / len(fresh) if fresh else 0.0
            out.append((pool.key, len(pool.endpoints), kv, queue))
        return out

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
            await self.set_serving(True)
        if s.metrics_port:
            app = web.Application()
            app.router.add_get("/metrics", self._metrics)
            self._metrics_runner = web.AppRunner(app, access_log=None)
            await self._metrics_runner.setup()
            await web.TCPSite(self._metrics_runner, s.host, s.metrics_port).start()
        if self.peer_sync is not None:
            await self.peer_sync.start()
        self.holder.subscribe(self._on_table)
        tune_gc()
        allocator.pin_mmap_threshold()
        self._gc_task = asyncio.get_running_loop().create_task(self._refreeze())
        log.info("router started", ext_proc=f"{s.host}:{s.ext_proc_port}", health_port=s.health_port,
                 metrics_port=s.metrics_port)

    async def set_serving(self, serving: bool) -> None:
        """gRPC health for the whole gateway: NOT_SERVING while its Envoy is down or draining."""
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for service in ("", "envoy.service.ext_proc.v3.ExternalProcessor"):
            result = self._health.set(service, status)
            if asyncio.iscoroutine(result):
                await result

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.telemetry.registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _refreeze(self) -> None:
        while True:  # ends when stop() cancels it
            await asyncio.sleep(GC_FREEZE_INTERVAL)
            refreeze()
            allocator.trim()  # what the collection and the index's churn freed goes back (~1 ms)

    async def stop(self) -> None:
        await self.kv_events.stop()
        if self.peer_sync is not None:
            await self.peer_sync.stop()
        if self.prefill_sender is not None:
            await self.prefill_sender.stop()
        if self._gc_task is not None:
            self._gc_task.cancel()
        await self.scraper.stop()
        for server in (self._grpc, self._health_server):
            if server is not None:
                await server.stop(grace=1.0)
        if self._metrics_runner is not None:
            await self._metrics_runner.cleanup()


GC_THRESHOLDS = (50_000, 20, 100)
GC_FREEZE_INTERVAL = 30.0


def tune_gc() -> None:
    """Keep the cyclic garbage collector off the request path.

    The prefix index holds hundreds of thousands of objects; collections that walk them
    showed up as scheduling p99 spikes (1,000 endpoints: p99 1.1 ms → 0.75 ms with this).
    Objects that exist now are frozen (never scanned; reference counting still frees them, and
    the index holds no cycles) and young collections run less often.
    """
    refreeze()
    gc.set_threshold(*GC_THRESHOLDS)


def refreeze() -> None:
    """Freeze what is alive now, and only that. Every ext_proc call leaves a small reference
    cycle behind (grpc.aio's method lookup: a closure, its scope, the call details and the
    invocation metadata, 8 objects), which only the cyclic collector frees. Frozen before it
    ran, that garbage moved to the permanent generation and was never freed: the router grew
    ~1.4 KB per request. Collecting first frees it; the collection only walks what was born
    since the last freeze, since frozen objects are not scanned."""
    gc.collect()
    gc.freeze()
