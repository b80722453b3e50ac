"""`make bench-overhead`: what the gateway costs, measured side by side on one trivial upstream.

Each repeat starts fresh setups (the upstream stays), runs plain Envoy and the gateway side by
side (each phase measures one right after the other) and measures:
1. sustained load of short non-streamed requests (`--connections` at once, `--duration` s):
   requests/s and latency through the upstream directly, plain Envoy (one static cluster) and
   the gateway (Envoy + the ext_proc router in a process of its own); the router's CPU per
   request, and the ext_proc messages per request (Envoy's own statistics); then the same load
   on a gateway with N router processes behind its Envoy (`--router-replicas`, default 2: `igw
   run --router-replicas N`, the prefix index shared), plain Envoy measured again right before;
2. streamed requests asking for `stream_options.include_usage`, 10 / 100 / 1,000 output tokens,
   one SSE event per token (flushed on its own, 1 ms apart, as a model server sends them):
   router CPU per request and latency p50/p99 through plain Envoy and the gateway, and the
   same through the gateway for a model the router renames (a canary target; the only case
   whose response passes through the router), whose extra CPU per chunk is reported;
3. prompts of 1k, 32k and 100k tokens (~4.5 bytes each), sent one at a time: the p50 they add
   over plain Envoy, and the router's CPU per request;
4. one or two ext_proc messages per request, side by side (operator/translate/one_message.py;
   `igw run` sends one where the route allows): on a gateway of each whose Envoy writes its
   access log (`igw run --envoy-access-log`), the sustained load of 1, then the 1k-token prompt
   one at a time, and where its added latency goes: Envoy's own timing of its wait for the
   router's answer to each message (median per request);
5. scheduling alone (in this process) on a 1,000-endpoint PREFIX_CACHE pool with a filled
   prefix index: p50/p99 of wall time and of this thread's CPU time (wall time on a shared
   machine also counts waiting for a core).
Latencies of 2 and 3 are taken in alternating rounds (plain Envoy, gateway, renamed; three
times; the median round), so a change in the machine's load hits every setup alike.
Router CPU is the gateway process's /proc utime+stime over the phase, minus its idle rate
(scraping, xDS) measured before the phases. The table shows the median of the repeats; the
machine's state (load average, CPUs, other processes' CPU) is printed for each repeat, and
after every setup its processes (Envoy included) are checked gone with ps.

    python -P bench/overhead.py [--repeats 3] [--duration 6] [--connections 32] [--router-replicas 2]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from inference_gateway.bench.overhead_scheduling import scheduling
from inference_gateway.cli import event_loop
from inference_gateway.bench.overhead_setups import (
    CANARY, MODEL, Machine, Proc, client, ext_proc_messages, router_cpu_seconds, serve_gateway, start_gateway,
    start_plain_envoy,
)
from inference_gateway.operator.ports import free_port

STREAM_TOKENS = (10, 100, 1000)
# Latency: few streams at a time, so the Python upstream keeps its 1 ms pace on a shared machine.
# CPU: more at a time, so the router's idle rate subtracted is small beside what is measured.
LATENCY_STREAMS = (4, {10: 120, 100: 48, 1000: 12})      # (at a time, requests) per setup
ROUNDS = 3  # latency is measured in alternating rounds: plain Envoy, gateway, renamed, again
CPU_STREAMS = (16, {10: 480, 100: 160, 1000: 48})
PROMPT_TOKENS = (1_000, 32_000, 100_000)
PROMPT_COUNT = {1_000: 42, 32_000: 24, 100_000: 15}  # sequential, after 2 warm-ups, in ROUNDS rounds
HOP_TOKENS, HOP_COUNT = 1_000, 100  # phase 4: one at a time, after 2 warm-ups
HOP_VARIANTS = ("one", "two")  # phase 4: ext_proc messages per request (one: as `igw run` serves)


def chat_body(model: str = MODEL, prompt: str = "Say ok.", **extra) -> bytes:
    return json.dumps({"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": 1,
                       **extra}).encode()


def stream_body(model: str, tokens: int) -> bytes:
    return chat_body(model, "Count.", max_tokens=tokens, stream=True, stream_options={"include_usage": True})


def prompt_text(tokens: int, rng: random.Random) -> str:
    """About `tokens` tokens: short random words (~4.5 bytes a token)."""
    return " ".join("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 5)))
                    for _ in range(tokens))


class RouterMeter:
    """The router process's CPU per request over a phase, its idle rate subtracted, and the
    ext_proc messages per request (Envoy's count)."""

    def __init__(self, pid: int, admin_port: int, idle_seconds: float = 3.0) -> None:
        self.pid = pid  # the gateway process: its router and any router replicas it started
        self.admin_port = admin_port
        self.messages = 0.0  # per request, in the last run
        before, t = router_cpu_seconds(pid), time.monotonic()
        time.sleep(idle_seconds)
        self.idle_rate = (router_cpu_seconds(pid) - before) / (time.monotonic() - t)

    def run(self, load) -> tuple[dict, float]:
        messages = ext_proc_messages(self.admin_port)
        before, t = router_cpu_seconds(self.pid), time.monotonic()
        result = load()
        used = router_cpu_seconds(self.pid) - before - self.idle_rate * (time.monotonic() - t)
        self.messages = (ext_proc_messages(self.admin_port) - messages) / max(1, result["requests"])
        return result, max(0.0, used) / max(1, result["requests"]) * 1e6


def one_repeat(args: argparse.Namespace, workdir: Path, upstream_url: str, upstream: tuple[str, int]) -> dict:
    """Every figure of one repeat: {name: value}."""
    out: dict[str, float] = {}
    short = workdir / "short.json"
    short.write_bytes(chat_body())
    streams = {}
    for tokens in STREAM_TOKENS:
        for model in (MODEL, CANARY):
            streams[(model, tokens)] = workdir / f"stream-{model}-{tokens}.json"
            streams[(model, tokens)].write_bytes(stream_body(model, tokens))
    rng = random.Random(2)
    prompts = {n: workdir / f"prompt-{n}.json" for n in PROMPT_TOKENS}
    for n, path in prompts.items():
        path.write_bytes(chat_body(prompt=prompt_text(n, rng)))

    r = client(upstream_url, short, args.connections, duration=args.duration)
    out["direct rps"] = r["rps"]

    # Both setups run at once and each phase measures them back to back, so a change in the
    # machine's load between phases hits both alike.
    envoy, port = start_plain_envoy(workdir, upstream, args.envoy_concurrency)
    plain = f"http://127.0.0.1:{port}"
    gw = None
    try:
        gw, port, canary_port, admin = start_gateway(workdir, upstream, args.envoy_concurrency, args.log_level,
                                                     usage=not args.no_usage)
        url, canary_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{canary_port}"
        meter = RouterMeter(gw.pid, admin)
        out["router idle CPU %"] = meter.idle_rate * 100
        client(url, short, 4, count=200)  # warm-up: caches, first-use imports
        r = client(plain, short, args.connections, duration=args.duration)
        out.update({"plain rps": r["rps"], "plain p50": r["p50"], "plain p99": r["p99"]})
        r, cpu = meter.run(lambda: client(url, short, args.connections, duration=args.duration))
        out.update({"gateway rps": r["rps"], "gateway p50": r["p50"], "gateway p99": r["p99"],
                    "gateway errors": r["errors"], "gateway cpu": cpu})
        out["gateway messages"] = meter.messages
        at_once, count = LATENCY_STREAMS
        cpu_at_once, cpu_count = CPU_STREAMS
        for tokens in STREAM_TOKENS:
            # Latency in alternating rounds, so the machine's changing load hits every setup alike.
            rounds = {label: [] for label in ("plain", "gw", "renamed")}
            for _ in range(ROUNDS):
                for model, label, via in ((MODEL, "plain", plain), (MODEL, "gw", url), (CANARY, "renamed", canary_url)):
                    rounds[label].append(client(via, streams[(model, tokens)], at_once, count=count[tokens] // ROUNDS))
            for label, results in rounds.items():
                out[f"{label} stream{tokens} p50"] = statistics.median(r["p50"] for r in results)
                out[f"{label} stream{tokens} p99"] = statistics.median(r["p99"] for r in results)
            for model, label, via in ((MODEL, "gw", url), (CANARY, "renamed", canary_url)):
                r, cpu = meter.run(lambda: client(via, streams[(model, tokens)], cpu_at_once, count=cpu_count[tokens]))
                out[f"{label} stream{tokens} cpu"] = cpu
                out[f"{label} stream{tokens} messages"] = meter.messages
                out[f"{label} stream{tokens} errors"] = r["errors"]
        for n in PROMPT_TOKENS:
            client(plain, prompts[n], 1, count=2)
            client(url, prompts[n], 1, count=2)
            plain_p50, gw_p50, cpus = [], [], []
            for _ in range(ROUNDS):
                plain_p50.append(client(plain, prompts[n], 1, count=PROMPT_COUNT[n] // ROUNDS)["p50"])
                r, cpu = meter.run(lambda: client(url, prompts[n], 1, count=PROMPT_COUNT[n] // ROUNDS))
                gw_p50.append(r["p50"])
                cpus.append(cpu)
            out[f"plain prompt{n} p50"] = statistics.median(plain_p50)
            out[f"gw prompt{n} p50"] = statistics.median(gw_p50)
            out[f"gw prompt{n} cpu"] = statistics.median(cpus)
        if gw is not None:
            gw.stop()
            gw = None
        for n in args.router_replicas:
            # The same sustained load on a gateway whose Envoy spreads the ext_proc streams over n
            # router processes sharing the prefix index (`igw run --router-replicas n`); plain
            # Envoy measured again right before it.
            gw, port, _, admin = start_gateway(workdir, upstream, args.envoy_concurrency, args.log_level,
                                               usage=not args.no_usage, replicas=n)
            url = f"http://127.0.0.1:{port}"
            meter = RouterMeter(gw.pid, admin)
            client(url, short, 4, count=200)  # warm-up, every replica
            out[f"plain rps x{n}"] = client(plain, short, args.connections, duration=args.duration)["rps"]
            r, cpu = meter.run(lambda: client(url, short, args.connections, duration=args.duration))
            out.update({f"gateway rps x{n}": r["rps"], f"gateway p50 x{n}": r["p50"], f"gateway p99 x{n}": r["p99"],
                        f"gateway errors x{n}": r["errors"], f"gateway cpu x{n}": cpu})
            gw.stop()
            gw = None
        # Where the added latency goes: Envoy's own timing of its ext_proc messages to the router,
        # on gateways with one message per request (as served) and with two, one after the other.
        for variant in HOP_VARIANTS:
            log_path = workdir / f"access-{port}-{variant}.log"
            gw, hop_port, _, hop_admin = start_gateway(workdir, upstream, args.envoy_concurrency, args.log_level,
                                                       usage=not args.no_usage, access_log=log_path,
                                                       two_messages=variant == "two")
            hop_url = f"http://127.0.0.1:{hop_port}"
            meter = RouterMeter(gw.pid, hop_admin)
            client(hop_url, short, 4, count=200)  # warm-up
            r, cpu = meter.run(lambda: client(hop_url, short, args.connections, duration=args.duration))
            out.update({f"hop {variant} rps": r["rps"], f"hop {variant} cpu": cpu,
                        f"hop {variant} messages": meter.messages, f"hop {variant} errors": r["errors"]})
            client(hop_url, prompts[HOP_TOKENS], 1, count=2)
            r = client(hop_url, prompts[HOP_TOKENS], 1, count=HOP_COUNT)
            out[f"hop {variant} prompt errors"] = r["errors"]
            out[f"hop {variant} p50"] = r["p50"]
            gw.stop()  # Envoy writes out its access log as it exits
            gw = None
            out.update(hop_times(log_path, variant, last=HOP_COUNT))
    finally:
        if gw is not None:
            gw.stop()
        envoy.stop()
    sched = scheduling()
    out.update({"sched p50": sched["p50"], "sched p99": sched["p99"], "sched cpu p50": sched["cpu p50"],
                "sched cpu p99": sched["cpu p99"], "sched blocks": sched["index_blocks"]})
    return out


def hop_times(log_path: Path, variant: str, last: int) -> dict[str, float]:
    """Medians over the access log's `last` requests (the prompts sent one at a time, after the
    sustained load) of the time Envoy waited for the router's answer to each request message
    (operator/translate/access_log.py); 0 for a message not sent (one-message routes)."""
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()][-last:]
    if len(lines) < last:
        raise RuntimeError(f"{len(lines)} access log lines in {log_path}, expected {last}")
    return {f"hop {variant} {key}": statistics.median(float(line[f"ext_proc_request_{key}_us"] or 0) for line in lines)
            for key in ("headers", "body")}


def report(runs: list[dict], args: argparse.Namespace) -> None:
    def m(key: str) -> float:
        return statistics.median(run[key] for run in runs)

    print(f"\nmedians of {len(runs)} repeats (client: aiohttp in its own process; Envoy workers: "
          f"{args.envoy_concurrency}; usage metrics {'off' if args.no_usage else 'on'})\n")
    print(f"{'sustained, short requests':<28}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'% of Envoy':>12}"
          f"{'router CPU/req':>16}")
    print(f"{'direct to upstream':<28}{m('direct rps'):>9.0f}")
    print(f"{'plain Envoy':<28}{m('plain rps'):>9.0f}{m('plain p50'):>9.2f}{m('plain p99'):>9.2f}{'100%':>12}")
    print(f"{'gateway (one router)':<28}{m('gateway rps'):>9.0f}{m('gateway p50'):>9.2f}{m('gateway p99'):>9.2f}"
          f"{100 * m('gateway rps') / m('plain rps'):>11.0f}%{m('gateway cpu'):>13.0f} µs"
          f"  ({m('gateway messages'):.1f} ext_proc messages/req)")
    print(f"one router process at that CPU per request, on a core of its own: {1e6 / m('gateway cpu'):,.0f} req/s "
          "(on this machine the client, Envoy and the upstream share the cores)")
    for n in args.router_replicas:
        ratio = statistics.median(run[f"gateway rps x{n}"] / run[f"plain rps x{n}"] for run in runs)
        print(f"{f'gateway, {n} router processes':<28}{m(f'gateway rps x{n}'):>9.0f}{m(f'gateway p50 x{n}'):>9.2f}"
              f"{m(f'gateway p99 x{n}'):>9.2f}{100 * ratio:>11.0f}%{m(f'gateway cpu x{n}'):>13.0f} µs"
              f"  (all routers' CPU; plain Envoy {m(f'plain rps x{n}'):,.0f} req/s right before it; "
              f"{m(f'gateway rps x{n}') / m('gateway rps'):.2f}× one router's req/s)")
    print(f"\nstreamed, include_usage, one SSE event per token (latency: {LATENCY_STREAMS[0]} at a time, whole "
          f"response, ms; CPU: {CPU_STREAMS[0]} at a time)")
    print(f"{'output tokens':<14}{'CPU/req':>10}{'msgs/req':>9}{'p50 Envoy':>10}{'p50 gw':>8}{'added':>7}"
          f"{'p99 Envoy':>10}{'p99 gw':>8}{'added':>7} | renamed:{'CPU/req':>10}{'msgs/req':>9}{'per chunk':>10}"
          f"{'p50 added':>10}")
    for t in STREAM_TOKENS:
        pe, pg, qe, qg = (m(f"plain stream{t} p50"), m(f"gw stream{t} p50"), m(f"plain stream{t} p99"),
                          m(f"gw stream{t} p99"))
        per_chunk = (m(f"renamed stream{t} cpu") - m(f"gw stream{t} cpu")) / t
        print(f"{t:<14}{m(f'gw stream{t} cpu'):>7.0f} µs{m(f'gw stream{t} messages'):>9.1f}{pe:>10.1f}{pg:>8.1f}"
              f"{pg - pe:>7.1f}{qe:>10.1f}{qg:>8.1f}{qg - qe:>7.1f} | {m(f'renamed stream{t} cpu'):>14.0f} µs"
              f"{m(f'renamed stream{t} messages'):>9.1f}{per_chunk:>7.1f} µs{m(f'renamed stream{t} p50') - pe:>10.1f}")
    print("\nprompt size (one request at a time; ms)")
    print(f"{'prompt tokens':<15}{'p50 Envoy':>11}{'p50 gateway':>13}{'added p50':>11}{'router CPU/req':>16}")
    for n in PROMPT_TOKENS:
        pe, pg = m(f"plain prompt{n} p50"), m(f"gw prompt{n} p50")
        print(f"{n:<15,}{pe:>11.2f}{pg:>13.2f}{pg - pe:>11.2f}{m(f'gw prompt{n} cpu'):>13.0f} µs")
    print(f"\none or two ext_proc messages per request, side by side (gateways of their own whose Envoy keeps an "
          f"access log): sustained short requests as above, then the {HOP_TOKENS:,}-token prompt one at a time, "
          f"{HOP_COUNT} requests; ms")
    print(f"{'messages':<10}{'req/s':>7}{'CPU/req':>10}{'msgs/req':>9} |{'p50':>7}{'added':>7}"
          f"{'Envoy waited for the router: headers':>38}{'body':>7}{'rest':>7}")
    plain_p50 = m(f"plain prompt{HOP_TOKENS} p50")
    for v in HOP_VARIANTS:
        added = m(f"hop {v} p50") - plain_p50
        waits = (m(f"hop {v} headers") + m(f"hop {v} body")) / 1e3
        print(f"{v:<10}{m(f'hop {v} rps'):>7.0f}{m(f'hop {v} cpu'):>7.0f} µs{m(f'hop {v} messages'):>9.1f} |"
              f"{m(f'hop {v} p50'):>7.2f}{added:>7.2f}{m(f'hop {v} headers') / 1e3:>38.2f}"
              f"{m(f'hop {v} body') / 1e3:>7.2f}{added - waits:>7.2f}")
    ratio = statistics.median(run["hop one p50"] / run["hop two p50"] for run in runs)
    print(f"(one message: {ratio:.2f}× two messages' p50, median of the repeats' ratios. A wait counts the router's "
          "work and the message's way both ways through gRPC; the rest is the gateway's Envoy doing more than "
          "plain Envoy: the body buffered, the ext_proc stream, the route chosen again; added is over plain "
          "Envoy's p50 in the prompt-size phase)")
    print(f"\nscheduling, 1,000 endpoints, PREFIX_CACHE, prefix index {int(m('sched blocks')):,} blocks: "
          f"p50 {m('sched p50'):.3f} ms, p99 {m('sched p99'):.3f} ms (wall); CPU p50 {m('sched cpu p50'):.3f} ms, "
          f"p99 {m('sched cpu p99'):.3f} ms")
    print(f"router idle CPU (scraping, xDS): {m('router idle CPU %'):.1f}% of a core, subtracted above")
    spread = [run["gateway cpu"] for run in runs]
    print(f"router CPU/req, short requests, each repeat: {', '.join(f'{x:.0f}' for x in spread)} µs")
    errors = sum(v for run in runs for k, v in run.items() if k.endswith("errors"))
    print(f"non-200 answers through the gateway, all phases and repeats: {errors:.0f}")
    print(f"processes left running after a setup was stopped: {', '.join(Proc.leftovers) or 'none'}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3, help="repeats; the table shows medians (default 3)")
    p.add_argument("--duration", type=float, default=6.0, help="seconds of sustained load per setup (default 6)")
    p.add_argument("--connections", type=int, default=32, help="concurrent connections, sustained load (32)")
    p.add_argument("--envoy-concurrency", type=int, default=1, help="Envoy workers, same for plain and gateway")
    p.add_argument("--log-level", default="info", help="the router's log level (info: a line per request)")
    p.add_argument("--no-usage", action="store_true", help="the router without token metrics")
    p.add_argument("--router-replicas", type=lambda v: [int(x) for x in v.split(",") if x], default=[2],
                   help="also measure sustained load with these numbers of router processes (default 2; '' none)")
    p.add_argument("--serve-gateway", metavar="MANIFESTS", help=argparse.SUPPRESS)
    p.add_argument("--admin-port", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--access-log", default=None, help=argparse.SUPPRESS)
    p.add_argument("--two-messages", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve_gateway:
        replicas = args.router_replicas[0] if args.router_replicas else 1
        event_loop.run(serve_gateway(args.serve_gateway, args.envoy_concurrency, args.log_level, not args.no_usage,
                                  args.admin_port, replicas, args.access_log, not args.two_messages))
        return 0

    workdir = Path(tempfile.mkdtemp(prefix="igw-overhead-"))
    upstream = ("127.1.0.2", free_port("127.1.0.2"))
    runs = []
    up = Proc([sys.executable, "-P", "-m", "inference_gateway.bench.overhead_upstream", *map(str, upstream)])
    try:
        for i in range(args.repeats):
            machine = Machine()
            runs.append(one_repeat(args, workdir, f"http://{upstream[0]}:{upstream[1]}", upstream))
            load = ", ".join(f"{x:.1f}" for x in machine.load)
            print(f"repeat {i + 1}/{args.repeats}: load average {load} at start, {os.cpu_count()} CPUs, other "
                  f"processes used {machine.others_cores():.2f} cores during it; gateway "
                  f"{runs[-1]['gateway rps']:.0f} req/s, router {runs[-1]['gateway cpu']:.0f} µs/req"
                  + "".join(f"; {n} routers {runs[-1][f'gateway rps x{n}']:.0f} req/s, {runs[-1][f'gateway cpu x{n}']:.0f} µs/req"
                            for n in args.router_replicas), flush=True)
    finally:
        up.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    report(runs, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
