"""Precise prefix mode (the pods' KV events) against estimate mode, on workloads where the
estimate goes wrong: router replicas that each see only part of the traffic, and pods whose
small KV caches evict what the estimate still believes is there.

    .venv/bin/python -P bench/precise_vs_estimate.py [--conversations 32] [--turns 4]

Multi-turn conversations (a long private context, then short turns); each turn is sent through
replica `turn % replicas`, as Envoy spreads ext_proc streams over router replicas. The prefix
cache hit rate is the pods' own: vllm:prefix_cache_hits / queries over the run. Pods restart
between runs so every run starts cold.

Measured 2026-11-25 on 2 cores (48 conversations × 4 turns, ~1200-token contexts, 4 pods):

    scenario                           mode       hit rate  TTFT p50 (turns ≥2)  failed
    2 router replicas, ample KV        estimate      51.8%               9.8 ms       0
    2 router replicas, ample KV        precise       70.7%              10.9 ms       0
    1 replica, small KV (evictions)    estimate      68.3%              14.3 ms       0
    1 replica, small KV (evictions)    precise       70.2%              15.1 ms       0

70.7% is the best this workload allows (every turn after the first fully cached). With two
replicas each estimate index misses the half of the traffic the other replica routed; the
pods' events tell both the truth. Evictions cost estimate mode less, because its LRU is
sized from the pod's own cache_config_info.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import yaml

from inference_gateway.bench.probes import counters_delta, scrape_pods
from inference_gateway.cli.demo import send
from inference_gateway.operator.ports import free_port
from inference_gateway.cli.sim_fleet import SimFleet
from inference_gateway.cli.standalone import Standalone, StandaloneSettings
from inference_gateway.router.logs import configure
from inference_gateway.router.server import RouterSettings

LABELS = {"app": "bench-precise"}
KV_EVENTS_PORT = 5557
WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november".split()


def manifests(mode: str, pod_port: int, listen: int, fleet: SimFleet) -> str:
    pool = {"apiVersion": "inference.networking.x-k8s.io/v1alpha2", "kind": "InferencePool",
            "metadata": {"name": "pool", "annotations": {"inference.networking.x-k8s.io/routing-strategy": "PREFIX_CACHE",
                                                         "inference.networking.x-k8s.io/model-server-runtime": fleet.runtime}},
            "spec": {"targetPortNumber": pod_port, "selector": LABELS}}
    docs = [pool]
    if mode == "precise":
        docs.append({"apiVersion": "inferenceextension.alibabacloud.com/v1alpha1", "kind": "InferenceTrafficPolicy",
                     "metadata": {"name": "precise"},
                     "spec": {"poolRef": {"name": "pool"},
                              "trafficPolicy": {"prefixCache": {"mode": "precise", "kvEventsPort": KV_EVENTS_PORT}}}})
    docs += [{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass", "metadata": {"name": "c"},
              "spec": {"controllerName": "inference.networking.x-k8s.io/gateway-controller"}},
             {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "g"},
              "spec": {"gatewayClassName": "c", "listeners": [{"name": "http", "protocol": "HTTP", "port": listen}]}},
             {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "r"},
              "spec": {"parentRefs": [{"name": "g"}], "rules": [{"backendRefs": [
                  {"group": "inference.networking.x-k8s.io", "kind": "InferencePool", "name": "pool"}]}]}}]
    return yaml.safe_dump_all(docs) + "---\n" + fleet.pods_yaml()


async def conversation(session, urls: list[str], i: int, turns: int, context_words: int, ttfts: list[float]) -> int:
    rng = random.Random(i)
    history = [{"role": "user", "content": f"conversation {i}: " + " ".join(rng.choices(WORDS, k=context_words))}]
    failures = 0
    for turn in range(turns):
        result = await send(session, urls[turn % len(urls)] + "/v1/chat/completions",
                            {"model": "/models/Qwen3-32B", "max_tokens": 16, "messages": history, "stream": True})
        if result["status"] != 200:
            failures += 1
            continue
        if turn:
            ttfts.append(result["ttft_ms"])
        history += [{"role": "assistant", "content": result["text"]},
                    {"role": "user", "content": " ".join(rng.choices(WORDS, k=40))}]
    return failures


async def run_once(mode: str, replicas: int, kv_tokens: int, args: argparse.Namespace, work: Path) -> dict:
    fleet = SimFleet(4, LABELS, "bench-pod", first_ip=80, port=free_port("127.0.0.80"), runtime=args.runtime,
                     extra_args=["--kv-events", f"tcp://*:{KV_EVENTS_PORT}", "--kv-capacity-tokens", str(kv_tokens),
                                 "--time-scale", str(args.time_scale)])
    await fleet.start()
    gateways: list[Standalone] = []
    try:
        urls = []
        for r in range(replicas):
            listen = free_port()
            d = work / f"{mode}-{replicas}-{kv_tokens}-{r}"
            d.mkdir()
            (d / "all.yaml").write_text(manifests(mode, fleet.port, listen, fleet))
            gw = Standalone(StandaloneSettings(
                manifests=[d], router=RouterSettings(ext_proc_port=free_port(), health_port=0, metrics_port=0,
                                                      log_requests=False, read_usage=False),
                xds_port=free_port(), admin_port=free_port(), envoy_concurrency=1, workdir=d / "envoy"))
            gateways.append(gw)
            await gw.start()
            urls.append(f"http://127.0.0.1:{listen}")
        await asyncio.sleep(1.0)  # scrapes and KV-event subscriptions settle
        addresses = [p.address for p in fleet.pods]
        before = await scrape_pods(addresses)
        ttfts: list[float] = []
        sem = asyncio.Semaphore(args.concurrency)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
            async def one(i: int) -> int:
                async with sem:
                    return await conversation(session, urls, i, args.turns, args.context_words, ttfts)
            failures = sum(await asyncio.gather(*(one(i) for i in range(args.conversations))))
        delta = counters_delta(before, await scrape_pods(addresses))
        hits = sum(d.get("prefix_hits", 0) for d in delta)
        queries = sum(d.get("prefix_queries", 0) for d in delta)
    finally:
        for gw in gateways:
            await gw.stop()
        await fleet.stop()
    return {"mode": mode, "replicas": replicas, "kv_tokens": kv_tokens, "hit_rate": hits / queries if queries else 0.0,
            "ttft_p50": statistics.median(ttfts) if ttfts else 0.0, "failures": failures}


async def main(args: argparse.Namespace) -> int:
    configure("error")
    scenarios = [(2, args.large_kv, "2 router replicas, ample KV"), (1, args.small_kv, "1 replica, small KV (evictions)")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for replicas, kv, title in scenarios:
            for mode in ("estimate", "precise"):
                started = time.monotonic()
                row = await run_once(mode, replicas, kv, args, Path(tmp))
                row["title"] = title
                rows.append(row)
                print(f"  {title}: {mode} done in {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)
    print(f"\n{args.conversations} conversations × {args.turns} turns, ~{args.context_words * 2} token context, "
          f"4 simulated {args.runtime} pods, time scale {args.time_scale}")
    print(f"{'scenario':34} {'mode':9} {'hit rate':>9} {'TTFT p50 (turns ≥2)':>20} {'failed':>7}")
    for r in rows:
        print(f"{r['title']:34} {r['mode']:9} {r['hit_rate']:9.1%} {r['ttft_p50']:17.1f} ms {r['failures']:7d}")
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--conversations", type=int, default=48)
    p.add_argument("--turns", type=int, default=4)
    p.add_argument("--context-words", type=int, default=600)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--time-scale", type=float, default=0.2)
    p.add_argument("--large-kv", type=int, default=450_000)
    p.add_argument("--small-kv", type=int, default=4_000)
    p.add_argument("--runtime", choices=["vllm", "sglang"], default="vllm",
                   help="simulated pods (SGLang: its own KV-event hashing, one event per token)")
    sys.exit(asyncio.run(main(p.parse_args())))
