"""Admission and queuing: what happens to a request while its pool is saturated.

A pod is saturated when its queue is long (`waiting` > `max_waiting`), its KV cache is nearly
full (> `max_kv`), or its metrics are missing or stale (an unknown pod is assumed busy). A
pool is saturated when every pod is.

While the pool is saturated:
- Sheddable requests are refused at once with 429;
- Critical and Standard requests wait in per-pool priority queues (Critical first, then
  Standard, FIFO within a band), bounded in length (429 when full) and in time (503 after
  `max_wait` seconds), and are released one at a time as capacity frees;
- a client that goes away leaves the queue: its ext_proc stream is cancelled, which cancels
  the waiting coroutine, and `finally` removes the waiter.

When the pool is not saturated and nobody waits, admission costs one pass over the pods and
no await (the fast path of every request).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from dataclasses import dataclass, field

from .endpoint_state import EndpointState
from .errors import GatewayError, too_many_requests
from .saturation import MAX_KV, MAX_WAITING, saturated
from .table import Criticality, Pool


@dataclass(frozen=True)
class AdmissionSettings:
    max_waiting: float = MAX_WAITING  # the saturation rule's thresholds (saturation.py)
    max_kv: float = MAX_KV
    max_queue: int = 1000       # waiters per pool and band; beyond: 429
    max_wait: float = 30.0      # seconds a request may wait; beyond: 503
    poll_interval: float = 0.01  # how often a saturated pool is re-checked while requests wait


def _rejection(err: GatewayError, reason: str) -> GatewayError:
    err.reason = reason
    return err


def queue_timeout(pool: str, waited: float) -> GatewayError:
    return _rejection(GatewayError(
        503, f"request waited {waited:.1f}s for capacity in pool {pool}, which stayed saturated",
        "service_unavailable"), "waited-too-long")


@dataclass(order=True)
class _Waiter:
    priority: int
    seq: int
    future: asyncio.Future = field(compare=False)
    criticality: Criticality = field(compare=False)


class PoolQueue:
    """The waiters of one pool, highest priority first."""

    def __init__(self) -> None:
        self.heap: list[_Waiter] = []
        self.count: dict[Criticality, int] = {}
        self.dispatcher: asyncio.Task | None = None

    def push(self, waiter: _Waiter) -> None:
        heapq.heappush(self.heap, waiter)
        self.count[waiter.criticality] = self.count.get(waiter.criticality, 0) + 1

    def pop_live(self) -> _Waiter | None:
        while self.heap:
            w = heapq.heappop(self.heap)
            self.count[w.criticality] -= 1
            if not w.future.done():
                return w
        return None

    def remove(self, waiter: _Waiter) -> None:
        try:
            self.heap.remove(waiter)
        except ValueError:
            return  # already popped
        heapq.heapify(self.heap)
        self.count[waiter.criticality] -= 1


class Admission:
    def __init__(self, state: EndpointState, settings: AdmissionSettings = AdmissionSettings(),
                 on_change=None) -> None:
        self.state = state
        self.settings = settings
        self.queues: dict[str, PoolQueue] = {}
        self._seq = itertools.count()
        self.on_change = on_change  # called with (pool key, criticality, queue length) on every change

    def pod_saturated(self, address: str, now: float, pending: bool = False) -> bool:
        """`pending`: also count what the router sent since the pod's last scrape and has
        not seen finish (the scrape cannot show it yet) as waiting."""
        extra = min(self.state.since_scrape.get(address, 0), self.state.in_flight.get(address, 0)) if pending else 0
        return saturated(self.state.fresh(address, now), extra, self.settings.max_waiting, self.settings.max_kv)

    def saturated(self, pool: Pool, now: float | None = None, pending: bool = False) -> bool:
        """Every pod saturated. New requests are judged on scraped metrics alone (as the
        Inference Extension does); releasing queued requests also counts the ones released
        since the last scrape (`pending`), so one freed slot releases one request, not the
        whole queue."""
        if not pool.endpoints:
            return False  # nothing to wait for: the scheduler answers 503
        now = time.monotonic() if now is None else now
        for ep in pool.endpoints:
            if not self.pod_saturated(ep.address, now, pending):
                return False
        return True

    def must_wait(self, pool: Pool, criticality: Criticality) -> bool:
        """True when the request must queue; raises 429 when it is refused outright."""
        queue = self.queues.get(pool.key)
        if (queue is None or not queue.heap) and not self.saturated(pool):
            return False
        if criticality is Criticality.SHEDDABLE:
            if queue is not None and queue.heap and not self.saturated(pool):
                return False  # capacity is back; the queue is draining
            raise _rejection(too_many_requests(f"pool {pool.key} is saturated; Sheddable requests are shed"), "shed")
        if queue is not None and queue.count.get(criticality, 0) >= self.settings.max_queue:
            raise _rejection(too_many_requests(f"pool {pool.key} is saturated and its {criticality} queue is full"),
                             "queue-full")
        return True

    async def wait(self, pool: Pool, criticality: Criticality, holder=None) -> float:
        """Wait for capacity; returns seconds waited. `holder()` gives the pool's current
        snapshot (endpoints change while a request waits)."""
        started = time.monotonic()
        queue = self.queues.get(pool.key)
        if queue is None:
            queue = self.queues[pool.key] = PoolQueue()
        waiter = _Waiter(criticality.priority, next(self._seq), asyncio.get_running_loop().create_future(),
                         criticality)
        queue.push(waiter)
        self._changed(pool.key, criticality, queue)
        if queue.dispatcher is None or queue.dispatcher.done():
            queue.dispatcher = asyncio.get_running_loop().create_task(self._dispatch(pool.key, queue, holder or (lambda: pool)))
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for drops a cancellation (the
            # client gone) that arrives as the waiter is released, and the request would go on.
            async with asyncio.timeout(self.settings.max_wait):
                await waiter.future
        except TimeoutError:
            raise queue_timeout(pool.key, time.monotonic() - started) from None
        finally:
            if not waiter.future.done():
                waiter.future.cancel()
            queue.remove(waiter)
            self._changed(pool.key, criticality, queue)
        return time.monotonic() - started

    def _changed(self, key: str, criticality: Criticality, queue: PoolQueue) -> None:
        if self.on_change is not None:
            self.on_change(key, criticality, queue.count.get(criticality, 0))

    async def _dispatch(self, key: str, queue: PoolQueue, current_pool) -> None:
        """Release waiters one at a time while the pool has capacity; ends when none wait."""
        while queue.heap:
            pool = current_pool()
            if pool is None or not self.saturated(pool, pending=True):
                waiter = queue.pop_live()
                if waiter is None:
                    break
                self._changed(key, waiter.criticality, queue)
                waiter.future.set_result(None)
                # Let the released request schedule itself (and count against its pod) before
                # the next saturation check.
                await asyncio.sleep(0)
                continue
            await asyncio.sleep(self.settings.poll_interval)

    def depth(self, key: str) -> dict[Criticality, int]:
        queue = self.queues.get(key)
        return dict(queue.count) if queue else {}
