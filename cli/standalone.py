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
from inference_gateway.operator.envoy_supervisor import EnvoySupervisor, RestartPolicy
from inference_gateway.operator.problems import ProblemLog
from inference_gateway.operator.providers.files import FileProvider
from inference_gateway.operator.status_report import standalone_statuses, write_status_dir
from inference_gateway.operator.translate import SHARED_PROXY, TranslateSettings, Translation, translate
from inference_gateway.operator.translate.bootstrap import ads_bootstrap
from inference_gateway.operator.translate.edge_limits import EdgeLimits
from inference_gateway.operator.translate.envoy import EnvoySettings
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
    # Router replicas (router/peer_sync.py): `router_only` runs the router without ADS or
    # Envoy; `ext_proc_endpoints` points this gateway's Envoy at those replicas instead of its
    # own router (Envoy spreads ext_proc streams over them).
    router_only: bool = False
    ext_proc_endpoints: tuple[tuple[str, int], ...] = ()
    edge: EdgeLimits = field(default_factory=EdgeLimits)  # Envoy's limits at the edge
    access_log: str | None = None  # Envoy's access log (EnvoySettings.access_log)
    one_message: bool = True  # EnvoySettings.one_message (bench/overhead.py turns it off to compare)
    # SIGTERM: seconds in-flight requests get to finish (the chart's terminationGracePeriodSeconds is longer).
    shutdown_grace: float = 30.0
    restart_policy: RestartPolicy = field(default_factory=RestartPolicy)
    # Where the statuses the operator would write go, one YAML file per object (None: kept in
    # memory only, as `Standalone.statuses`).
    status_dir: Path | None = None

    @property
    def picker_only(self) -> bool:
        """`--pool`: the router serves as one pool's endpoint picker behind another gateway."""
        return bool(self.router.pool)

    @property
    def without_envoy(self) -> bool:
        """A router replica or an endpoint picker: the router alone, no Envoy of its own."""
        return self.router_only or self.picker_only


