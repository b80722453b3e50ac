"""The gateway process under faults: Envoy killed, igw killed, igw asked to stop mid-stream.

`igw run` runs as a real child process here (signals are the point); pods are simulated.
"""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
from pathlib import Path

import aiohttp
import pytest
from grpc_health.v1 import health_pb2

from inference_gateway.bench.igw_process import Igw, alive, chat, fleet, wait_gone


@pytest.fixture
async def pods():
    f = fleet(2, extra_args=["--time-scale", "10"])
    await f.start()
    yield f
    await f.stop()


@pytest.fixture
async def igws():
    started: list[Igw] = []
    yield started
    for igw in started:
        await igw.stop()


async def test_sigkill_leaves_no_envoy_and_a_new_igw_serves_on_the_same_ports(tmp_path, pods, igws):
    first = Igw.write(tmp_path / "manifests", pods)
    igws.append(first)
    await first.start(tmp_path / "igw1.log")
    envoys = first.envoy_pids()
    assert len(envoys) == 1

    workdirs = [d for d in Path(tempfile.gettempdir()).glob("igw-envoy-*")
                if (d / "owner.pid").exists() and (d / "owner.pid").read_text() == str(first.process.pid)]
    assert len(workdirs) == 1

    first.signal(signal.SIGKILL)
    await first.wait(5)
    await wait_gone(envoys[0], within=5)  # the parent-death signal took Envoy along

    second = Igw(first.manifests, first.listener_port, ports=first.ports)
    igws.append(second)
    await second.start(tmp_path / "igw2.log", ready_within=15)
    assert await second.health() == health_pb2.HealthCheckResponse.SERVING
    assert not workdirs[0].exists()  # the killed gateway's work directory, removed by the next


async def test_envoy_killed_is_restarted_with_the_current_configuration(tmp_path, pods, igws):
    igw = Igw.write(tmp_path / "manifests", pods)
    igws.append(igw)
    await igw.start(tmp_path / "igw.log")
    [envoy] = igw.envoy_pids()

    os.kill(envoy, signal.SIGKILL)
    await wait_gone(envoy, within=5)
    await igw.wait_serving(within=10)
    [restarted] = igw.envoy_pids()
    assert restarted != envoy
    assert await igw.health() == health_pb2.HealthCheckResponse.SERVING
    log = igw.log_text()
    assert "envoy exited; the gateway is NOT_SERVING until it is restarted" in log
    assert "envoy restarted; serving again" in log


async def test_sigterm_lets_streams_in_flight_finish_then_exits_0(tmp_path, pods, igws):
    igw = Igw.write(tmp_path / "manifests", pods, extra=["--shutdown-grace", "60"])
    igws.append(igw)
    await igw.start(tmp_path / "igw.log")
    tokens = 40  # ~2.5 s per stream at --time-scale 10: far longer than the steps below
    first_chunk = [asyncio.Event() for _ in range(4)]

    async def stream(i: int, session: aiohttp.ClientSession) -> list[bytes]:
        async with session.post(igw.url + "/v1/chat/completions", json=chat(tokens, stream=True, text=f"s{i}")) as r:
            assert r.status == 200
            lines = []
            async for line in r.content:
                lines.append(line)
                first_chunk[i].set()
            return lines

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        streams = [asyncio.create_task(stream(i, session)) for i in range(4)]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in first_chunk)), 20)
        igw.signal(signal.SIGTERM)
        # Envoy stops accepting while the streams go on.
        for _ in range(100):
            try:
                _, writer = await asyncio.open_connection("127.5.0.1", igw.listener_port)
                writer.close()
                await asyncio.sleep(0.05)
            except OSError:
                break
        else:
            pytest.fail("the listener still accepts connections 5 s after SIGTERM")
        assert not all(s.done() for s in streams), "streams ended before the drain began: make them longer"
        results = await asyncio.wait_for(asyncio.gather(*streams), 30)
    for lines in results:
        assert lines[-2:] == [b"data: [DONE]\n", b"\n"] or b"data: [DONE]\n" in lines
    assert await igw.wait(20) == 0
    assert not any(alive(pid) for pid in igw.envoy_pids())


async def test_envoy_crash_loop_ends_igw_with_a_non_zero_exit(tmp_path, pods, igws):
    igw = Igw.write(tmp_path / "manifests", pods)
    igws.append(igw)
    await igw.start(tmp_path / "igw.log")
    killed: set[int] = set()
    for _ in range(5):  # the policy allows 3 restarts a minute: the 4th exit ends igw
        if igw.process.returncode is not None:
            break
        envoys = [p for p in igw.envoy_pids() if p not in killed]
        if not envoys:  # being restarted: wait for the new Envoy (bounded)
            for _ in range(200):
                await asyncio.sleep(0.05)
                envoys = [p for p in igw.envoy_pids() if p not in killed]
                if envoys or igw.process.returncode is not None:
                    break
        for pid in envoys:
            killed.add(pid)
            os.kill(pid, signal.SIGKILL)
            await wait_gone(pid, within=5)
    assert await igw.wait(20) == 1
    assert "envoy keeps exiting; giving up" in igw.log_text()
