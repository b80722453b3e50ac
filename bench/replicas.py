"""Router replicas behind one Envoy: does shared prefix knowledge keep the prefix hit rate?

    .venv/bin/python -P bench/replicas.py [--repeats 3] [--conversations 48] [--turns 4]

One Envoy spreads ext_proc streams round robin over router replicas (separate processes,
`igw run --router-only`), estimate mode (`PREFIX_CACHE`), on a multi-turn workload: each
conversation's turns reach different replicas. Scenarios, side by side in each repeat, every
run on fresh simulated vLLM pods (cold caches):
- 1 replica: the reference;
- 3 replicas without sharing: each index learns a third of the picks;
- 3 replicas with peer sync (router/peer_sync.py);
- the same, with one replica SIGKILLed when 40% of the conversations are done and restarted
  2 s later (it catches up from its peers on reconnect).
The hit rate is the pods' own (vllm:prefix_cache_hits / queries over the run). Peer-sync cost
comes from the replicas' /metrics (igw_peer_sync_*) and their CPU time (/proc), per request.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from inference_gateway.bench.precise_vs_estimate import LABELS, WORDS, manifests
from inference_gateway.bench.probes import counters_delta, scrape_pods
from inference_gateway.cli.demo import send
from inference_gateway.cli.router_replicas import RouterReplica
from inference_gateway.operator.ports import free_port
from inference_gateway.cli.sim_fleet import SimFleet
from inference_gateway.cli.standalone import Standalone, StandaloneSettings
from inference_gateway.router.logs import configure
from inference_gateway.router.server import RouterSettings

REPLICA_HOST = "127.6.0.10"  # every replica's ports, on one loopback address
POD_FIRST_IP = 120         # pods on 127.0.0.120 and up
KILL_AT = 0.4              # share of conversations done when a replica is killed
RESTART_AFTER = 2.0        # seconds


async def conversation(session: aiohttp.ClientSession, url: str, i: int, args: argparse.Namespace,
                       ttfts: list[float]) -> int:
    """One multi-turn conversation (a long private context, then short turns); its failures.
    A turn that fails (an error status, or a stream cut when its replica died) is retried
    once, as a client would, so the conversation goes on."""
    rng = random.Random(i)
    history = [{"role": "user", "content": f"conversation {i}: " + " ".join(rng.choices(WORDS, k=args.context_words))}]
    failures = 0
    for turn in range(args.turns):
        for _attempt in range(2):
            try:
                result = await send(session, url + "/v1/chat/completions", {"model": "/models/Qwen3-32B",
                                    "max_tokens": 16, "messages": history, "stream": True})
            except (aiohttp.ClientError, asyncio.TimeoutError) as err:
                result = {"status": 0, "text": repr(err)}
            if result["status"] != 200 and args.verbose:
                print(f"    conversation {i} turn {turn}: {result['status']} {result['text'][:200]}", file=sys.stderr)
            if result["status"] == 200:
                break
            failures += 1
        else:
            continue
        if turn:
            ttfts.append(result["ttft_ms"])
        history += [{"role": "assistant", "content": result["text"]},
                    {"role": "user", "content": " ".join(rng.choices(WORDS, k=40))}]
    return failures


async def scrape_metrics(session: aiohttp.ClientSession, replica: RouterReplica) -> dict[str, float]:
    """The replica's counters that matter here, summed over labels (by name[kind/op])."""
    out: dict[str, float] = {}
    try:
        async with session.get(f"http://{replica.host}:{replica.metrics_port}/metrics") as resp:
            text = await resp.text()
    except aiohttp.ClientError:
        return out
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith("igw_peer_sync") and s.name.endswith("_total"):
                key = s.name + "".join(f"[{v}]" for v in s.labels.values())
                out[key] = out.get(key, 0.0) + s.value
            elif s.name == "inference_model_running_requests":
                out["running"] = out.get("running", 0.0) + s.value
    return out


