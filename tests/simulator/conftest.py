"""Fixtures: in-process simulators on ephemeral loopback ports with tiny, fast profiles."""

from __future__ import annotations

from typing import Any, AsyncIterator, Awaitable, Callable

import aiohttp
import pytest

from inference_gateway.simulator import Simulator
from inference_gateway.simulator.testing import tiny_config


@pytest.fixture
async def start_sim() -> AsyncIterator[Callable[..., Awaitable[Simulator]]]:
    """Start simulators with `await start_sim(**tiny_config kwargs)`; all stopped at teardown."""
    sims: list[Simulator] = []

    async def start(**kw: Any) -> Simulator:
        sim = Simulator(tiny_config(**kw))
        await sim.start()
        sims.append(sim)
        return sim

    yield start
    for s in sims:
        await s.stop()


@pytest.fixture
async def sim(start_sim) -> Simulator:  # type: ignore[no-untyped-def]
    return await start_sim()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as s:
        yield s
