"""The provisioned proxies' objects on the API server: apply, list, delete (kubernetes-asyncio).

Apply is kubectl's client-side apply, in small: each object carries the manifest we last
applied (an annotation) and its hash. An unchanged hash writes nothing (so the API server's
defaulting never causes rewrites); a changed one sends a JSON merge patch computed from the
last applied manifest to the new one, so a field we dropped (a nodeSelector key, a Service
annotation, the replica count handed over to an autoscaler) is removed too, while fields
others own (the Deployment's status, a controller's annotations) are left alone.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import structlog
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

log = structlog.get_logger("kube.proxies")

MERGE_PATCH = "application/merge-patch+json"
SPEC_HASH_ANNOTATION = "inference.networking.x-k8s.io/spec-hash"
LAST_APPLIED_ANNOTATION = "inference.networking.x-k8s.io/last-applied"
KINDS = ("ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler")
# Never nulled by a patch: a Deployment whose replicas went to an autoscaler keeps its count
# (a null would reset it to 1 until the autoscaler acts).
KEEP_WHEN_DROPPED = {("spec", "replicas")}


async def body(response: Any) -> dict[str, Any]:
    """The JSON of a `_preload_content=False` response; raises ApiException on errors (which
    kubernetes-asyncio does not do for unpreloaded responses)."""
    try:
        data = await response.json(content_type=None)
    finally:
        response.release()
    if response.status >= 300:
        raise ApiException(status=response.status, reason=(data or {}).get("message", response.reason))
    return data


def merge_patch_between(old: Any, new: Any, path: tuple[str, ...] = ()) -> Any:
    """The RFC 7386 patch that turns `old` into `new` (lists are replaced whole)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch: dict[str, Any] = {key: None for key in old.keys() - new.keys() if path + (key,) not in KEEP_WHEN_DROPPED}
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif old[key] != value:
            patch[key] = merge_patch_between(old[key], value, path + (key,))
    return patch


class ProxyObjects:
    def __init__(self, api: client.ApiClient) -> None:
        core, apps, scaling = client.CoreV1Api(api), client.AppsV1Api(api), client.AutoscalingV2Api(api)
        suffix = {"ConfigMap": "config_map", "Service": "service", "Deployment": "deployment",
                  "HorizontalPodAutoscaler": "horizontal_pod_autoscaler"}
        owner = {"ConfigMap": core, "Service": core, "Deployment": apps, "HorizontalPodAutoscaler": scaling}
        self._calls = {kind: {verb: getattr(owner[kind], f"{verb}_namespaced_{suffix[kind]}")
                              for verb in ("read", "create", "patch", "delete", "list")} for kind in KINDS}
        self._all = {kind: getattr(owner[kind], f"list_{suffix[kind]}_for_all_namespaces") for kind in KINDS}

    async def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        text = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        meta = manifest["metadata"]
        annotated = {**manifest, "metadata": {**meta, "annotations": {
            **meta.get("annotations", {}), SPEC_HASH_ANNOTATION: digest, LAST_APPLIED_ANNOTATION: text}}}
        kind, name, namespace = manifest["kind"], meta["name"], meta["namespace"]
        calls = self._calls[kind]
        try:
            existing = await body(await calls["read"](name, namespace, _preload_content=False))
        except ApiException as err:
            if err.status != 404:
                raise
            log.info("provisioning", kind=kind, name=f"{namespace}/{name}")
            return await body(await calls["create"](namespace, annotated, _preload_content=False))
        annotations = existing.get("metadata", {}).get("annotations") or {}
        if annotations.get(SPEC_HASH_ANNOTATION) == digest:
            return existing
        try:
            last = json.loads(annotations.get(LAST_APPLIED_ANNOTATION) or "{}")  # none: a plain merge patch
        except ValueError:
            last = {}
        log.info("updating", kind=kind, name=f"{namespace}/{name}")
        return await body(await calls["patch"](name, namespace, merge_patch_between(last, annotated),
                                               _preload_content=False, _content_type=MERGE_PATCH))

    async def read(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return await body(await self._calls[kind]["read"](name, namespace, _preload_content=False))
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    async def list(self, kind: str, selector: str, namespace: str | None) -> list[dict[str, Any]]:
        """Cluster-wide (namespace None) or in one namespace."""
        if namespace is None:
            listing = await self._all[kind](label_selector=selector, _preload_content=False)
        else:
            listing = await self._calls[kind]["list"](namespace, label_selector=selector, _preload_content=False)
        return [{**item, "kind": kind} for item in (await body(listing)).get("items") or []]

    async def delete(self, kind: str, namespace: str, name: str) -> None:
        try:
            await body(await self._calls[kind]["delete"](name, namespace, _preload_content=False))
        except ApiException as err:
            if err.status != 404:
                raise
