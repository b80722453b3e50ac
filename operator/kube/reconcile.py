"""The leader's work: provision each Gateway's Envoy and write every status we own.

Runs only on the elected replica. Each pass reads the in-memory store (no API reads for our
objects), applies the proxy manifests whose content changed (a hash annotation decides, so the
API server's defaulting never causes rewrites), deletes proxies whose Gateway is no longer ours,
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
import hashlib
import json
from datetime import datetime, timezone
from typing import Any, Callable

import structlog
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from ..translate.gateway import our_gateways
from ..translate.provisioning import (
    MANAGED_BY, ProvisioningSettings, group_name, proxy_manifests, proxy_name, service_addresses,
)
from ..translate.status import ObjectKey, ProxyState, Status, changed, desired_statuses
from ..xds import AdsServer
from .store import KIND_BY_NAME, ObjectStore

log = structlog.get_logger("kube.reconcile")

MERGE_PATCH = "application/merge-patch+json"
SPEC_HASH_ANNOTATION = "inference.networking.x-k8s.io/spec-hash"
CONFLICT_RETRIES = 4
PROXY_SELECTOR = f"app.kubernetes.io/managed-by={MANAGED_BY},app.kubernetes.io/component=proxy"


async def _body(response: Any) -> dict[str, Any]:
    """The JSON of a `_preload_content=False` response; raises ApiException on errors (which
    kubernetes-asyncio does not do for unpreloaded responses)."""
    try:
        data = await response.json(content_type=None)
    finally:
        response.release()
    if response.status >= 300:
        raise ApiException(status=response.status, reason=(data or {}).get("message", response.reason))
    return data


class Reconciler:
    def __init__(self, api: client.ApiClient, store: ObjectStore, ads: AdsServer,
                 settings: ProvisioningSettings, interval: float = 5.0,
                 namespaces: tuple[str, ...] = ()) -> None:
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.store = store
        self.ads = ads
        self.settings = settings
        self.interval = interval
        self.namespaces = namespaces  # empty: cluster-wide
        self._refused: set[str] = set()  # namespaces whose listing was refused (logged once)
        self._kicked = asyncio.Event()
        self.passes = 0

    def kick(self) -> None:
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
                await asyncio.wait_for(self._kicked.wait(), self.interval)
            except asyncio.TimeoutError:
                pass

    async def reconcile_once(self) -> None:
        objects = self.store.object_set()
        gateways = our_gateways(objects)
        proxies: dict[str, ProxyState] = {}
        for gateway in gateways:
            try:
                proxies[group_name(gateway)] = await self._provision(gateway)
            except ApiException as err:
                log.error("provisioning failed", gateway=group_name(gateway), status=err.status, error=str(err.reason))
        await self._delete_orphans({(g.metadata.namespace, proxy_name(g)) for g in gateways})
        current = self.store.statuses()
        now = datetime.now(timezone.utc)
        desired = desired_statuses(objects, current, proxies, now)
        for key, status in changed(desired, current).items():
            await self._write_status(key, status, lambda: desired_statuses(
                self.store.object_set(), self.store.statuses(), proxies, now).get(key))
        self.passes += 1

    # ---- provisioning
    def _api(self, kind: str) -> tuple[Any, Any, Any]:
        if kind == "ConfigMap":
            return (self.core.read_namespaced_config_map, self.core.create_namespaced_config_map,
                    self.core.patch_namespaced_config_map)
        if kind == "Service":
            return (self.core.read_namespaced_service, self.core.create_namespaced_service,
                    self.core.patch_namespaced_service)
        return (self.apps.read_namespaced_deployment, self.apps.create_namespaced_deployment,
                self.apps.patch_namespaced_deployment)

    async def _apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        digest = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:16]
        manifest = {**manifest, "metadata": {**manifest["metadata"], "annotations": {
            **manifest["metadata"].get("annotations", {}), SPEC_HASH_ANNOTATION: digest}}}
        name, namespace = manifest["metadata"]["name"], manifest["metadata"]["namespace"]
        read, create, patch = self._api(manifest["kind"])
        try:
            existing = await _body(await read(name, namespace, _preload_content=False))
        except ApiException as err:
            if err.status != 404:
                raise
            log.info("provisioning", kind=manifest["kind"], name=f"{namespace}/{name}")
            return await _body(await create(namespace, manifest, _preload_content=False))
        if (existing.get("metadata", {}).get("annotations") or {}).get(SPEC_HASH_ANNOTATION) == digest:
            return existing
        log.info("updating", kind=manifest["kind"], name=f"{namespace}/{name}")
        return await _body(await patch(name, namespace, manifest, _preload_content=False, _content_type=MERGE_PATCH))

    async def _provision(self, gateway: Any) -> ProxyState:
        applied = {m["kind"]: await self._apply(m) for m in proxy_manifests(gateway, self.settings)}
        deployment, service = applied.get("Deployment") or {}, applied.get("Service")
        return ProxyState(
            provisioned=True,
            ready_replicas=int((deployment.get("status") or {}).get("readyReplicas") or 0),
            addresses=tuple((a["type"], a["value"]) for a in service_addresses(service)),
            rejections=tuple(self.ads.rejected(group_name(gateway))),
        )

    async def _list_proxies(self, cluster_lister: Any, namespaced_lister: Any) -> list[dict[str, Any]]:
        """Our proxy objects of one kind: cluster-wide, or per watched namespace (a namespaced
        Role cannot list across namespaces); a namespace we may not list is skipped."""
        if not self.namespaces:
            return (await _body(await cluster_lister(label_selector=PROXY_SELECTOR, _preload_content=False))
                    ).get("items") or []
        items: list[dict[str, Any]] = []
        for namespace in self.namespaces:
            try:
                items += (await _body(await namespaced_lister(namespace, label_selector=PROXY_SELECTOR,
                                                              _preload_content=False))).get("items") or []
                self._refused.discard(namespace)
            except ApiException as err:
                if namespace not in self._refused:  # once, not on every pass
                    self._refused.add(namespace)
                    log.warning("cannot list proxies", namespace=namespace, status=err.status, error=str(err.reason))
        return items

    async def _delete_orphans(self, wanted: set[tuple[str, str]]) -> None:
        for cluster_lister, namespaced_lister, deleter in (
            (self.apps.list_deployment_for_all_namespaces, self.apps.list_namespaced_deployment,
             self.apps.delete_namespaced_deployment),
            (self.core.list_service_for_all_namespaces, self.core.list_namespaced_service,
             self.core.delete_namespaced_service),
            (self.core.list_config_map_for_all_namespaces, self.core.list_namespaced_config_map,
             self.core.delete_namespaced_config_map),
        ):
            try:
                items = await self._list_proxies(cluster_lister, namespaced_lister)
            except ApiException as err:  # the statuses still get written
                log.error("cannot list proxies for clean-up", status=err.status, error=str(err.reason))
                continue
            for item in items:
                meta = item["metadata"]
                if (meta["namespace"], meta["name"]) not in wanted:
                    log.info("deleting proxy object of a Gateway no longer ours", kind=item.get("kind"),
                             name=f"{meta['namespace']}/{meta['name']}")
                    try:
                        await _body(await deleter(meta["name"], meta["namespace"], _preload_content=False))
                    except ApiException as err:
                        if err.status != 404:
                            log.error("cannot delete proxy object", name=f"{meta['namespace']}/{meta['name']}",
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
