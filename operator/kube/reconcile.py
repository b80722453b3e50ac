"""The leader's work: provision each Gateway's Envoy and write every status we own.

Runs only on the elected replica. Each pass reads the in-memory store (no API reads for our
objects), applies the proxy manifests, with the Gateway's class parameters, whose content
changed (proxies.py), deletes proxy objects no Gateway of ours wants any more,
and patches `/status` only where the computed status differs from the object's. A pass runs
when the world changed (kicked after each translation) and every `interval` seconds (to see
Service addresses and Deployment readiness, which we do not watch).

Status writes are optimistic: each carries the resourceVersion the status was computed from,
so a write racing another controller's (an HTTPRoute's `status.parents` is shared by every
controller whose Gateway the route names) answers 409 instead of silently dropping the other
entries; we then read the object again, recompute from what it now holds (other
controllers' entries kept, only ours replaced) and retry. With `--watch-namespace` the
operator may hold only namespaced Roles: it lists its proxies per watched namespace, and a
403 anywhere costs that one object, never the pass.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any, Callable

import structlog
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from ..api import CONTROLLER_NAME, Gateway
from ..translate import Translation
from ..translate.parameters import ClassParameters
from ..translate.provisioning import (
    MANAGED_BY, ProvisioningSettings, group_name, proxy_manifests, proxy_name, service_addresses,
)
from ..translate.stamping import ProxyState, changed, stamp_statuses
from ..translate.status import ObjectKey, Status
from ..xds import AdsServer
from .proxies import KINDS, MERGE_PATCH, ProxyObjects
from .store import KIND_BY_NAME, ObjectStore

log = structlog.get_logger("kube.reconcile")

CONFLICT_RETRIES = 4
PROXY_SELECTOR = f"app.kubernetes.io/managed-by={MANAGED_BY},app.kubernetes.io/component=proxy"


class Reconciler:
    def __init__(self, api: client.ApiClient, store: ObjectStore, ads: AdsServer,
                 settings: ProvisioningSettings, interval: float = 5.0,
                 namespaces: tuple[str, ...] = ()) -> None:
        self.proxies = ProxyObjects(api)
        self.custom = client.CustomObjectsApi(api)
        self.store = store
        self.ads = ads
        self.settings = settings
        self.interval = interval
        self.namespaces = namespaces  # empty: cluster-wide
        self._refused: set[tuple[str, str]] = set()  # (kind, namespace) listings refused (logged once)
        self._kicked = asyncio.Event()
        self.translation: Translation | None = None
        self.passes = 0

    def kick(self, translation: Translation | None = None) -> None:
        """A pass soon, on this translation (the latest one the gateway published)."""
        if translation is not None:
            self.translation = translation
        self._kicked.set()

    async def run(self) -> None:
        """Until cancelled (leadership lost or shutdown)."""
        while True:
            self._kicked.clear()
            try:
                await self.reconcile_once()
            except asyncio.CancelledError:
                raise
            except Exception as err:  # noqa: BLE001  the next pass retries
                log.exception("reconcile pass failed", error=repr(err)[:500])
            try:
                async with asyncio.timeout(self.interval):  # not wait_for: see kube/leader.py
                    await self._kicked.wait()
            except TimeoutError:
                pass

    async def reconcile_once(self) -> None:
        if self.translation is None:
            return
        translation = self.translation
        gateways = translation.gateways
        proxies: dict[str, ProxyState] = {}
        wanted: set[tuple[str, str, str]] = set()
        for gateway in gateways:
            parameters = translation.parameters.get(group_name(gateway), ClassParameters())
            manifests = None if parameters.problem else proxy_manifests(gateway, self.settings, parameters.spec)
            kinds = KINDS if manifests is None else [m["kind"] for m in manifests]  # invalid: keep all
            wanted |= {(kind, gateway.metadata.namespace, proxy_name(gateway)) for kind in kinds}
            try:
                proxies[group_name(gateway)] = await self._provision(gateway, manifests)
            except ApiException as err:
                log.error("provisioning failed", gateway=group_name(gateway), status=err.status, error=str(err.reason))
        await self._delete_orphans(wanted)
        current = self.store.statuses()
        now = datetime.now(timezone.utc)
        desired = stamp_statuses(translation.statuses, gateways, current, proxies, now, CONTROLLER_NAME)
        for key, status in changed(desired, current).items():
            await self._write_status(key, status, lambda: stamp_statuses(
                translation.statuses, gateways, self.store.statuses(), proxies, now, CONTROLLER_NAME).get(key))
        self.passes += 1

    # ---- provisioning
    async def _provision(self, gateway: Gateway, manifests: list[dict[str, Any]] | None) -> ProxyState:
        """Apply the Gateway's proxy objects; without manifests (its class's parameters are
        invalid) only read them: its proxies stay as they are until the reference is fixed."""
        namespace, name = gateway.metadata.namespace, proxy_name(gateway)
        if manifests is not None:
            applied = {m["kind"]: await self.proxies.apply(m) for m in manifests}
        else:
            applied = {kind: await self.proxies.read(kind, namespace, name) for kind in ("Deployment", "Service")}
        deployment, service = applied.get("Deployment") or {}, applied.get("Service")
        return ProxyState(
            provisioned=bool(applied.get("Deployment") and service),
            ready_replicas=int((deployment.get("status") or {}).get("readyReplicas") or 0),
            addresses=tuple((a["type"], a["value"]) for a in service_addresses(service)),
            rejections=tuple(self.ads.rejected(group_name(gateway))),
        )

    async def _list_proxies(self, kind: str) -> list[dict[str, Any]]:
        """Our proxy objects of one kind: cluster-wide, or per watched namespace (a namespaced
        Role cannot list across namespaces); a namespace we may not list is skipped."""
        if not self.namespaces:
            return await self.proxies.list(kind, PROXY_SELECTOR, None)
        items: list[dict[str, Any]] = []
        for namespace in self.namespaces:
            try:
                items += await self.proxies.list(kind, PROXY_SELECTOR, namespace)
                self._refused.discard((kind, namespace))
            except ApiException as err:
                if (kind, namespace) not in self._refused:  # once, not on every pass
                    self._refused.add((kind, namespace))
                    log.warning("cannot list proxies", kind=kind, namespace=namespace, status=err.status,
                                error=str(err.reason))
        return items

    async def _delete_orphans(self, wanted: set[tuple[str, str, str]]) -> None:
        """Delete our proxy objects no Gateway of ours wants (kind, namespace, name)."""
        for kind in KINDS:
            try:
                items = await self._list_proxies(kind)
            except ApiException as err:  # the statuses still get written
                log.error("cannot list proxies for clean-up", kind=kind, status=err.status, error=str(err.reason))
                continue
            for item in items:
                meta = item["metadata"]
                if (kind, meta["namespace"], meta["name"]) in wanted:
                    continue
                log.info("deleting proxy object no Gateway of ours wants", kind=kind,
                         name=f"{meta['namespace']}/{meta['name']}")
                try:
                    await self.proxies.delete(kind, meta["namespace"], meta["name"])
                except ApiException as err:
                    log.error("cannot delete proxy object", kind=kind, name=f"{meta['namespace']}/{meta['name']}",
                              status=err.status, error=str(err.reason))

    # ---- status
    async def _write_status(self, key: ObjectKey, status: Status,
                            recompute: Callable[[], Status | None]) -> None:
        """Patch `/status` at the resourceVersion it was computed from; on 409 re-read the
        object, recompute its status from what it now holds, and try again (bounded)."""
        for attempt in range(CONFLICT_RETRIES):
            raw = self.store.raw(key) or {}
            body = {"metadata": {"resourceVersion": (raw.get("metadata") or {}).get("resourceVersion")},
                    "status": status}
            try:
                written = await self._status_call(key, "patch", body)
            except ApiException as err:
                if err.status == 404:
                    return  # deleted meanwhile
                if err.status == 409 and attempt + 1 < CONFLICT_RETRIES:
                    log.info("status conflict; re-reading", object="/".join(key), attempt=attempt + 1)
                    if not await self._refresh(key):
                        return
                    fresh = recompute()
                    current = self.store.statuses().get(key) or {}
                    if fresh is None or not changed({key: fresh}, {key: current}):
                        return  # what we wanted is already there
                    status = fresh
                    continue
                log.error("status write failed", object="/".join(key), status=err.status, error=str(err.reason))
                return
            self.store.set_status(key, written.get("status") or {},
                                  (written.get("metadata") or {}).get("resourceVersion"))
            kind, namespace, name = key
            log.info("status written", object=f"{kind}/{namespace}/{name}".replace("//", "/"),
                     conditions={c["type"]: c["status"] for c in status.get("conditions") or []})
            return

    async def _refresh(self, key: ObjectKey) -> bool:
        """The object as the API server has it now, into the store; False if it is gone."""
        try:
            fresh = await self._status_call(key, "get")
        except ApiException as err:
            if err.status != 404:
                log.error("cannot re-read after a conflict", object="/".join(key), status=err.status)
            return False
        self.store.put({"kind": key[0], **fresh})
        return True

    async def _status_call(self, key: ObjectKey, verb: str, body: Any = None) -> dict[str, Any]:
        kind, namespace, name = key
        raw = self.store.raw(key)
        watched = KIND_BY_NAME[kind]
        api_version = (raw or {}).get("apiVersion") or watched.api_version
        group, _, version = api_version.rpartition("/")
        scope = "namespaced" if watched.namespaced else "cluster"
        where = (namespace,) if watched.namespaced else ()
        if verb == "get":
            call = getattr(self.custom, f"get_{scope}_custom_object_status")
            return await call(group, version, *where, watched.plural, name)
        call = getattr(self.custom, f"patch_{scope}_custom_object_status")
        return await call(group, version, *where, watched.plural, name, body, _content_type=MERGE_PATCH)
