"""Router replicas as a unit. They share their estimate prefix index (router/peer_sync.py): a
replica routes the next turn of a conversation it never saw to the pod that holds it, and a
replica that restarts catches up from its peers before it routes. One Envoy spreads ext_proc
streams over several replicas, and a replica that stops leaves the rotation.

Each replica here is a whole gateway (its own Envoy), so the test chooses which replica
routes which turn. Without sharing, a replica that never saw a conversation picks by load
alone among 4 idle pods: the 6 conversations would all land on the right pod with
probability 4^-6."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from inference_gateway.cli.demo import send
from inference_gateway.cli.sim_fleet import SimFleet
from inference_gateway.cli.standalone import Standalone, StandaloneSettings
from inference_gateway.router.server import RouterSettings

from support.env import VLLM_LABELS, free_port, gateway_yaml, write_manifests
from support.scenario import pool_doc

pytestmark = pytest.mark.envoy

MODEL = "/models/Qwen3-32B"


@contextlib.asynccontextmanager
async def replica(manifests, workdir, listen: str | None, peers: list[str], host: str = "127.0.0.1",
                  ext_proc_port: int | None = None, **settings):
    """One gateway whose router shares its index at `listen` with `peers` (`settings`: more
    StandaloneSettings, e.g. router_only or ext_proc_endpoints)."""
    port = free_port()
    gw = Standalone(StandaloneSettings(
        manifests=[manifests], xds_port=free_port(), admin_port=free_port(), envoy_concurrency=1,
        reload_interval=0.2, workdir=workdir,
        router=RouterSettings(host=host, ext_proc_port=ext_proc_port or free_port(host), health_port=0, metrics_port=0,
                              scrape_interval=0.05, peer_listen=listen, peers=tuple(peers)), **settings))
    (manifests / "gateway.yaml").write_text(gateway_yaml(port))
    decisions: dict[str, object] = {}
    gw.router.service.observers.append(lambda d: decisions.__setitem__(d.request_id, d))
    try:
        await gw.start()
        yield gw, f"http://127.0.0.1:{port}", decisions
    finally:
        await gw.stop()


async def until(predicate, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.02)


def manifests(tmp_path, name: str, fleet: SimFleet):
    d = tmp_path / name
    d.mkdir()
    write_manifests(d, "pool.yaml", [pool_doc("qwen-inference-pool", fleet.port, VLLM_LABELS, "PREFIX_CACHE")])
    write_manifests(d, "pods.yaml", fleet.pods_yaml())
    return d


async def turn(session, url: str, history: list[dict]) -> dict:
    result = await send(session, url + "/v1/chat/completions", {"model": MODEL, "max_tokens": 4, "messages": history})
    assert result["status"] == 200, result
    history += [{"role": "assistant", "content": result["text"]}, {"role": "user", "content": "and then?"}]
    return result


async def ext_proc_host_health(session, gateway: Standalone, host: str, port: int) -> str:
    """Envoy's health flags for one router replica in its ext_proc cluster."""
    prefix = f"igw-ext-proc::{host}:{port}::health_flags::"
    async with session.get(f"http://127.0.0.1:{gateway.settings.admin_port}/clusters") as resp:
        return next((x[len(prefix):] for x in (await resp.text()).splitlines() if x.startswith(prefix)), "")


async def until_health(session, gateway: Standalone, host: str, port: int, healthy: bool) -> None:
    deadline = time.monotonic() + 10
    while (await ext_proc_host_health(session, gateway, host, port) == "healthy") != healthy:
        assert time.monotonic() < deadline, f"{host}:{port} never became {'healthy' if healthy else 'unhealthy'}"
        await asyncio.sleep(0.05)


