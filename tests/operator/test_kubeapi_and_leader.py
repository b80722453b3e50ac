"""The API emulator behaves as kube-apiserver where our code can tell, and Lease leader
election hands over cleanly between replicas."""

from __future__ import annotations

import asyncio

from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from inference_gateway.operator.kube.leader import LeaderElector, LeaseSettings
from support.kubeapi import Cluster, eventually

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"app": "a"}}, "spec": {"containers": []}}


async def test_emulator_semantics(cluster: Cluster) -> None:
    async with client.ApiClient(cluster.config()) as api:
        core = client.CoreV1Api(api)
        created = await core.create_namespaced_pod("default", {**POD, "status": {"podIP": "1.2.3.4"}})
        assert created.metadata.uid and created.metadata.creation_timestamp and created.metadata.generation == 1
        assert created.status is None or created.status.pod_ip is None  # status is not set on create
        rv = created.metadata.resource_version
        # /status patches change only status; spec patches never change status
        after = await core.patch_namespaced_pod_status("p", "default", {"status": {"podIP": "127.0.0.9"},
                                                                         "metadata": {"labels": {"x": "y"}}})
        assert after.status.pod_ip == "127.0.0.9" and "x" not in after.metadata.labels
        after = await core.patch_namespaced_pod("p", "default", {"status": {"podIP": "6.6.6.6"},
                                                                 "metadata": {"labels": {"b": "c"}}})
        assert after.status.pod_ip == "127.0.0.9" and after.metadata.generation == 1  # metadata only
        # a no-op write changes nothing
        same = await core.patch_namespaced_pod("p", "default", {"metadata": {"labels": {"b": "c"}}})
        assert same.metadata.resource_version == after.metadata.resource_version
        # a failed JSON-patch test answers 422; a stale resourceVersion 409
        for body, status in (([{"op": "test", "path": "/metadata/name", "value": "q"}], 422),
                             ({"metadata": {"resourceVersion": rv, "labels": {"z": "1"}}}, 409)):
            try:
                await core.patch_namespaced_pod("p", "default", body)
                raise AssertionError("accepted")
            except ApiException as err:
                assert err.status == status
        # generateName; list kind, resourceVersion and label selectors
        await core.create_namespaced_pod("default", {**POD, "metadata": {"generateName": "gen-", "labels": {"app": "b"}}})
        listing = await core.list_namespaced_pod("default", label_selector="app in (a),b")
        assert [p.metadata.name for p in listing.items] == ["p"] and int(listing.metadata.resource_version) > int(rv)
        raw = await cluster._call("GET", "/api/v1/namespaces/default/pods")
        assert raw["kind"] == "PodList" and len(raw["items"]) == 2
        assert any(i["metadata"]["name"].startswith("gen-") for i in raw["items"])
        discovery = await cluster._call("GET", "/api/v1")
        assert discovery["groupVersion"] == "v1"
        # watch resumes after ?resourceVersion (no replay); a label change out of the selector is DELETED
        since = listing.metadata.resource_version
        seen: list[tuple[str, str]] = []

        async def change() -> None:
            await asyncio.sleep(0.2)
            await core.patch_namespaced_pod("p", "default", {"metadata": {"labels": {"app": "z"}}})
        task = asyncio.create_task(change())
        async with watch.Watch() as w:
            async for event in w.stream(core.list_namespaced_pod, "default", label_selector="app=a",
                                        resource_version=since, timeout_seconds=1):
                seen.append((event["type"], event["raw_object"]["metadata"]["name"]))
        await task
        assert seen == [("DELETED", "p")]


async def test_leader_election_hands_over(cluster: Cluster) -> None:
    settings = LeaseSettings(namespace="igw-system", lease_duration=2, renew_deadline=1.5, retry_period=0.1)
    async with client.ApiClient(cluster.config()) as api:
        a = LeaderElector(api, "a", settings)
        b = LeaderElector(api, "b", settings)
        ta = asyncio.create_task(a.run())
        await eventually(lambda: asyncio.sleep(0, a.is_leader), what="a leads")
        tb = asyncio.create_task(b.run())
        await asyncio.sleep(0.5)
        assert a.is_leader and not b.is_leader  # one leader at a time
        ta.cancel()
        await asyncio.gather(ta, return_exceptions=True)
        await a.release()  # clean shutdown: b takes over at its next retry, not after expiry
        await eventually(lambda: asyncio.sleep(0, b.is_leader), timeout=1, what="b leads")
        lease = cluster.api.get("leases", "igw-system", "inference-gateway-leader")
        assert lease["spec"]["holderIdentity"] == "b" and lease["spec"]["leaseTransitions"] == 1
        tb.cancel()
        await asyncio.gather(tb, return_exceptions=True)
        # a crashed leader (no release): the other takes over only after the lease expires
        c = LeaderElector(api, "c", settings)
        tc = asyncio.create_task(c.run())
        await asyncio.sleep(1.0)
        assert not c.is_leader
        await eventually(lambda: asyncio.sleep(0, c.is_leader), timeout=3, what="c leads after expiry")
        tc.cancel()
        await asyncio.gather(tc, return_exceptions=True)


async def test_emulator_rbac_bookmarks_and_expiry(cluster: Cluster) -> None:
    from support.kuberbac import Rule

    cluster.api.authorizer.grant("t", "system:serviceaccount:igw:op", [
        Rule(frozenset({""}), frozenset({"pods"}), frozenset({"get", "list", "watch"}), "team-a")])
    cluster.api.bookmark_interval = 0.1
    async with client.ApiClient(cluster.config("t")) as api, client.ApiClient(cluster.config("nobody")) as stranger:
        core = client.CoreV1Api(api)
        await core.list_namespaced_pod("team-a")
        for call, status in ((core.list_namespaced_pod("team-b"), 403), (core.list_pod_for_all_namespaces(), 403),
                             (core.create_namespaced_pod("team-a", POD), 403),
                             (client.CoreV1Api(stranger).list_namespaced_pod("team-a"), 401)):
            try:
                await call
                raise AssertionError("allowed")
            except ApiException as err:
                assert err.status == status
        assert cluster.api.authorizer.denied[0] == ("list", "", "pods", "team-b")
        # a quiet watch gets bookmarks at the latest resourceVersion, when it asks for them
        listing = await core.list_namespaced_pod("team-a")
        await cluster.create({**POD, "metadata": {"name": "elsewhere", "namespace": "team-b"}})
        events = []
        async with watch.Watch() as w:
            async for event in w.stream(core.list_namespaced_pod, "team-a", allow_watch_bookmarks=True,
                                        resource_version=listing.metadata.resource_version, timeout_seconds=1):
                events.append((event["type"], event["raw_object"]["metadata"]["resourceVersion"]))
                break
        assert events == [("BOOKMARK", str(cluster.api._rv))]
        # after a compaction, resuming from before it answers 410 (the client must relist)
        cluster.api.expire_watches()
        try:
            async with watch.Watch() as w:
                async for _ in w.stream(core.list_namespaced_pod, "team-a", timeout_seconds=1,
                                        resource_version=listing.metadata.resource_version):
                    pass
            raise AssertionError("resumed")
        except ApiException as err:
            assert err.status == 410
