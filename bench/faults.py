"""`make bench-faults`: what each fault costs the clients, through the real Envoy.

Each fault runs on fresh simulated vLLM pods (127.5.x.x) under 8 looping clients (half of
the requests streamed), REPEATS times; the table shows medians. Per fault:
- lost after: client-visible failures among requests that *started after* the fault;
- lost in flight: failures among requests already under way when it struck (a stream that
  started cannot be replayed, so a pod dying mid-stream costs its streams);
- to dead pod: routing decisions naming the failed pod after the failure, and the last one's
  delay (Envoy retries those on a fallback, so they need not be lost);
- recover: pod faults, the time until the router took the pod out (kill) or back in (after a
  transient fault ended); gateway faults, until a request succeeds again / the process exits.

Run: `make bench-faults` (or `.venv/bin/python -P bench/faults.py --repeats 3`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable

import aiohttp

from inference_gateway.bench.igw_process import Igw, alive, chat, fleet, wait_gone
from inference_gateway.operator.ports import free_port
from inference_gateway.cli.sim_fleet import SimFleet
from inference_gateway.cli.standalone import Standalone, StandaloneSettings
from inference_gateway.router.logs import configure as configure_logs
from inference_gateway.router.server import RouterSettings

CLIENTS = 8


@dataclass
class Outcome:
    requests: int = 0
    lost_after: int = 0
    lost_in_flight: int = 0
    to_dead: int | None = None       # decisions naming the failed pod after it failed
    to_dead_last_ms: float | None = None
    recover_ms: float | None = None
    note: str = ""


@dataclass
class Load:
    """CLIENTS looping clients; each request recorded as (start, end, ok)."""

    url: str
    stream_tokens: int = 16
    records: list[tuple[float, float, bool]] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task] = field(default_factory=list)

    async def _client(self, n: int, session: aiohttp.ClientSession) -> None:
        for i in range(100_000):  # bounded; ends on stop()
            if self._stop.is_set():
                return
            stream = i % 2 == 0
            started = time.monotonic()
            ok = False
            try:
                body = chat(self.stream_tokens if stream else 8, stream=stream, text=f"c{n} r{i}")
                async with session.post(self.url + "/v1/chat/completions", json=body) as r:
                    data = await r.read()
                    ok = r.status == 200 and (not stream or b"[DONE]" in data)
            except (aiohttp.ClientError, asyncio.TimeoutError):
                await asyncio.sleep(0.1)  # a refused connection must not spin
            self.records.append((started, time.monotonic(), ok))

    def start(self, session: aiohttp.ClientSession) -> None:
        self._tasks = [asyncio.create_task(self._client(n, session)) for n in range(CLIENTS)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), 60)

    def count(self, at: float) -> tuple[int, int, int]:
        """(requests, failed among those started after `at`, failed among those under way at `at`)."""
        after = sum(not ok for s, _, ok in self.records if s > at)
        during = sum(not ok for s, e, ok in self.records if s <= at < e)
        return len(self.records), after, during


async def _in_process(tmp: Path, pods: SimFleet) -> tuple[Standalone, list[tuple[float, str]], str]:
    """Router + Envoy in this process (the router's decisions are observable), pods as children."""
    igw = Igw.write(tmp / "manifests", pods)
    gw = Standalone(StandaloneSettings(
        manifests=[igw.manifests], listen_address="127.5.0.1",
        # The router's default scrape interval, as `igw run` has it: what users get on a pod fault.
        router=RouterSettings(host="127.5.0.1", ext_proc_port=free_port("127.5.0.1"), health_port=0,
                              metrics_port=0, log_requests=False),
        xds_port=free_port(), admin_port=free_port(), envoy_concurrency=1, workdir=tmp / "envoy"))
    await gw.start()
    routed: list[tuple[float, str]] = []
    gw.router.service.observers.append(lambda d: routed.append((time.monotonic(), d.address)))
    deadline = time.monotonic() + 15
    while not all(gw.router.state.fresh(p.address) for p in pods.pods):
        assert time.monotonic() < deadline, "pods never scraped"
        await asyncio.sleep(0.05)
    return gw, routed, igw.url


async def pod_fault(tmp: Path, kind: str) -> Outcome:
    pods = fleet(4, subnet=11)
    await pods.start()
    gw = None
    try:
        gw, routed, url = await _in_process(tmp, pods)
        victim = pods.pods[0]
        load = Load(url)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            load.start(session)
            await asyncio.sleep(1.5)
            at = time.monotonic()
            fault_s = 2.0
            if kind == "kill":
                victim.process.send_signal(signal.SIGKILL)
            else:
                async with session.post(f"http://{victim.address}/sim/fault",
                                        json={"mode": kind, "duration_s": fault_s}) as r:
                    await r.read()
            await asyncio.sleep(fault_s + 1.5)
            await load.stop()
        out = Outcome(*load.count(at))
        end = at + (fault_s if kind != "kill" else 1e9)
        dead = [t for t, a in routed if a == victim.address and at < t < end]
        out.to_dead = len(dead)
        out.to_dead_last_ms = round((max(dead) - at) * 1000) if dead else 0
        if kind == "kill":
            down = gw.router.state.down.get(victim.address)
            out.recover_ms = round((down - at) * 1000) if down else None
            out.note = "recover = router marks the pod down"
        else:
            back = [t for t, a in routed if a == victim.address and t >= end]
            out.recover_ms = round((min(back) - end) * 1000) if back else None
            out.note = f"{fault_s:.0f} s fault; recover = first pick after it ends"
        return out
    finally:
        if gw is not None:
            await gw.stop()
        await pods.stop()


async def _read_stream(session: aiohttp.ClientSession, url: str, body: dict, started: asyncio.Event) -> bool:
    """One streamed chat request; `started` is set at its first bytes. True if it ended whole."""
    try:
        async with session.post(url + "/v1/chat/completions", json=body) as r:
            data = b""
            async for chunk in r.content.iter_any():
                data += chunk
                started.set()
            return r.status == 200 and b"[DONE]" in data
    except aiohttp.ClientError:
        return False


async def router_loss(tmp: Path) -> Outcome:
    """The router's ext_proc server dies while 8 streams are under way (FailClose pool)."""
    pods = fleet(2, subnet=12, extra_args=["--time-scale", "10"])
    await pods.start()
    gw = None
    try:
        gw, _, url = await _in_process(tmp, pods)
        first = [asyncio.Event() for _ in range(CLIENTS)]

        async def stream(i: int, session: aiohttp.ClientSession) -> bool:
            body = chat(40, stream=True, text=f"story {i}")
            body["stream_options"] = {"include_usage": True}
            return await _read_stream(session, url, body, first[i])

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            tasks = [asyncio.create_task(stream(i, session)) for i in range(CLIENTS)]
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in first)), 30)
            await gw.router._grpc.stop(grace=0)
            oks = await asyncio.gather(*tasks)
            async with session.post(url + "/v1/chat/completions", json=chat()) as r:
                new_status = r.status
        return Outcome(requests=len(oks), lost_in_flight=oks.count(False),
                       note=f"streams in flight; a new request then gets {new_status}")
    finally:
        if gw is not None:
            await gw.stop()
        await pods.stop()