@dataclass
class Run:
    replicas: int
    sync: bool
    kill: bool
    hit_rate: float = 0.0
    requests: int = 0
    failed: int = 0
    in_flight_at_kill: int = 0
    ttft_p50: float = 0.0
    cpu_ms_per_request: float = 0.0
    sync_bytes_per_request: float = 0.0     # sent + received over all replicas
    sync_ms_per_request: float = 0.0        # peer-sync's own time over all replicas
    snapshot_bytes: float = 0.0
    counters: dict[str, float] = field(default_factory=dict)

    @property
    def title(self) -> str:
        if self.replicas == 1:
            return "1 replica"
        return f"{self.replicas} replicas, " + ("peer sync" if self.sync else "no sharing") + \
            (", one killed + restarted" if self.kill else "")


async def run_once(replicas: int, sync: bool, kill: bool, args: argparse.Namespace, work: Path) -> Run:
    run = Run(replicas, sync, kill)
    fleet = SimFleet(args.pods, LABELS, "bench-pod", first_ip=POD_FIRST_IP, port=free_port(f"127.0.0.{POD_FIRST_IP}"),
                     extra_args=["--kv-capacity-tokens", str(args.kv_tokens), "--time-scale", str(args.time_scale)])
    await fleet.start()
    d = work / f"{replicas}-{sync}-{kill}-{time.monotonic_ns()}"
    d.mkdir()
    listen = free_port()
    (d / "all.yaml").write_text(manifests("estimate", fleet.port, listen, fleet))
    group = [RouterReplica([d], REPLICA_HOST, extra_args=("--no-usage-metrics",)) for _ in range(replicas)]
    gateway: Standalone | None = None
    try:
        for r in group:
            await r.start([p.peer_endpoint for p in group if p is not r] if sync else None)
        gateway = Standalone(StandaloneSettings(
            manifests=[d], router=RouterSettings(ext_proc_port=free_port(), health_port=0, metrics_port=0,
                                                 log_requests=False, read_usage=False),
            xds_port=free_port(), admin_port=free_port(), envoy_concurrency=2, workdir=d / "envoy",
            ext_proc_endpoints=tuple((r.host, r.ext_proc_port) for r in group)))
        await gateway.start()
        await asyncio.sleep(1.0)  # scrapes and peer connections settle
        addresses = [p.address for p in fleet.pods]
        before = await scrape_pods(addresses)
        cpu0 = sum(r.cpu() for r in group)
        ttfts: list[float] = []
        done = 0
        killed = asyncio.Event()
        sem = asyncio.Semaphore(args.concurrency)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
            async def one(i: int) -> int:
                nonlocal done
                async with sem:
                    failures = await conversation(session, f"http://127.0.0.1:{listen}", i, args, ttfts)
                done += 1
                if kill and not killed.is_set() and done >= KILL_AT * args.conversations:
                    killed.set()
                return failures

            async def killer() -> None:
                await killed.wait()
                victim = group[1]
                run.in_flight_at_kill = int((await scrape_metrics(session, victim)).get("running", 0))
                await victim.kill()
                await asyncio.sleep(RESTART_AFTER)
                await victim.start([p.peer_endpoint for p in group if p is not victim] if sync else None)

            kill_task = asyncio.create_task(killer()) if kill else None
            run.failed = sum(await asyncio.gather(*(one(i) for i in range(args.conversations))))
            if kill_task is not None:
                await kill_task
            run.requests = args.conversations * args.turns
            cpu = sum(r.cpu() for r in group) - cpu0
            metrics = [await scrape_metrics(session, r) for r in group]
        delta = counters_delta(before, await scrape_pods(addresses))
        hits = sum(x.get("prefix_hits", 0) for x in delta)
        queries = sum(x.get("prefix_queries", 0) for x in delta)
        run.hit_rate = hits / queries if queries else 0.0
        run.ttft_p50 = statistics.median(ttfts) if ttfts else 0.0
        run.cpu_ms_per_request = cpu * 1000 / run.requests
        total: dict[str, float] = {}
        for m in metrics:
            for k, v in m.items():
                total[k] = total.get(k, 0.0) + v
        run.counters = total
        wire = sum(v for k, v in total.items() if "_bytes_total[decisions]" in k)
        run.sync_bytes_per_request = wire / run.requests
        run.snapshot_bytes = sum(v for k, v in total.items() if "_bytes_total[snapshot]" in k)
        run.sync_ms_per_request = sum(v for k, v in total.items() if k.startswith("igw_peer_sync_seconds")) \
            * 1000 / run.requests
    finally:
        if gateway is not None:
            await gateway.stop()
        for r in group:
            await r.stop()
        await fleet.stop()
    return run


