"""Command line: `python -P -m inference_gateway.simulator ...` (and `igw sim ...`).

Prints `READY <host>:<port>` once it accepts connections; exits cleanly on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from .config import DEFAULT_MODEL, FaultSpec, SimConfig
from .faults import MODES
from .profiles import DEFAULT_PROFILE, PROFILES, get_profile
from .server import Simulator


def add_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--runtime", choices=["vllm", "sglang"], default="vllm", help="which server to imitate")
    a("--host", default="127.0.0.1", help="loopback address to listen on (127.x.y.z)")
    a("--port", type=int, default=8000)
    a("--model", default=DEFAULT_MODEL, help="model path/name (the served name unless --served-model-name)")
    a("--served-model-name", nargs="+", default=None, help="name(s) the server answers to")
    a("--profile", default=DEFAULT_PROFILE, choices=sorted(PROFILES), help="hardware/model cost profile")
    a("--role", choices=["prefill", "decode"], default=None, help="SGLang prefill/decode disaggregation role")
    a("--bootstrap-port", type=int, default=None, help="prefill role: port of the KV bootstrap endpoint")
    a("--kv-events", default=None, metavar="ENDPOINT",
      help="publish vLLM KV events on this ZMQ endpoint (tcp://*:PORT binds on --host; others connect)")
    a("--kv-events-topic", default="", help="ZMQ topic of the KV events (vLLM's default is empty)")
    a("--pod-name", default=None, help="name used in logs (default host:port)")
    a("--time-scale", type=float, default=1.0, help="multiply every simulated duration by this")
    a("--tokenizer", default=None, help="path to a Hugging Face tokenizer.json (needs `tokenizers`)")
    a("--max-num-seqs", type=int, default=None, help="override the profile's running-batch limit")
    a("--max-num-batched-tokens", type=int, default=None, help="override the profile's token budget per step")
    a("--kv-capacity-tokens", type=int, default=None, help="override the profile's KV cache size")
    a("--max-model-len", type=int, default=None, help="override the profile's context length")
    a("--default-max-tokens", type=int, default=256, help="max_tokens when a request gives none")
    a("--pd-wait-seconds", type=float, default=5.0, help="decode: wait this long for the prefill (x time scale)")
    a("--fault", choices=list(MODES), default="none", help="misbehave from the start (see faults.py)")
    a("--fault-after-chunks", type=int, default=2, help="die-mid-stream: events sent before dying")
    a("--fault-stall-max", type=float, default=30.0, help="stall: close after this many seconds")
    a("--fault-duration", type=float, default=None, help="end the fault after this many seconds")
    a("--log-level", default="WARNING")


def config_from_args(args: argparse.Namespace) -> SimConfig:
    profile = get_profile(args.profile).with_overrides(
        max_num_seqs=args.max_num_seqs, max_num_batched_tokens=args.max_num_batched_tokens,
        kv_capacity_tokens=args.kv_capacity_tokens, max_model_len=args.max_model_len)
    return SimConfig(
        runtime=args.runtime, host=args.host, port=args.port, model=args.model,
        served_model_names=list(args.served_model_name or []), profile=profile, role=args.role,
        bootstrap_port=args.bootstrap_port, kv_events=args.kv_events, kv_events_topic=args.kv_events_topic,
        pod_name=args.pod_name, time_scale=args.time_scale, tokenizer=args.tokenizer,
        default_max_tokens=args.default_max_tokens, pd_wait_s=args.pd_wait_seconds,
        fault=FaultSpec(mode=args.fault, after_chunks=args.fault_after_chunks,
                        stall_max_s=args.fault_stall_max, duration_s=args.fault_duration),
    )


async def serve(args: argparse.Namespace) -> None:
    """Run one simulator until cancelled."""
    sim = Simulator(config_from_args(args))
    await sim.start()
    try:
        print(f"READY {sim.config.host}:{sim.config.port}", flush=True)
        await asyncio.Event().wait()
    finally:
        await sim.stop()


async def _serve_until_signal(args: argparse.Namespace) -> None:
    task = asyncio.create_task(serve(args))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        pass


def main(argv: list[str] | None = None, prog: str = "inference_gateway.simulator") -> int:
    parser = argparse.ArgumentParser(prog=prog,
                                     description="Simulated vLLM / SGLang model server")
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config_from_args(args)  # validate before starting anything
    except ValueError as exc:
        parser.error(str(exc))
    try:
        asyncio.run(_serve_until_signal(args))
    except KeyboardInterrupt:
        pass
    return 0