async def _igw(tmp: Path, subnet: int, extra: list[str] | None = None, time_scale: str = "1"
               ) -> tuple[SimFleet, Igw]:
    pods = fleet(2, subnet=subnet, extra_args=["--time-scale", time_scale])
    await pods.start()
    igw = Igw.write(tmp / "manifests", pods, extra=extra)
    igw.log_level = "warning"
    try:
        await igw.start(tmp / "igw.log")
    except BaseException:
        await igw.stop()
        await pods.stop()
        raise
    return pods, igw


async def envoy_killed(tmp: Path) -> Outcome:
    pods, igw = await _igw(tmp, 13)
    try:
        load = Load(igw.url)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            load.start(session)
            await asyncio.sleep(1.0)
            [envoy] = igw.envoy_pids()
            at = time.monotonic()
            os.kill(envoy, signal.SIGKILL)
            await wait_gone(envoy, 5)
            served = await igw.wait_serving(within=15)
            recover = time.monotonic() - at if served is not None else None
            await asyncio.sleep(0.5)
            await load.stop()
        out = Outcome(*load.count(at))
        out.recover_ms = round(recover * 1000) if recover is not None else None
        out.note = "lost = refused while no Envoy listens; recover = serving again"
        return out
    finally:
        await igw.stop()
        await pods.stop()


