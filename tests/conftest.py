"""Fixtures shared by the suites: free ports, simulated pods, and a whole gateway
(router + ADS + real Envoy) started from a manifests directory."""

from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable

import pytest

from inference_gateway.cli.sim_fleet import SimFleet
from inference_gateway.cli.standalone import Standalone, StandaloneSettings
from inference_gateway.router.server import RouterSettings

from support.env import VLLM_LABELS, free_port

class RunningGateway:
    def __init__(self, gateway: Standalone, manifests: Path, port: int) -> None:
        self.gateway = gateway
        self.manifests = manifests
        self.port = port
        self.decisions: dict[str, object] = {}
        gateway.router.service.observers.append(lambda d: self.decisions.__setitem__(d.request_id, d))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def start_gateway(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[RunningGateway]]]:
    """Start a gateway on `manifests` (a dir); every port is free-picked."""
    started: list[Standalone] = []

    async def start(manifests: Path, listener_port: int, reload_interval: float = 0.2,
                    standalone: dict[str, object] | None = None, **router: object) -> RunningGateway:
        """`router`: RouterSettings fields to override (e.g. scheduler=SchedulerConfig(...));
        `standalone`: StandaloneSettings fields (e.g. access_log=...)."""
        gateway = Standalone(StandaloneSettings(
            manifests=[manifests],
            router=RouterSettings(**{"ext_proc_port": free_port(), "health_port": free_port(),
                                     "metrics_port": free_port(), "scrape_interval": 0.05, **router}),
            xds_port=free_port(), admin_port=free_port(), envoy_concurrency=1,
            reload_interval=reload_interval, workdir=tmp_path / f"envoy{len(started)}", **(standalone or {})))
        started.append(gateway)
        await gateway.start()
        return RunningGateway(gateway, manifests, listener_port)

    yield start
    for gateway in started:
        await gateway.stop()


@pytest.fixture
async def vllm_fleet() -> AsyncIterator[SimFleet]:
    """Four simulated vLLM pods on 127.0.0.2–5 (a free port) with the seed's labels."""
    fleet = SimFleet(count=4, labels=VLLM_LABELS, port=free_port("127.0.0.2"))
    await fleet.start()
    yield fleet
    await fleet.stop()
