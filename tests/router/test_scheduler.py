import random
import time
from collections import Counter

import pytest

from inference_gateway.router.endpoint_state import EndpointMetrics, EndpointState
from inference_gateway.router.errors import GatewayError
from inference_gateway.router.scheduler.plugins.max_score_picker import MaxScorePicker
from inference_gateway.router.scheduler.profiles import default_profiles
from inference_gateway.router.scheduler.scheduler import Scheduler
from inference_gateway.router.scheduler.types import SchedulingRequest
from inference_gateway.router.prefix_index import PrefixIndex
from inference_gateway.router.table import Endpoint, Pool, Strategy


def pool(n: int, strategy: Strategy = Strategy.DEFAULT) -> Pool:
    eps = tuple(Endpoint(f"pod-{i}", "default", f"10.0.0.{i}", 8000) for i in range(n))
    return Pool("default", "p", 8000, strategy=strategy, endpoints=eps)


def scheduler(state: EndpointState, seed: int = 1) -> Scheduler:
    index = PrefixIndex()
    return Scheduler(state, index, default_profiles(index, MaxScorePicker(random.Random(seed))))


def fresh(state: EndpointState, address: str, **kw) -> None:
    state.update(address, EndpointMetrics(updated_at=time.monotonic(), **kw))


def idle_pool(n: int, state: EndpointState, strategy: Strategy = Strategy.DEFAULT) -> Pool:
    p = pool(n, strategy)
    for ep in p.endpoints:
        fresh(state, ep.address)
    return p


def req(prompt: str = "", max_tokens: int | None = None) -> SchedulingRequest:
    body = None if max_tokens is None else {"max_tokens": max_tokens}
    return SchedulingRequest(model="m", target_model="m", prompt=prompt, body=body)


def test_shortest_queue_wins():
    state = EndpointState()
    p = pool(3)
    for i, waiting in enumerate((5, 0, 9)):
        fresh(state, p.endpoints[i].address, waiting=waiting)
    assert scheduler(state).pick(p, req()).name == "pod-1"


def test_full_kv_cache_is_avoided():
    state = EndpointState()
    p = pool(2)
    fresh(state, p.endpoints[0].address, kv_usage=0.95, kv_blocks=1000, block_size=16)
    fresh(state, p.endpoints[1].address, kv_usage=0.10, kv_blocks=1000, block_size=16)
    assert scheduler(state).pick(p, req("x" * 4000)).name == "pod-1"


def test_stale_metrics_count_as_busy():
    state = EndpointState(stale_after=0.5)
    p = pool(2)
    state.update(p.endpoints[0].address, EndpointMetrics(waiting=0, updated_at=time.monotonic() - 10))
    fresh(state, p.endpoints[1].address, waiting=3)
    assert scheduler(state).pick(p, req()).name == "pod-1"


def test_idle_fleet_spreads_by_random_tie_break():
    state = EndpointState()
    p = idle_pool(4, state)
    s = scheduler(state)
    picks = Counter(s.pick(p, req()).name for _ in range(400))
    assert set(picks) == {e.name for e in p.endpoints}
    assert min(picks.values()) > 50


def test_in_flight_requests_spread_a_burst_between_scrapes():
    state = EndpointState()
    p = idle_pool(4, state)
    s = scheduler(state)
    chosen = []
    for _ in range(8):
        ep = s.pick(p, req())
        state.started(ep.address)
        chosen.append(ep.name)
    assert Counter(chosen) == Counter({e.name: 2 for e in p.endpoints})


def test_prefix_sticks_to_the_pod_that_served_it_but_not_onto_a_saturated_pod():
    """A ~2,000-token prefix with short answers: recomputing it elsewhere costs more than the
    holder's growing batch (the decode term), so a group of requests stays on one pod."""
    state = EndpointState()
    p = idle_pool(4, state, Strategy.PREFIX_CACHE)
    s = scheduler(state)
    system = "You are a helpful assistant. " * 280
    first = s.pick(p, req(system + "question one", max_tokens=64))
    for i in range(8):
        assert s.pick(p, req(system + f"question {i}", max_tokens=64)).name == first.name
    # The holder becomes overloaded: load outweighs the prefix.
    fresh(state, first.address, waiting=50, kv_usage=0.99)
    for ep in p.endpoints:
        state.in_flight[ep.address] = 0
    state.in_flight[first.address] = 40
    assert s.pick(p, req(system + "question x")).name != first.name


def test_empty_pool_is_503():
    with pytest.raises(GatewayError) as err:
        scheduler(EndpointState()).pick(pool(0), req())
    assert err.value.status == 503