async def sigterm(tmp: Path) -> Outcome:
    pods, igw = await _igw(tmp, 14, time_scale="10")
    try:
        first = [asyncio.Event() for _ in range(CLIENTS)]

        async def stream(i: int, session: aiohttp.ClientSession) -> bool:
            return await _read_stream(session, igw.url, chat(40, stream=True), first[i])

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            tasks = [asyncio.create_task(stream(i, session)) for i in range(CLIENTS)]
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in first)), 30)
            at = time.monotonic()
            igw.signal(signal.SIGTERM)
            oks = await asyncio.gather(*tasks)
            code = await igw.wait(60)
        return Outcome(requests=len(oks), lost_in_flight=oks.count(False),
                       recover_ms=round((time.monotonic() - at) * 1000),
                       note=f"streams in flight; exit code {code}; recover = time to exit")
    finally:
        await igw.stop()
        await pods.stop()


async def sigkill(tmp: Path) -> Outcome:
    pods, igw = await _igw(tmp, 15)
    second = None
    try:
        envoys = igw.envoy_pids()
        igw.signal(signal.SIGKILL)
        at = time.monotonic()
        await igw.wait(10)
        await asyncio.sleep(1.0)
        orphans = sum(alive(p) for p in envoys)
        second = Igw(igw.manifests, igw.listener_port, extra=igw.extra, ports=igw.ports, log_level="warning")
        await second.start(tmp / "igw2.log", ready_within=30)
        return Outcome(requests=0, recover_ms=round((time.monotonic() - at) * 1000),
                       note=f"{orphans} Envoy left running; recover = new igw serving on the same ports")
    finally:
        if second is not None:
            await second.stop()
        await igw.stop()
        await pods.stop()


FAULTS: dict[str, Callable[[Path], Awaitable[Outcome]]] = {
    "pod killed (SIGKILL)": lambda tmp: pod_fault(tmp, "kill"),
    "pod refuses connections": lambda tmp: pod_fault(tmp, "refuse"),
    "pod resets connections": lambda tmp: pod_fault(tmp, "reset"),
    "router dies mid-stream": router_loss,
    "Envoy killed": envoy_killed,
    "igw SIGTERM mid-stream": sigterm,
    "igw SIGKILL, igw run again": sigkill,
}


def _median(values: list[float | int | None]) -> str:
    known = [v for v in values if v is not None]
    return "–" if not known else f"{statistics.median(known):g}"


async def main(repeats: int, only: list[str] | None) -> int:
    rows = []
    for name, run in FAULTS.items():
        if only and not any(o.lower() in name.lower() for o in only):
            continue
        outcomes = []
        for r in range(repeats):
            with tempfile.TemporaryDirectory(prefix="igw-faults-") as tmp:
                outcomes.append(await run(Path(tmp)))
            print(f"  {name} #{r + 1}: {outcomes[-1]}", file=sys.stderr, flush=True)
        rows.append((name, outcomes))
    print(f"\nFaults, {repeats} repeats each, medians ({CLIENTS} clients; 2-core machine shared with other work)\n")
    print("| fault | requests | lost after | lost in flight | to dead pod | last to dead pod (ms) | recover (ms) | notes |")
    print("|---|---|---|---|---|---|---|---|")
    for name, outs in rows:
        m = {k: _median([getattr(o, k) for o in outs]) for k in
             ("requests", "lost_after", "lost_in_flight", "to_dead", "to_dead_last_ms", "recover_ms")}
        print(f"| {name} | {m['requests']} | {m['lost_after']} | {m['lost_in_flight']} | {m['to_dead']} | "
              f"{m['to_dead_last_ms']} | {m['recover_ms']} | {outs[-1].note} |")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", action="append", help="run the faults whose name contains this")
    args = parser.parse_args()
    configure_logs("error")
    sys.exit(asyncio.run(main(args.repeats, args.only)))
