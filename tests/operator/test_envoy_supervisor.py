"""Envoy supervision with a real Envoy: restarted after an exit, given up on in a crash loop,
and its own work directory removed on close."""

from __future__ import annotations

import asyncio
import os
import signal
import socket

import pytest

from inference_gateway.operator.envoy_process import EnvoyProcess
from inference_gateway.operator.envoy_supervisor import EnvoyCrashLoop, EnvoySupervisor, RestartPolicy
from inference_gateway.operator.ports import free_port


def _bootstrap(admin_port: int) -> dict:
    return {"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}}}


class Health:
    def __init__(self) -> None:
        self.reports: list[bool] = []

    async def __call__(self, serving: bool) -> None:
        self.reports.append(serving)


async def _ready() -> None:
    return None


async def test_restarted_after_exit_then_crash_loop_ends_it():
    admin = free_port()
    envoy = EnvoyProcess(_bootstrap(admin), admin, concurrency=1)
    workdir = envoy.workdir
    health = Health()
    await envoy.start()
    supervisor = EnvoySupervisor(envoy, health, _ready, RestartPolicy(max_restarts=2, window=60, backoff=0.05))
    task = asyncio.create_task(supervisor.run())
    try:
        first = envoy.process.pid
        os.kill(first, signal.SIGKILL)
        async with asyncio.timeout(20):
            while supervisor.restarts < 1:
                await asyncio.sleep(0.05)
        assert envoy.running and envoy.process.pid != first
        assert health.reports == [False, True]

        # From now on Envoy cannot start (its admin port is taken): the restarts run out.
        os.kill(envoy.process.pid, signal.SIGKILL)
        await envoy.process.wait()
        with socket.socket() as squatter:
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind(("127.0.0.1", admin))
            squatter.listen()
            with pytest.raises(EnvoyCrashLoop):
                await asyncio.wait_for(task, 30)
        assert health.reports[-1] is False
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await envoy.close()
    assert not workdir.exists()


def test_work_directories_of_dead_gateways_are_removed(tmp_path):
    from inference_gateway.operator.envoy_process import OWNER_FILE, remove_orphaned_workdirs

    dead, alive, foreign = (tmp_path / f"igw-envoy-{n}" for n in ("dead", "alive", "foreign"))
    for d in (dead, alive, foreign):
        d.mkdir()
    (dead / OWNER_FILE).write_text("999999999")  # above any pid_max: no such process
    (alive / OWNER_FILE).write_text(str(os.getppid()))
    remove_orphaned_workdirs(tmp_path)
    assert not dead.exists() and alive.exists() and foreign.exists()
