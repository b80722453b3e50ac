"""The in-cluster gateway: Kopf mirrors our objects into a store, translation runs on every
change (debounced), the router and the xDS server take the results; the elected leader writes
statuses and provisions Envoy.

    Kopf watch events ─┐                    ┌─▶ TableHolder.swap (router, every replica)
    Pod watches ───────┼─▶ ObjectStore ─▶ apply ─▶ AdsServer.set_resources(per Gateway)
    (per pool selector)┘   (debounced 50 ms)  └─▶ Reconciler.kick (leader only: status, Envoy)

Kopf runs standalone (no peering: peering would freeze every handler on non-leaders, and all
replicas must keep their tables current) and only with `on.event` handlers, so it never
writes to our objects (no finalizers, no annotations). It runs in a thread with its own event
loop: on exit Kopf cancels every task of its loop that it did not find there at start, which
would include the router's and the xDS server's. Its handlers hand each event to our loop
(`call_soon_threadsafe`). Leadership is a Lease (leader.py).
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import grpc
import kopf
import structlog
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from inference_gateway.router.server import Router, RouterSettings
from inference_gateway.router.table import TableHolder

from ..problems import ProblemLog
from ..translate import TranslateSettings, Translation, translate
from ..translate.envoy import EnvoyResources, EnvoySettings
from ..translate.provisioning import ProvisioningSettings
from ..xds import AdsServer, start_ads_server
from .leader import LeaderElector, LeaseSettings
from .pods import PodWatchers
from .reconcile import Reconciler
from .router_peers import RouterPeers
from .store import WATCHED, ObjectStore, WatchedKind

log = structlog.get_logger("kube")


@dataclass(frozen=True)
class ClusterSettings:
    router: RouterSettings = field(default_factory=RouterSettings)
    xds_host: str = "127.0.0.1"
    xds_port: int = 18000
    # What the provisioned Envoys are told (listeners' bind address, where ext_proc is).
    envoy: EnvoySettings = field(default_factory=lambda: EnvoySettings(bind_address="0.0.0.0", ext_proc_address=None,
                                                                       rds=True, not_found_route=True))
    provisioning: ProvisioningSettings = field(default_factory=ProvisioningSettings)
    lease: LeaseSettings = field(default_factory=LeaseSettings)
    identity: str = ""
    watch_namespaces: tuple[str, ...] = ()   # empty: every namespace
    debounce: float = 0.05
    reconcile_interval: float = 5.0
    resync_interval: float = 300.0
    # (namespace, name) of the router's Service: with peer sync on, its EndpointSlices list
    # the replicas to share the prefix index with (router_peers.py).
    router_service: tuple[str, str] | None = None


def default_identity() -> str:
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{uuid.uuid4().hex[:6]}"


async def connection_info(config: client.Configuration) -> kopf.ConnectionInfo:
    """Kopf's credentials from the same configuration our own client uses."""
    header = config.get_api_key_with_prefix("BearerToken")
    if inspect.isawaitable(header):
        header = await header
    parts = header.split(" ", 1) if header else []
    scheme, token = (None, None) if not parts else (None, parts[0]) if len(parts) == 1 else (parts[0], parts[1])
    return kopf.ConnectionInfo(server=config.host, ca_path=config.ssl_ca_cert, insecure=not config.verify_ssl,
                               scheme=scheme, token=token, certificate_path=config.cert_file,
                               private_key_path=config.key_file, username=config.username or None,
                               password=config.password or None)


def on_watch_event(store: ObjectStore, watched: WatchedKind, event: dict[str, Any]) -> None:
    """One Kopf watch event into the store (the handler is only this call)."""
    raw = event.get("object") or {}
    meta = raw.get("metadata") or {}
    if event.get("type") == "DELETED":
        store.remove(watched.key_kind, meta.get("namespace") or "", meta.get("name") or "")
    else:
        store.put({**raw, "kind": watched.kind, "apiVersion": raw.get("apiVersion") or watched.api_version})


