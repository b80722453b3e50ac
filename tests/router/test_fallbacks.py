"""The fallback list Envoy retries on, and pods going down and coming back."""

from __future__ import annotations

import random

from inference_gateway.router.endpoint_state import EndpointMetrics, EndpointState
from inference_gateway.router.fallbacks import destination_list
from inference_gateway.router.scheduler.scheduler import Scheduler
from inference_gateway.router.scheduler.types import SchedulingRequest
from inference_gateway.router.table import Endpoint, Pool


def _pool(n: int) -> Pool:
    return Pool("default", "p", 8000, endpoints=tuple(Endpoint(f"pod-{i}", "default", f"10.0.0.{i}", 8000)
                                                       for i in range(n)))


def test_fallbacks_are_live_least_loaded_other_pods():
    pool, state = _pool(5), EndpointState()
    a = [e.address for e in pool.endpoints]
    state.mark_down(a[1])
    state.in_flight.update({a[2]: 5, a[3]: 1, a[4]: 0})
    assert destination_list(pool, pool.endpoints[0], state, random.Random(1)) == ",".join([a[0], a[4], a[3]])
    assert destination_list(_pool(1), _pool(1).endpoints[0], state, random.Random(1)) == "10.0.0.0:8000"


def test_a_down_pod_is_never_picked_even_when_it_has_nothing_in_flight():
    pool, state = _pool(2), EndpointState()
    dead, busy = (e.address for e in pool.endpoints)
    state.update(busy, EndpointMetrics(waiting=50, running=8, kv_usage=0.99, updated_at=1e12))  # saturated
    state.in_flight[busy] = 8
    state.mark_down(dead)  # its requests died at once: nothing in flight
    scheduler = Scheduler(state)
    request = SchedulingRequest(model="m", target_model="m", prompt="hi")
    assert {scheduler.pick(pool, request).address for _ in range(20)} == {busy}
    state.update(dead, EndpointMetrics(updated_at=1e12))  # a scrape succeeded: back in
    assert dead not in state.down
