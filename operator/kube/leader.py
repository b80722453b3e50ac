"""Leader election on a coordination.k8s.io/v1 Lease (kubernetes-asyncio), as client-go does it.

Every replica routes and serves xDS; only the leader writes statuses and provisions Envoy.
Timing (defaults, client-go's): a Lease lasts 15 s; the leader renews every 2 s and gives up
leadership if it could not renew for 10 s (before anyone else may take it over); followers
retry every 2 s. Takeover uses the Lease's resourceVersion (optimistic concurrency: a
conflict means someone else won). On a clean shutdown the leader releases the Lease so a
standby takes over at its next retry instead of waiting for expiry.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import structlog
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

log = structlog.get_logger("kube.leader")

MERGE_PATCH = "application/merge-patch+json"


@dataclass(frozen=True)
class LeaseSettings:
    namespace: str = "default"
    name: str = "inference-gateway-leader"
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


def _micro(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    text = str(value).replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


class LeaderElector:
    def __init__(self, api: client.ApiClient, identity: str, settings: LeaseSettings,
                 on_start: Callable[[], None] = lambda: None, on_stop: Callable[[], None] = lambda: None) -> None:
        self.coordination = client.CoordinationV1Api(api)
        self.identity = identity
        self.settings = settings
        self.on_start, self.on_stop = on_start, on_stop
        self.is_leader = False
        self.changed = asyncio.Event()
        self._last_renew = 0.0

    async def run(self) -> None:
        """Until cancelled: try to acquire, then renew; each step bounded by the retry period."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    # asyncio.timeout, not wait_for: on Python 3.11 wait_for drops a cancellation
                    # that arrives as the renewal answers, and this loop would then never end.
                    async with asyncio.timeout(self.settings.retry_period * 2):
                        ok = await self._try_acquire_or_renew()
                except (ApiException, asyncio.TimeoutError, OSError, Exception) as err:  # noqa: BLE001
                    ok = None
                    log.warning("lease update failed", lease=self.settings.name, error=repr(err)[:200])
                if ok:
                    self._last_renew = loop.time()
                    self._set(True)
                elif ok is False or loop.time() - self._last_renew > self.settings.renew_deadline:
                    self._set(False)
                await asyncio.sleep(self.settings.retry_period)
        finally:
            if self.is_leader:
                self._set(False)

    async def release(self) -> None:
        """Give the Lease up (clean shutdown), so a standby need not wait for it to expire."""
        self._set(False)
        try:
            lease = await self.coordination.read_namespaced_lease(self.settings.name, self.settings.namespace)
            if lease.spec and lease.spec.holder_identity == self.identity:
                await self.coordination.patch_namespaced_lease(self.settings.name, self.settings.namespace, {
                    "metadata": {"resourceVersion": lease.metadata.resource_version},
                    "spec": {"holderIdentity": None, "leaseDurationSeconds": 1,
                             "renewTime": _micro(datetime.now(timezone.utc))}}, _content_type=MERGE_PATCH)
        except Exception as err:  # noqa: BLE001  best effort: the Lease expires anyway
            log.warning("could not release the lease", error=repr(err)[:200])

    def _set(self, leader: bool) -> None:
        if leader == self.is_leader:
            return
        self.is_leader = leader
        self.changed.set()
        log.info("leadership " + ("acquired" if leader else "lost"), identity=self.identity, lease=self.settings.name)
        (self.on_start if leader else self.on_stop)()

    async def _try_acquire_or_renew(self) -> bool:
        s = self.settings
        now = datetime.now(timezone.utc)
        spec = {"holderIdentity": self.identity, "leaseDurationSeconds": int(s.lease_duration),
                "renewTime": _micro(now)}
        try:
            lease = await self.coordination.read_namespaced_lease(s.name, s.namespace)
        except ApiException as err:
            if err.status != 404:
                raise
            try:
                await self.coordination.create_namespaced_lease(s.namespace, {
                    "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": s.name, "namespace": s.namespace},
                    "spec": {**spec, "acquireTime": _micro(now), "leaseTransitions": 0}})
                return True
            except ApiException as err2:
                if err2.status == 409:
                    return False
                raise
        holder = lease.spec.holder_identity if lease.spec else None
        if holder and holder != self.identity:
            renewed = _parse(lease.spec.renew_time) or _parse(lease.spec.acquire_time)
            duration = lease.spec.lease_duration_seconds or s.lease_duration
            if renewed is not None and now < renewed + timedelta(seconds=duration):
                return False  # held by someone else, not expired
        if holder != self.identity:  # taking over (expired, released or never held)
            spec["acquireTime"] = _micro(now)
            spec["leaseTransitions"] = (lease.spec.lease_transitions or 0) + 1 if lease.spec else 1
        try:
            await self.coordination.patch_namespaced_lease(s.name, s.namespace, {
                "metadata": {"resourceVersion": lease.metadata.resource_version}, "spec": spec},
                _content_type=MERGE_PATCH)
        except ApiException as err:
            if err.status == 409:
                return False
            raise
        return True