async def test_replicas_route_conversations_they_never_saw(tmp_path, vllm_fleet):
    """Turn 1 through gateway a (its own router); turn 2 through gateway `front`, whose Envoy
    calls router-only replica b; then b stops, and c takes its place (same address, new
    identity, started after every pick): it catches up from a before routing turn 3."""
    a_listen, b_listen, c_listen = (f"tcp://127.6.1.{i}:{free_port(f'127.6.1.{i}')}" for i in (1, 2, 3))
    replica_port = free_port("127.6.1.4")
    conversations = [[{"role": "user", "content": f"conversation {i}: " + "a long private context. " * 40}]
                     for i in range(6)]
    holder: dict[int, str] = {}
    async with aiohttp.ClientSession() as session, \
            replica(manifests(tmp_path, "a", vllm_fleet), tmp_path / "envoy-a", a_listen, [b_listen, c_listen]) as a, \
            replica(manifests(tmp_path, "front", vllm_fleet), tmp_path / "envoy-front", None, [],
                    ext_proc_endpoints=(("127.6.1.4", replica_port),)) as front:
        async with replica(manifests(tmp_path, "b", vllm_fleet), None, b_listen, [a_listen, c_listen],
                           host="127.6.1.4", ext_proc_port=replica_port, router_only=True) as b:
            await until(lambda: b[0].router.peer_sync.caught_up_from, "b joined a")
            for i, history in enumerate(conversations):
                first = await turn(session, a[1], history)
                holder[i] = a[2][first["id"]].pod
                applied = b[0].router.peer_sync.metrics.picks_applied
                await until(lambda: applied._value.get() >= i + 1, "b applied a's pick")
                second = await turn(session, front[1], history)
                assert b[2][second["id"]].pod == holder[i], f"conversation {i}: b did not follow a's pick"
                assert second["usage"]["prompt_tokens_details"]["cached_tokens"] > 100
        await until_health(session, front[0], "127.6.1.4", replica_port, healthy=False)
        async with replica(manifests(tmp_path, "c", vllm_fleet), None, c_listen, [a_listen, b_listen],
                           host="127.6.1.4", ext_proc_port=replica_port, router_only=True) as c:
            await until(lambda: c[0].router.peer_sync.caught_up_from, "c caught up from a")
            assert len(c[0].router.prefix_index) == len(a[0].router.prefix_index)
            await until_health(session, front[0], "127.6.1.4", replica_port, healthy=True)
            for i, history in enumerate(conversations):
                third = await turn(session, front[1], history)
                assert c[2][third["id"]].pod == holder[i], f"conversation {i}: c did not catch up"


async def test_one_envoy_spreads_streams_over_replicas_and_drops_a_stopped_one(tmp_path, vllm_fleet):
    """Envoy's ext_proc cluster lists a's router and b's; b runs without an Envoy of its own."""
    d = manifests(tmp_path, "shared", vllm_fleet)
    body = {"model": MODEL, "max_tokens": 2, "messages": [{"role": "user", "content": "hello"}]}
    async with aiohttp.ClientSession() as session, \
            replica(d, tmp_path / "no-envoy", None, [], host="127.6.1.5", router_only=True) as b:
        assert b[0].envoy is None
        b_router = (b[0].router.settings.host, b[0].router.settings.ext_proc_port)
        a_port = free_port()
        async with replica(d, tmp_path / "envoy", None, [], ext_proc_port=a_port,
                           ext_proc_endpoints=(("127.0.0.1", a_port), b_router)) as a:
            for _ in range(6):
                assert (await send(session, a[1] + "/v1/chat/completions", body))["status"] == 200
            assert len(a[2]) == 3 and len(b[2]) == 3  # round robin over the two replicas
            await b[0].stop()
            # Envoy's health check (or the first refused stream) takes b out of the rotation...
            await until_health(session, a[0], *b_router, healthy=False)
            # ...and every stream goes to a.
            statuses = [(await send(session, a[1] + "/v1/chat/completions", body))["status"] for _ in range(6)]
            assert statuses == [200] * 6
            assert len(a[2]) == 3 + statuses.count(200)


def children_of(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(stat.parent.name))
        except (OSError, ValueError):
            pass
    return out


async def test_igw_run_with_router_replicas(tmp_path, vllm_fleet):
    """`igw run --router-replicas 3`: two child routers beside its own, all serving; none outlives it."""
    d = manifests(tmp_path, "cli", vllm_fleet)
    port = free_port()
    (d / "gateway.yaml").write_text(gateway_yaml(port))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-P", "-c", "import sys; from inference_gateway.cli.main import main; sys.exit(main())",
        "--log-level", "warning", "run", "--manifests", str(d), "--router-replicas", "3", "--router-host", "127.6.1.6",
        "--ext-proc-port", str(free_port("127.6.1.6")), "--health-port", "0", "--metrics-port", "0",
        "--xds-port", str(free_port()), "--admin-port", str(free_port()),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:  # until the listener opens (bounded)
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.returncode is None, "gateway did not start"
                await asyncio.sleep(0.1)
        routers = [c for c in children_of(proc.pid) if b"--router-only" in Path(f"/proc/{c}/cmdline").read_bytes()]
        assert len(routers) == 2, [Path(f"/proc/{c}/cmdline").read_bytes()[:300] for c in children_of(proc.pid)]
        body = {"model": MODEL, "max_tokens": 2, "messages": [{"role": "user", "content": "hello"}]}
        async with aiohttp.ClientSession() as session:
            for _ in range(6):
                assert (await send(session, f"http://127.0.0.1:{port}/v1/chat/completions", body))["status"] == 200
    finally:
        if proc.returncode is None:
            proc.terminate()
        await asyncio.wait_for(proc.wait(), 20)
    for child in routers:
        assert not Path(f"/proc/{child}").exists() or b"zombie" in Path(f"/proc/{child}/status").read_bytes().lower()
