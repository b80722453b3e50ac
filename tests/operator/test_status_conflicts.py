"""Status writes that never lose another controller's entries, and watches that survive a
compaction (410 Gone) and, with bookmarks, a quiet reconnect without relisting."""

from __future__ import annotations

import asyncio
from typing import Any

from support.env import EXAMPLES, free_port
from support.incluster import GW, INF, start_gateway
from support.kubeapi import Cluster, eventually

OTHER = "example.com/other-controller"
OURS = "inference.networking.x-k8s.io/gateway-controller"
POOL_YAML = (EXAMPLES / "prefix-cache" / "vllm-single.yaml").read_text()


def pod(name: str, ip: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"alibabacloud.com/inference-workload": "vllm-inference"}},
            "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": "True"}]}}


async def seed(cluster: Cluster) -> None:
    """The seed's pool and gateway, plus another controller's Gateway the route also names."""
    await cluster.apply_yaml(POOL_YAML)
    await cluster.apply_yaml((EXAMPLES / "gateway.yaml").read_text().replace("port: 8080", f"port: {free_port()}"))
    await cluster.apply_yaml(f"""
apiVersion: {GW}
kind: GatewayClass
metadata: {{name: other-class}}
spec: {{controllerName: {OTHER}}}
---
apiVersion: {GW}
kind: Gateway
metadata: {{name: other-gateway}}
spec:
  gatewayClassName: other-class
  listeners: [{{name: http, protocol: HTTP, port: 80}}]
""")
    route = await cluster.get(GW, "HTTPRoute", "default", "inference-route")
    await cluster.patch(route, {"spec": {"parentRefs": [{"name": "inference-gateway"}, {"name": "other-gateway"}]}})


def other_entry(message: str) -> dict[str, Any]:
    return {"parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "default",
                          "name": "other-gateway"}, "controllerName": OTHER,
            "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted", "message": message,
                            "observedGeneration": 2, "lastTransitionTime": "2026-01-01T00:00:00Z"}]}


async def other_controller_writes(cluster: Cluster, message: str) -> None:
    """A well-behaved other controller: read, replace only its own entry, write at that version."""
    route = await cluster.get(GW, "HTTPRoute", "default", "inference-route")
    parents = [p for p in (route.get("status") or {}).get("parents") or [] if p.get("controllerName") != OTHER]
    await cluster.patch_status({**route, "metadata": {**route["metadata"]}}, {"parents": parents + [other_entry(message)]})


def entries(route: dict[str, Any] | None) -> dict[str, str]:
    return {p["controllerName"]: p["parentRef"]["name"] for p in ((route or {}).get("status") or {}).get("parents") or []}


async def test_two_controllers_keep_their_route_entries(cluster: Cluster) -> None:
    await seed(cluster)
    # The other controller writes between our read and our write, every time we write the
    # route's status first: our write carries a stale resourceVersion and must not win.
    slipped: list[str] = []

    async def slip_in(verb: str, plural: str, namespace: str, name: str, sub: str) -> None:
        if sub != "status" or plural in slipped:
            return
        if plural == "httproutes":
            slipped.append(plural)
            await other_controller_writes(cluster, "theirs, written while ours was in flight")
        elif plural == "inferencepools":  # `status.parent` is shared too, keyed by parentRef
            slipped.append(plural)
            pool = await cluster.get(INF, "InferencePool", "default", "qwen-inference-pool")
            await cluster.patch_status(pool, {"parent": [
                {"parentRef": other_entry("")["parentRef"], "conditions": other_entry("theirs")["conditions"]}]})
    cluster.api.before_write.append(slip_in)

    gateway = await start_gateway(cluster)
    try:
        async def both() -> dict[str, Any] | None:
            route = await cluster.get(GW, "HTTPRoute", "default", "inference-route")
            return route if entries(route) == {OURS: "inference-gateway", OTHER: "other-gateway"} else None
        route = await eventually(both, what="both controllers' parent entries")

        async def pool_both() -> dict[str, Any] | None:
            pool = await cluster.get(INF, "InferencePool", "default", "qwen-inference-pool")
            names = sorted(p["parentRef"]["name"] for p in (pool.get("status") or {}).get("parent") or [])
            return pool if names == ["inference-gateway", "other-gateway"] else None
        await eventually(pool_both, what="both controllers' pool parent entries")
        assert sorted(slipped) == ["httproutes", "inferencepools"], "the races were never staged"
        ours = next(p for p in route["status"]["parents"] if p["controllerName"] == OURS)
        assert {c["type"]: c["status"] for c in ours["conditions"]} == {"Accepted": "True", "ResolvedRefs": "True"}

        # It writes again later; a spec change makes us rewrite ours: both entries survive both.
        await other_controller_writes(cluster, "theirs, second write")
        await cluster.patch(route, {"spec": {"rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/v1/chat"}}],
                                                        "backendRefs": route["spec"]["rules"][0]["backendRefs"]}]}})

        async def rewritten() -> dict[str, Any] | None:
            route = await cluster.get(GW, "HTTPRoute", "default", "inference-route")
            mine = [p for p in route["status"]["parents"] if p["controllerName"] == OURS]
            return route if mine and mine[0]["conditions"][0]["observedGeneration"] == 3 else None
        route = await eventually(rewritten, what="our entry for generation 3")
        theirs = [p for p in route["status"]["parents"] if p["controllerName"] == OTHER]
        assert [p["conditions"][0]["message"] for p in theirs] == ["theirs, second write"]
    finally:
        await gateway.stop()