class Standalone:
    def __init__(self, settings: StandaloneSettings) -> None:
        self.settings = settings
        self.holder = TableHolder()
        self.router = Router(self.holder, settings.router)
        self.ads = AdsServer()
        self.provider = FileProvider(settings.manifests, self.apply, settings.reload_interval)
        self.envoy_settings = EnvoySettings(
            bind_address=settings.listen_address,
            ext_proc_address=(settings.router.host, settings.router.ext_proc_port),
            ext_proc_endpoints=settings.ext_proc_endpoints, edge=settings.edge, access_log=settings.access_log,
            one_message=settings.one_message)
        self.envoy: EnvoyProcess | None = None
        self.translation: Translation | None = None
        self.problems = ProblemLog(log)
        self._tasks: list[asyncio.Task[None]] = []
        self._xds_server = None
        self._supervisor: asyncio.Task[None] | None = None
        self._version = 0
        self.statuses: dict = {}

    @property
    def table(self) -> RoutingTable:
        return self.holder.current

    @property
    def listeners(self) -> list[tuple[str, int]]:
        """(name, port) of every Gateway listener Envoy serves."""
        return self.translation.listeners if self.translation else []

    def apply(self, objects: list[AnyObject]) -> None:
        """Translate the objects now in effect and publish: router first, then Envoy."""
        self._version += 1
        translation = translate(objects, TranslateSettings(envoy=self.envoy_settings, version=self._version))
        self.problems.report(translation.problems)
        self.statuses = standalone_statuses(translation, self.settings.listen_address, self.statuses)
        if self.settings.status_dir is not None:
            write_status_dir(self.settings.status_dir, self.statuses)
        version = None
        if not self.settings.without_envoy:  # a router replica or a picker has no Envoy of its own
            try:
                version = self.ads.set_resources(translation.envoy[SHARED_PROXY])
            except Exception as err:  # Envoy would reject it too: keep the last good configuration
                log.error("envoy configuration not built; keeping the last good one", error=str(err))
                return
        self.holder.swap(translation.table)
        self.translation = translation
        log.info("routing table updated", version=translation.table.version, xds_version=version,
                 pools={k: len(p.endpoints) for k, p in translation.table.pools.items()},
                 listeners=[f"{self.settings.listen_address}:{port}" for _, port in self.listeners])
        for note in translation.notes:
            log.info("routing choice", note=note)

    async def start(self) -> None:
        s = self.settings
        await self.router.start()
        if s.without_envoy:
            self.apply(self.provider.load())
            self._tasks.append(asyncio.create_task(self.provider.run()))
            if s.picker_only:
                log.info("endpoint picker ready", pool=s.router.pool, ext_proc=f"{s.router.host}:{s.router.ext_proc_port}")
            else:
                log.info("router replica ready", ext_proc=f"{s.router.host}:{s.router.ext_proc_port}")
            return
        self._xds_server = await start_ads_server(self.ads, "127.0.0.1", s.xds_port)
        self.apply(self.provider.load())
        self.envoy = EnvoyProcess(
            ads_bootstrap("igw-standalone", ("127.0.0.1", s.xds_port), s.admin_port, self.envoy_settings),
            s.admin_port, workdir=s.workdir, concurrency=s.envoy_concurrency, log_level=s.envoy_log_level)
        await self.envoy.start()
        await self.ads.wait_acked(self.ads.version)
        await self._wait_listeners()
        self._supervisor = asyncio.create_task(
            EnvoySupervisor(self.envoy, self.router.set_serving, self._wait_listeners, s.restart_policy).run())
        self._tasks.append(asyncio.create_task(self.provider.run()))
        log.info("gateway ready", listeners=[f"{s.listen_address}:{port}" for _, port in self.listeners])

    async def _wait_listeners(self, timeout: float = 10.0) -> None:
        """Until every Gateway listener accepts connections (Envoy binds after it ACKs)."""
        deadline = asyncio.get_running_loop().time() + timeout
        for name, port in self.listeners:
            while True:
                try:
                    _, writer = await asyncio.open_connection(self.settings.listen_address, port)
                    writer.close()
                    await writer.wait_closed()
                    break
                except OSError:
                    if asyncio.get_running_loop().time() > deadline:
                        raise TimeoutError(f"listener {name} did not open on port {port}")
                    await asyncio.sleep(0.05)

    async def serve(self, stopped: asyncio.Future[None] | asyncio.Task[None]) -> int:
        """Serve until `stopped` (SIGTERM/SIGINT): drain, exit code 0. An Envoy that keeps
        crashing ends the gateway sooner, with exit code 1, so that it is restarted whole."""
        if self.settings.without_envoy:  # no Envoy to supervise: serve until told to stop
            await stopped
            await self.router.set_serving(False)
            return 0
        assert self._supervisor is not None, "start() first"
        done, _ = await asyncio.wait({stopped, self._supervisor}, return_when=asyncio.FIRST_COMPLETED)
        if self._supervisor in done:
            stopped.cancel()
            log.error("gateway stopping: its Envoy cannot be kept running", error=str(self._supervisor.exception()))
            return 1
        await self.drain()
        return 0

    async def drain(self) -> None:
        """Health NOT_SERVING, Envoy stops accepting, requests in flight get `shutdown_grace`
        seconds. The router keeps answering ext_proc meanwhile (it stops last)."""
        await self._stop_supervising()
        await self.router.set_serving(False)
        if self.envoy is not None:
            await self.envoy.drain(self.settings.shutdown_grace)

    async def _stop_supervising(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)

    async def stop(self) -> None:
        await self._stop_supervising()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.envoy is not None:
            await self.envoy.close()
        if self._xds_server is not None:
            await self._xds_server.stop(grace=0.5)
        await self.router.stop()
