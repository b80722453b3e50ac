"""`igw run --manifests DIR`: the whole gateway in one process, without a cluster.

The file provider feeds the same translation the Kopf operator uses; the routing table goes to
the in-process router, the Envoy resources to our ADS server, and a real Envoy child takes its
listeners from there.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from inference_gateway.operator.api import AnyObject
from inference_gateway.operator.envoy_process import EnvoyProcess
from inference_gateway.operator.providers.files import FileProvider
from inference_gateway.operator.status_report import standalone_statuses, write_status_dir
from inference_gateway.operator.translate.envoy import EnvoySettings, ads_bootstrap, envoy_resources
from inference_gateway.operator.translate.gateway import GatewayIR, build_gateway_ir
from inference_gateway.operator.translate.objects import ObjectSet
from inference_gateway.operator.translate.routing import build_routing_table
from inference_gateway.operator.xds import AdsServer, start_ads_server
from inference_gateway.router.server import Router, RouterSettings
from inference_gateway.router.table import RoutingTable, TableHolder

log = structlog.get_logger("gateway")


@dataclass(frozen=True)
class StandaloneSettings:
    manifests: list[Path]
    listen_address: str = "127.0.0.1"
    router: RouterSettings = field(default_factory=RouterSettings)
    xds_port: int = 18000
    admin_port: int = 19000
    envoy_concurrency: int = 2
    envoy_log_level: str = "warning"
    reload_interval: float = 1.0
    workdir: Path | None = None
    # Where the statuses the operator would write go, one YAML file per object (None: kept in
    # memory only, as `Standalone.statuses`).
    status_dir: Path | None = None

    @property
    def picker_only(self) -> bool:
        """`--pool`: the router serves as one pool's endpoint picker behind another gateway."""
        return bool(self.router.pool)


class Standalone:
    def __init__(self, settings: StandaloneSettings) -> None:
        self.settings = settings
        self.holder = TableHolder()
        self.router = Router(self.holder, settings.router)
        self.ads = AdsServer()
        self.provider = FileProvider(settings.manifests, self.apply, settings.reload_interval)
        self.envoy_settings = EnvoySettings(
            bind_address=settings.listen_address,
            ext_proc_address=(settings.router.host, settings.router.ext_proc_port))
        self.envoy: EnvoyProcess | None = None
        self.ir = GatewayIR(listeners=())
        self._tasks: list[asyncio.Task[None]] = []
        self._xds_server = None
        self._version = 0
        self.statuses: dict = {}

    @property
    def table(self) -> RoutingTable:
        return self.holder.current

    def apply(self, objects: list[AnyObject]) -> None:
        """Translate the objects now in effect and swap them in (router first, then Envoy)."""
        objs = ObjectSet.of(objects)
        self._version += 1
        self.statuses = standalone_statuses(objs, self.settings.listen_address, self.statuses)
        if self.settings.status_dir is not None:
            write_status_dir(self.settings.status_dir, self.statuses)
        table = build_routing_table(objs, self._version)
        ir = build_gateway_ir(objs)
        resources = envoy_resources(ir, table, self.envoy_settings)
        try:
            version = self.ads.set_resources(resources)
        except Exception as err:  # Envoy would reject it too: keep the last good configuration
            log.error("envoy configuration not built; keeping the last good one", error=str(err))
            return
        self.holder.swap(table)
        self.ir = ir
        log.info("routing table updated", version=table.version, xds_version=version,
                 pools={k: len(p.endpoints) for k, p in table.pools.items()},
                 listeners=[f"{self.settings.listen_address}:{li.port}" for li in ir.listeners])
        for note in table.notes:
            log.info("routing choice", note=note)

    async def start(self) -> None:
        s = self.settings
        await self.router.start()
        if s.picker_only:
            self.apply(self.provider.load())
            self._tasks.append(asyncio.create_task(self.provider.run()))
            log.info("endpoint picker ready", pool=s.router.pool, ext_proc=f"{s.router.host}:{s.router.ext_proc_port}")
            return
        self._xds_server = await start_ads_server(self.ads, "127.0.0.1", s.xds_port)
        self.apply(self.provider.load())
        self.envoy = EnvoyProcess(
            ads_bootstrap("igw-standalone", ("127.0.0.1", s.xds_port), s.admin_port, self.envoy_settings),
            s.admin_port, workdir=s.workdir, concurrency=s.envoy_concurrency, log_level=s.envoy_log_level)
        await self.envoy.start()
        await self.ads.wait_acked(self.ads.version)
        await self._wait_listeners()
        self._tasks.append(asyncio.create_task(self.provider.run()))
        log.info("gateway ready", listeners=[f"{s.listen_address}:{li.port}" for li in self.ir.listeners])

    async def _wait_listeners(self, timeout: float = 10.0) -> None:
        """Until every Gateway listener accepts connections (Envoy binds after it ACKs)."""
        deadline = asyncio.get_running_loop().time() + timeout
        for listener in self.ir.listeners:
            while True:
                try:
                    _, writer = await asyncio.open_connection(self.settings.listen_address, listener.port)
                    writer.close()
                    await writer.wait_closed()
                    break
                except OSError:
                    if asyncio.get_running_loop().time() > deadline:
                        raise TimeoutError(f"listener {listener.name} did not open on port {listener.port}")
                    await asyncio.sleep(0.05)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.envoy is not None:
            await self.envoy.stop()
        if self._xds_server is not None:
            await self._xds_server.stop(grace=0.5)
        await self.router.stop()