async def test_forced_410_relists_and_continues(cluster: Cluster) -> None:
    cluster.api.bookmark_interval = 0.2
    await cluster.apply_yaml(POOL_YAML)
    await cluster.create(pod("p1", "127.7.0.1"))
    gateway = await start_gateway(cluster)
    pool = "default/qwen-inference-pool"

    def endpoints() -> set[str]:
        current = gateway.holder.current.pools.get(pool)
        return {e.name for e in current.endpoints} if current else set()
    try:
        await eventually(lambda: asyncio.sleep(0, endpoints() == {"p1"}), what="p1 routed")
        # Every watch, Kopf's and our Pod watches, asks for bookmarks.
        await eventually(lambda: asyncio.sleep(0, {"pods", "inferencepools", "inferencemodels", "httproutes"}
                                               <= {plural for plural, _, _ in cluster.api.watches}), what="watches")
        assert [(p, params) for p, _, params in cluster.api.watches if params.get("allowWatchBookmarks", "").lower() != "true"] == []

        # Quiet watches that got a bookmark resume after a compaction up to now without a relist.
        for i in range(5):  # unrelated writes move the resourceVersion on
            await cluster.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"noise-{i}"}})
        await eventually(lambda: asyncio.sleep(0, cluster.api.bookmarked.get("pods", 0) >= cluster.api._rv),
                         what="a bookmark at the latest resourceVersion on the pod watch")
        lists_before, gone_before, watches_before = len(cluster.api.lists), len(cluster.api.gone), len(cluster.api.watches)
        floor = cluster.api._compacted = cluster.api._rv  # history before the bookmarks is gone
        cluster.api._epoch += 1                           # and every open watch ends
        cluster.api._wake()

        def resumed() -> list[dict[str, str]]:
            return [params for plural, _, params in cluster.api.watches[watches_before:] if plural == "pods"]
        params = (await eventually(lambda: asyncio.sleep(0, resumed()), what="pod watch resumed"))[0]
        assert int(params["resourceVersion"]) >= floor  # from the bookmark, not from the last Pod event
        await asyncio.sleep(0.3)
        assert "pods" not in cluster.api.gone[gone_before:]
        assert ("pods", "default") not in cluster.api.lists[lists_before:]

        # A forced 410: Pods change while no watch runs; the watch's resume is refused, it
        # relists, sees both changes, and keeps watching.
        cluster.api.expire_watches()
        await cluster.delete("v1", "Pod", "default", "p1")
        await cluster.create(pod("p2", "127.7.0.2"))
        await eventually(lambda: asyncio.sleep(0, endpoints() == {"p2"}), what="relisted after 410")
        assert "pods" in cluster.api.gone and ("pods", "default") in cluster.api.lists[lists_before:]
        await cluster.create(pod("p3", "127.7.0.3"))
        await eventually(lambda: asyncio.sleep(0, endpoints() == {"p2", "p3"}), what="watching again")
        # Kopf's watches took the same 410 and went on: a changed model is still seen.
        assert "inferencemodels" in cluster.api.gone
        model = await cluster.get("inference.networking.x-k8s.io/v1alpha2", "InferenceModel", "default",
                                  "qwen-inference-model")
        await cluster.patch(model, {"spec": {"criticality": "Sheddable"}})
        await eventually(lambda: asyncio.sleep(0, [m.spec.criticality for m in gateway.store.object_set().models]
                                               == ["Sheddable"]), what="Kopf watching after its 410")
    finally:
        await gateway.stop()
