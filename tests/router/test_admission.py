import dataclasses
import asyncio
import time

import pytest

from inference_gateway.router.admission import Admission, AdmissionSettings
from inference_gateway.router.endpoint_state import EndpointMetrics, EndpointState
from inference_gateway.router.errors import GatewayError
from inference_gateway.router.table import Criticality, Endpoint, Pool

C, S, X = Criticality.CRITICAL, Criticality.STANDARD, Criticality.SHEDDABLE


def setup(waiting: float = 10, kv: float = 0.1, **settings):
    state = EndpointState()
    pool = Pool("default", "p", 8000, endpoints=(Endpoint("a", "default", "10.0.0.1", 8000),
                                                   Endpoint("b", "default", "10.0.0.2", 8000)))
    for ep in pool.endpoints:
        state.update(ep.address, EndpointMetrics(waiting=waiting, kv_usage=kv, updated_at=time.monotonic()))
    return state, pool, Admission(state, AdmissionSettings(poll_interval=0.005, **settings))


def set_load(state: EndpointState, pool: Pool, waiting: float, kv: float = 0.1) -> None:
    for ep in pool.endpoints:
        state.update(ep.address, EndpointMetrics(waiting=waiting, kv_usage=kv, updated_at=time.monotonic()))


def test_saturation_thresholds():
    state, pool, adm = setup(waiting=5)
    assert not adm.saturated(pool)                  # 5 is not more than 5
    state.started("10.0.0.1:8000")
    state.started("10.0.0.2:8000")
    assert not adm.saturated(pool)                  # new requests: scraped metrics only
    assert adm.saturated(pool, pending=True)        # releasing waiters: + one sent since the scrape each
    state.finished("10.0.0.1:8000")
    assert not adm.saturated(pool, pending=True)    # a finished request waits nowhere
    set_load(state, pool, waiting=0, kv=0.99)
    assert not adm.saturated(pool)                  # KV use alone is no saturation by default
    adm.settings = dataclasses.replace(adm.settings, max_kv=0.8)
    assert adm.saturated(pool)                      # unless a config asks for it
    adm.settings = dataclasses.replace(adm.settings, max_kv=1.0)
    state.update("10.0.0.1:8000", EndpointMetrics(waiting=0, updated_at=time.monotonic() - 60))
    set_load(state, pool, waiting=0)
    assert not adm.saturated(pool)
    state.stale_after = 0.0
    assert adm.saturated(pool)                      # stale counts as saturated


def test_sheddable_is_refused_only_while_saturated():
    state, pool, adm = setup(waiting=10)
    with pytest.raises(GatewayError) as err:
        adm.must_wait(pool, X)
    assert err.value.status == 429 and err.value.reason == "shed"
    assert adm.must_wait(pool, C) and adm.must_wait(pool, S)
    set_load(state, pool, waiting=0)
    assert not adm.must_wait(pool, X)


async def test_critical_is_released_before_standard_and_fifo_within_a_band():
    state, pool, adm = setup(waiting=10)
    released: list[str] = []

    async def req(name: str, crit: Criticality):
        await adm.wait(pool, crit)
        released.append(name)
        state.started("10.0.0.1:8000")  # what scheduling does

    tasks = [asyncio.create_task(req("s1", S)), asyncio.create_task(req("s2", S))]
    await asyncio.sleep(0.01)
    tasks += [asyncio.create_task(req("c1", C)), asyncio.create_task(req("c2", C))]
    await asyncio.sleep(0.01)
    assert adm.depth(pool.key) == {S: 2, C: 2}
    # Capacity frees slowly: one request at a time (a scrape showing room for one more).
    for _ in range(4):
        set_load(state, pool, waiting=5)
        await asyncio.sleep(0.03)
    await asyncio.gather(*tasks)
    assert released == ["c1", "c2", "s1", "s2"]
    assert adm.depth(pool.key) == {S: 0, C: 0}


async def test_queue_bounds_wait_timeout_and_cancellation():
    state, pool, adm = setup(waiting=10, max_queue=1, max_wait=0.05)
    first = asyncio.create_task(adm.wait(pool, S))
    await asyncio.sleep(0)
    with pytest.raises(GatewayError) as err:
        adm.must_wait(pool, S)
    assert err.value.status == 429 and err.value.reason == "queue-full"
    with pytest.raises(GatewayError) as err:
        await first
    assert err.value.status == 503 and err.value.reason == "waited-too-long"
    assert adm.depth(pool.key) == {S: 0}
    # A client that leaves (its stream is cancelled) leaves the queue.
    adm.settings = AdmissionSettings(max_wait=10)
    gone = asyncio.create_task(adm.wait(pool, C))
    await asyncio.sleep(0.01)
    assert adm.depth(pool.key)[C] == 1
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert adm.depth(pool.key)[C] == 0


def test_requests_queue_behind_waiters_even_when_capacity_is_back():
    state, pool, adm = setup(waiting=0)
    assert not adm.must_wait(pool, S)