def build_registry(store: ObjectStore, config: client.Configuration,
                   loop: asyncio.AbstractEventLoop) -> kopf.OperatorRegistry:
    """Kopf's handlers: each watch event goes to `on_watch_event` on our loop."""
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    async def login(**_: Any) -> kopf.ConnectionInfo:
        return await connection_info(config)

    for watched in WATCHED:
        async def mirror(event: dict[str, Any], _watched: WatchedKind = watched, **_: Any) -> None:
            loop.call_soon_threadsafe(on_watch_event, store, _watched, copy.deepcopy(dict(event)))
        kopf.on.event(watched.group, watched.version, watched.plural, id=f"mirror-{watched.plural}",
                      registry=registry)(mirror)
    return registry


def kopf_settings() -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    settings.peering.standalone = True      # NOTES: peering freezes handlers on non-leaders
    settings.posting.enabled = False        # our handlers only mirror; nothing worth an Event
    settings.watching.server_timeout = 300  # bounded watch requests, resumed by resourceVersion
    return settings


class Debouncer:
    """Call `fn` once, `delay` seconds after the first of a burst of kicks."""

    def __init__(self, delay: float, fn: Any) -> None:
        self.delay, self.fn = delay, fn
        self._handle: asyncio.TimerHandle | None = None

    def kick(self) -> None:
        if self._handle is None:
            self._handle = asyncio.get_running_loop().call_later(self.delay, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self.fn()

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class ClusterGateway:
    def __init__(self, settings: ClusterSettings, api_config: client.Configuration) -> None:
        self.settings = settings
        self.api_config = api_config
        self.identity = settings.identity or default_identity()
        self.holder = TableHolder()
        self.router = Router(self.holder, settings.router)
        self.ads = AdsServer()
        self.debouncer = Debouncer(settings.debounce, self.apply)
        self.store = ObjectStore(self.debouncer.kick)
        self.api: client.ApiClient | None = None
        self.pods: PodWatchers | None = None
        self.reconciler: Reconciler | None = None
        self.elector: LeaderElector | None = None
        self.kopf_ready = threading.Event()
        self._kopf_stop = threading.Event()
        self._kopf_thread: threading.Thread | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._reconcile_task: asyncio.Task[None] | None = None
        self._xds_server: grpc.aio.Server | None = None
        self._version = 0
        self._published: dict[str, EnvoyResources] = {}
        self.translation: Translation | None = None
        self.problems = ProblemLog(log)
        self.applied = 0

    # ---- translation: the same entry point the file provider's path uses
    def apply(self) -> None:
        self._version += 1
        translation = translate(self.store.object_set(), TranslateSettings(
            envoy=self.settings.envoy, shared_proxy=False, version=self._version))
        self.problems.report(translation.problems)
        for group, resources in translation.envoy.items():
            if self._published.get(group) == resources:
                continue
            try:
                version = self.ads.set_resources(resources, group=group)
            except Exception as err:  # noqa: BLE001  Envoy would reject it too: keep the last good one
                log.error("envoy configuration not built; keeping the last good one", gateway=group, error=str(err))
                continue
            self._published[group] = resources
            log.info("xds snapshot", gateway=group, version=version,
                     listeners=[li["name"] for li in resources.listeners])
        for gone in set(self._published) - set(translation.envoy):
            self._published.pop(gone)
            self.ads.remove_group(gone)
        self.holder.swap(translation.table)
        self.translation = translation
        self.applied += 1
        log.info("routing table updated", version=translation.table.version,
                 pools={k: len(p.endpoints) for k, p in translation.table.pools.items()})
        for note in translation.notes:
            log.info("routing choice", note=note)
        if self.pods is not None:
            self.pods.sync(self.store.pod_selectors())
        if self.reconciler is not None:
            self.reconciler.kick(translation)

    # ---- lifecycle
    async def start(self) -> None:
        s = self.settings
        self.api = client.ApiClient(self.api_config)
        await self.router.start()
        self._xds_server = await start_ads_server(self.ads, s.xds_host, s.xds_port)
        await self.resync()
        self.pods = PodWatchers(self.api, self.store)
        self.pods.sync(self.store.pod_selectors())
        try:
            await self.pods.wait_synced()
        except asyncio.TimeoutError:
            log.warning("pods not listed in time; starting anyway")
        self.debouncer.cancel()
        self.apply()
        self.reconciler = Reconciler(self.api, self.store, self.ads, s.provisioning, s.reconcile_interval,
                                     namespaces=s.watch_namespaces)
        self.reconciler.kick(self.translation)
        self.elector = LeaderElector(self.api, self.identity, s.lease,
                                     on_start=self._start_leading, on_stop=self._stop_leading)
        registry = build_registry(self.store, self.api_config, asyncio.get_running_loop())

        def run_kopf() -> None:
            asyncio.run(kopf.operator(
                registry=registry, settings=kopf_settings(), standalone=True,
                clusterwide=not s.watch_namespaces, namespaces=list(s.watch_namespaces),
                stop_flag=self._kopf_stop, ready_flag=self.kopf_ready))

        self._kopf_thread = threading.Thread(target=run_kopf, name="kopf", daemon=True)
        self._kopf_thread.start()
        self._tasks.append(asyncio.create_task(self.elector.run(), name="leader-election"))
        self._tasks.append(asyncio.create_task(self._resync_loop(), name="resync"))
        sync = self.router.peer_sync
        if sync is not None and s.router_service:
            peers = RouterPeers(self.api, *s.router_service, port=int(sync.listen.rsplit(":", 1)[1]),
                                on_change=sync.set_peers)
            self._tasks.append(asyncio.create_task(peers.run(), name="router-peers"))
        log.info("gateway started", identity=self.identity, xds=f"{s.xds_host}:{s.xds_port}",
                 ext_proc=f"{s.router.host}:{s.router.ext_proc_port}")

    async def resync(self) -> None:
        """List every watched kind into the store (at start, then periodically: catches anything
        a watch missed). A namespace we may not list (403) is skipped, and what the store holds
        from it is kept: a refusal there must not empty the rest."""
        assert self.api is not None
        custom = client.CustomObjectsApi(self.api)
        for watched in WATCHED:
            scoped = watched.namespaced and bool(self.settings.watch_namespaces)
            items: list[dict[str, Any]] = []
            listed: list[str] = []
            for ns in self.settings.watch_namespaces if scoped else ("",):
                try:
                    if scoped:
                        found = await custom.list_namespaced_custom_object(watched.group, watched.version, ns,
                                                                           watched.plural)
                    else:
                        found = await custom.list_cluster_custom_object(watched.group, watched.version,
                                                                        watched.plural)
                except ApiException as err:
                    log.warning("cannot list", resource=watched.plural, namespace=ns or None, status=err.status,
                                hint="is its CRD installed?" if err.status == 404 else "RBAC" if err.status == 403 else None)
                    continue
                items += found.get("items") or []
                listed.append(ns)
            if listed:
                self.store.replace_kind(watched.kind, [{"apiVersion": watched.api_version, **i} for i in items],
                                        namespaces=set(listed) if scoped else None, key_kind=watched.key_kind)

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.resync_interval)
            try:
                await self.resync()
            except Exception as err:  # noqa: BLE001
                log.warning("resync failed", error=repr(err)[:200])

    def _start_leading(self) -> None:
        assert self.reconciler is not None
        if self._reconcile_task is None or self._reconcile_task.done():
            self._reconcile_task = asyncio.create_task(self.reconciler.run(), name="reconcile")

    def _stop_leading(self) -> None:
        if self._reconcile_task is not None:
            self._reconcile_task.cancel()
            self._reconcile_task = None

    @property
    def is_leader(self) -> bool:
        return bool(self.elector and self.elector.is_leader)

    async def wait_ready(self, timeout: float = 30.0) -> None:
        """Until Kopf has logged in and started its watches."""
        deadline = time.monotonic() + timeout
        while not self.kopf_ready.is_set():
            if time.monotonic() > deadline or not (self._kopf_thread and self._kopf_thread.is_alive()):
                raise TimeoutError("Kopf did not start")
            await asyncio.sleep(0.05)

    @property
    def kopf_alive(self) -> bool:
        return bool(self._kopf_thread and self._kopf_thread.is_alive())

    async def stop(self) -> None:
        self.debouncer.cancel()
        self._kopf_stop.set()
        if self._kopf_thread is not None:
            thread = self._kopf_thread
            await asyncio.get_running_loop().run_in_executor(None, thread.join, 10.0)
            if thread.is_alive():
                log.warning("kopf did not stop within 10 s")
        self._stop_leading()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.elector is not None:
            await self.elector.release()
        if self.pods is not None:
            await self.pods.stop()
        if self._xds_server is not None:
            await self._xds_server.stop(grace=0.5)
        await self.router.stop()
        if self.api is not None:
            await self.api.close()
