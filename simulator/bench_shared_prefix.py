"""Measure simulated pods on SGLang's shared-prefix routing workload (for README's table).

Runs N simulators in this process and a client that sends `groups x prompts_per_group`
requests (system prompt of `system_len` tokens shared within a group, `question_len`-token
question, `output_len` output tokens) at a fixed concurrency, routed round robin or with
perfect prefix affinity (group -> pod). Prints throughput, TTFT percentiles, cache hit rate
and the process's CPU time per generated token.

    python -P -m inference_gateway.simulator.bench_shared_prefix --pods 8 --profile a100-8b
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import time

import aiohttp

from .config import SimConfig
from .profiles import get_profile
from .server import Simulator


def _words(rng: random.Random, n_tokens: int) -> str:
    # SimpleTokenizer: a lowercase word of <= 7 letters with its leading space is one token.
    return "".join(" " + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 7)))
                   for _ in range(n_tokens))


async def run(args: argparse.Namespace) -> dict:
    profile = get_profile(args.profile)
    sims = [Simulator(SimConfig(runtime=args.runtime, host=f"127.0.0.{10 + i}", port=0, profile=profile,
                                served_model_names=["m"], time_scale=args.time_scale))
            for i in range(args.pods)]
    for s in sims:
        await s.start()
    rng = random.Random(0)
    systems = [_words(rng, args.system_len) for _ in range(args.groups)]
    work = [(g, systems[g] + _words(rng, args.question_len)) for g in range(args.groups)
            for _ in range(args.prompts_per_group)]
    rng.shuffle(work)
    ttfts: list[float] = []
    prompt_tokens = cached_tokens = out_tokens = 0
    rr = iter(range(10**9))
    sem = asyncio.Semaphore(args.concurrency)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()

    async def one(session: aiohttp.ClientSession, group: int, prompt: str) -> None:
        nonlocal prompt_tokens, cached_tokens, out_tokens
        pod = sims[(group if args.policy == "affinity" else next(rr)) % len(sims)]
        body = {"model": "m", "prompt": prompt, "max_tokens": args.output_len, "stream": True,
                "stream_options": {"include_usage": True}}
        async with sem:
            start = time.monotonic()
            first = None
            async with session.post(pod.base_url + "/v1/completions", json=body) as r:
                async for raw in r.content:
                    if first is None and raw.startswith(b"data: {"):
                        first = time.monotonic() - start
                    if raw.startswith(b'data: {') and b'"usage"' in raw:
                        u = json.loads(raw[6:])["usage"]
                        prompt_tokens += u["prompt_tokens"]
                        cached_tokens += u["prompt_tokens_details"]["cached_tokens"]
                        out_tokens += u["completion_tokens"]
            ttfts.append(first or 0.0)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        await asyncio.gather(*(one(session, g, p) for g, p in work))
    wall = time.monotonic() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    for s in sims:
        await s.stop()
    ttfts.sort()
    scale = args.time_scale
    cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    return {
        "policy": args.policy, "pods": args.pods, "profile": profile.name, "requests": len(work),
        "sim_seconds": round(wall / scale, 2),
        "output_tok_per_s": round(out_tokens / (wall / scale)),
        "ttft_p50_s": round(ttfts[len(ttfts) // 2] / scale, 3),
        "ttft_p90_s": round(ttfts[int(len(ttfts) * 0.9)] / scale, 3),
        "cache_hit_rate": round(cached_tokens / max(1, prompt_tokens), 3),
        "cpu_us_per_output_token": round(cpu / max(1, out_tokens) * 1e6, 1),
        "wall_seconds": round(wall, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pods", type=int, default=8)
    p.add_argument("--runtime", default="sglang")
    p.add_argument("--profile", default="a100-8b")
    p.add_argument("--policy", choices=["rr", "affinity"], default="rr")
    p.add_argument("--groups", type=int, default=64)
    p.add_argument("--prompts-per-group", type=int, default=16)
    p.add_argument("--system-len", type=int, default=2048)
    p.add_argument("--question-len", type=int, default=128)
    p.add_argument("--output-len", type=int, default=256)
    p.add_argument("--concurrency", type=int, default=256)
    p.add_argument("--time-scale", type=float, default=1.0)
    print(json.dumps(asyncio.run(run(p.parse_args()))))


if __name__ == "__main__":
    main()