SCENARIOS = [(1, False, False), (3, False, False), (3, True, False), (3, True, True)]


async def main(args: argparse.Namespace) -> int:
    configure("error")
    runs: list[tuple[int, Run]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for replicas, sync, kill in [SCENARIOS[i] for i in args.scenarios]:
                started = time.monotonic()
                run = await run_once(replicas, sync, kill, args, Path(tmp))
                runs.append((repeat, run))
                print(f"  repeat {repeat + 1}: {run.title}: hit rate {run.hit_rate:.1%}, failed {run.failed} "
                      f"({time.monotonic() - started:.0f}s)", file=sys.stderr, flush=True)
    reference = {repeat: run.hit_rate for repeat, run in runs if run.replicas == 1}
    reference = {repeat: reference.get(repeat, 0.0) for repeat in range(args.repeats)}
    print(f"\n{args.conversations} conversations × {args.turns} turns, ~{args.context_words * 2}-token contexts, "
          f"{args.pods} simulated vLLM pods ({args.kv_tokens} KV tokens each), concurrency {args.concurrency}, "
          f"estimate mode; medians of {args.repeats} repeats")
    print(f"{'scenario':40} {'hit rate':>9} {'vs 1 replica':>13} {'failed':>7} {'TTFT p50':>9} "
          f"{'router CPU/req':>15} {'sync B/req':>11} {'sync CPU/req':>13}")
    for replicas, sync, kill in [SCENARIOS[i] for i in args.scenarios]:
        rows = [(rep, r) for rep, r in runs if (r.replicas, r.sync, r.kill) == (replicas, sync, kill)]
        med = lambda f: statistics.median(f(rep, r) for rep, r in rows)  # noqa: E731
        title = rows[0][1].title
        ratio = med(lambda rep, r: r.hit_rate / reference[rep] if reference[rep] else 0.0)
        failed = "/".join(str(r.failed) for _, r in rows)
        print(f"{title:40} {med(lambda _, r: r.hit_rate):9.1%} {ratio:13.1%} {failed:>7} "
              f"{med(lambda _, r: r.ttft_p50):6.1f} ms {med(lambda _, r: r.cpu_ms_per_request):12.2f} ms "
              f"{med(lambda _, r: r.sync_bytes_per_request):11.0f} {med(lambda _, r: r.sync_ms_per_request):10.3f} ms")
        if kill:
            print(f"{'':40} in flight on the killed replica at the kill: "
                  + "/".join(str(r.in_flight_at_kill) for _, r in rows)
                  + "; snapshot bytes (all replicas): " + "/".join(f"{r.snapshot_bytes:.0f}" for _, r in rows))
    print("\nfailed: per repeat. sync B/req: decision bytes sent + received by all replicas per request "
          "(snapshots excluded); sync CPU/req: time in peer sync's own code, all replicas.")
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--verbose", action="store_true", help="print each failed request")
    p.add_argument("--scenarios", type=int, nargs="+", default=list(range(len(SCENARIOS))),
                   help="which scenarios to run (0: 1 replica, 1: no sharing, 2: sync, 3: sync + kill)")
    p.add_argument("--conversations", type=int, default=48)
    p.add_argument("--turns", type=int, default=4)
    p.add_argument("--context-words", type=int, default=600)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--pods", type=int, default=4)
    p.add_argument("--kv-tokens", type=int, default=450_000)
    p.add_argument("--time-scale", type=float, default=0.2)
    sys.exit(asyncio.run(main(p.parse_args())))
