"""Pods, watched by each pool's own selector: the API server filters, we never see the rest.

Why not Kopf for Pods: Kopf's `labels=` filters are client-side (every Pod of the cluster
still streams in), and its server-side `settings.watching.label_selectors` is one fixed
selector per resource, ANDed. Pools are dynamic and their selectors are ORed. So each
distinct (namespace, matchLabels) of the InferencePools gets one list+watch of
`/api/v1/namespaces/NS/pods?labelSelector=k=v,…` (kubernetes-asyncio), started and stopped as
pools come and go. Watching all Pods is the cost users of big clusters complain about
(NOTES.md); this costs one stream per distinct pool selector.

Each watch asks for BOOKMARKs, so a quiet watch still advances its resourceVersion and
resumes after a reconnect without a relist; on 410 Gone (the resourceVersion was compacted
away) it relists at once, on any other error after a bounded backoff, so missed deletes are
reconciled by the relist.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from .store import ObjectStore, PodSelector

log = structlog.get_logger("kube.pods")

WATCH_TIMEOUT = 300      # seconds a single watch request lasts server-side
BACKOFF = (0.2, 0.5, 1.0, 2.0, 5.0)


def selector_string(selector: PodSelector) -> str:
    return ",".join(f"{k}={v}" for k, v in selector[1])


class PodWatchers:
    def __init__(self, api: client.ApiClient, store: ObjectStore) -> None:
        self.core = client.CoreV1Api(api)
        self.store = store
        self._tasks: dict[PodSelector, asyncio.Task[None]] = {}
        self._synced: dict[PodSelector, asyncio.Event] = {}

    def sync(self, wanted: set[PodSelector]) -> None:
        """Start watches for new selectors, stop those no pool uses any more."""
        for selector in set(self._tasks) - wanted:
            self._tasks.pop(selector).cancel()
            self._synced.pop(selector, None)
            self.store.drop_source(selector)
            log.info("stopped watching pods", namespace=selector[0], selector=selector_string(selector))
        for selector in wanted - set(self._tasks):
            self._synced[selector] = asyncio.Event()
            self._tasks[selector] = asyncio.create_task(self._run(selector), name=f"pods {selector}")
            log.info("watching pods", namespace=selector[0], selector=selector_string(selector))

    async def wait_synced(self, timeout: float = 10.0) -> None:
        """Until every current watch has listed once."""
        events = list(self._synced.values())
        if events:
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), timeout)

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _list(self, selector: PodSelector) -> str:
        namespace, label_selector = selector[0], selector_string(selector)
        listing = await self.core.list_namespaced_pod(namespace, label_selector=label_selector,
                                                      _preload_content=False)
        try:
            body = await listing.json(content_type=None)
        finally:
            listing.release()
        if listing.status >= 300:
            raise ApiException(status=listing.status, reason=str((body or {}).get("message", listing.reason)))
        names = set()
        for raw in body.get("items") or []:
            self.store.put_pod(raw, selector)
            names.add(raw["metadata"]["name"])
        for key in [k for k, s in self.store._pod_sources.items() if selector in s and k[1] == namespace]:
            if key[2] not in names:
                self.store.remove_pod(namespace, key[2], selector)
        return str((body.get("metadata") or {}).get("resourceVersion") or "")

    async def _run(self, selector: PodSelector) -> None:
        namespace, label_selector = selector[0], selector_string(selector)
        failures = 0
        version = ""
        while True:
            try:
                if not version:
                    version = await self._list(selector)
                    self._synced[selector].set()
                stream = watch.Watch()
                async with stream:
                    async for event in stream.stream(self.core.list_namespaced_pod, namespace,
                                                     label_selector=label_selector, resource_version=version,
                                                     allow_watch_bookmarks=True, timeout_seconds=WATCH_TIMEOUT):
                        version = self._on_event(event, selector) or version
                        failures = 0
            except asyncio.CancelledError:
                raise
            except ApiException as err:
                if err.status == 410:  # our resourceVersion is too old: relist
                    version = ""
                    continue
                failures += 1
                version = ""
                log.warning("pod watch failed; relisting", namespace=namespace, selector=label_selector,
                            status=err.status, error=str(err.reason))
            except Exception as err:  # network errors and the like: relist after a pause
                failures += 1
                version = ""
                log.warning("pod watch failed; relisting", namespace=namespace, selector=label_selector,
                            error=repr(err))
            if failures:
                await asyncio.sleep(BACKOFF[min(failures, len(BACKOFF)) - 1])

    def _on_event(self, event: dict[str, Any], selector: PodSelector) -> str:
        raw = event.get("raw_object") or {}
        kind = event.get("type")
        if kind == "ERROR":
            code = raw.get("code")
            raise ApiException(status=code or 500, reason=raw.get("message", "watch error"))
        meta = raw.get("metadata") or {}
        if kind == "DELETED":
            self.store.remove_pod(meta.get("namespace", selector[0]), meta.get("name", ""), selector)
        elif kind in ("ADDED", "MODIFIED"):
            self.store.put_pod(raw, selector)
        return str(meta.get("resourceVersion") or "")
