"""The leader's work: provision each Gateway's Envoy and write every status we own.

Runs only on the elected replica. Each pass reads the in-memory store (no API reads for our
objects), applies the proxy manifests whose content changed (a hash annotation decides, so the
API server's defaulting never causes rewrites), deletes proxies whose Gateway is no longer ours,
and patches `/status` only where the computed status differs from the object's. A pass runs
when the world changed (kicked after each translation) and every `interval` seconds (to see
Service addresses and Deployment readiness, which we do not watch).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import datetime, timezone
from typing import Any

import structlog
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from ..api import CONTROLLER_NAME
from ..translate import Translation
from ..translate.provisioning import (
    MANAGED_BY, ProvisioningSettings, group_name, proxy_manifests, proxy_name, service_addresses,
)
from ..translate.stamping import ProxyState, changed, stamp_statuses
from ..translate.status import ObjectKey, Status
from ..xds import AdsServer
from .store import KIND_BY_NAME, ObjectStore

log = structlog.get_logger("kube.reconcile")

MERGE_PATCH = "application/merge-patch+json"
SPEC_HASH_ANNOTATION = "inference.networking.x-k8s.io/spec-hash"
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
                 settings: ProvisioningSettings, interval: float = 5.0) -> None:
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.store = store
        self.ads = ads
        self.settings = settings
        self.interval = interval
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
                await asyncio.wait_for(self._kicked.wait(), self.interval)
            except asyncio.TimeoutError:
                pass

    async def reconcile_once(self) -> None:
        if self.translation is None:
            return
        translation = self.translation
        gateways = translation.gateways
        proxies: dict[str, ProxyState] = {}
        for gateway in gateways:
            try:
                proxies[group_name(gateway)] = await self._provision(gateway)
            except ApiException as err:
                log.error("provisioning failed", gateway=group_name(gateway), status=err.status, error=str(err.reason))
        await self._delete_orphans({(g.metadata.namespace, proxy_name(g)) for g in gateways})
        current = self.store.statuses()
        desired = stamp_statuses(translation.statuses, gateways, current, proxies, datetime.now(timezone.utc),
                                 CONTROLLER_NAME)
        for key, status in changed(desired, current).items():
            await self._write_status(key, status, current.get(key) or {})
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

    async def _delete_orphans(self, wanted: set[tuple[str, str]]) -> None:
        for lister, deleter in (
            (self.apps.list_deployment_for_all_namespaces, self.apps.delete_namespaced_deployment),
            (self.core.list_service_for_all_namespaces, self.core.delete_namespaced_service),
            (self.core.list_config_map_for_all_namespaces, self.core.delete_namespaced_config_map),
        ):
            listing = await _body(await lister(label_selector=PROXY_SELECTOR, _preload_content=False))
            for item in listing.get("items") or []:
                meta = item["metadata"]
                if (meta["namespace"], meta["name"]) not in wanted:
                    log.info("deleting proxy object of a Gateway no longer ours", kind=item.get("kind"),
                             name=f"{meta['namespace']}/{meta['name']}")
                    try:
                        await deleter(meta["name"], meta["namespace"], _preload_content=False)
                    except ApiException as err:
                        if err.status != 404:
                            raise

    # ---- status
    async def _write_status(self, key: ObjectKey, status: Status, current: Status) -> None:
        kind, namespace, name = key
        raw = self.store.raw(key)
        watched = KIND_BY_NAME[kind]
        api_version = (raw or {}).get("apiVersion") or watched.api_version
        group, _, version = api_version.rpartition("/")
        body = {"status": status}
        try:
            if watched.namespaced:
                await self.custom.patch_namespaced_custom_object_status(
                    group, version, namespace, watched.plural, name, body, _content_type=MERGE_PATCH)
            else:
                await self.custom.patch_cluster_custom_object_status(
                    group, version, watched.plural, name, body, _content_type=MERGE_PATCH)
        except ApiException as err:
            if err.status == 404:
                return  # deleted meanwhile
            log.error("status write failed", object="/".join(key), status=err.status, error=str(err.reason))
            return
        self.store.set_status(key, {**current, **status})
        log.info("status written", object=f"{kind}/{namespace}/{name}".replace("//", "/"),
                 conditions={c["type"]: c["status"] for c in status.get("conditions") or []})
