"""`igw demo`: the seed's verification, played against simulated vLLM pods and a real Envoy.

Starts the pods, loads the seed's single-node vLLM manifests from examples/ with a Pods file
for the simulated pods, starts the gateway exactly as `igw run --manifests` does, then sends
the seed's plain chat request and its two-round "zork" conversation through Envoy. Which pod
handled each request comes from the router's own decisions (the `Request Handled` log).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from .options import router_settings, until_signalled
from .sim_fleet import SimFleet
from .standalone import Standalone, StandaloneSettings

POD_LABELS = {"alibabacloud.com/inference-workload": "vllm-inference"}  # the seed's vLLM selector


def examples_dir(arg: Path | None) -> Path:
    path = arg or Path(__file__).resolve().parents[1] / "examples"
    if not (path / "gateway.yaml").exists():
        raise SystemExit(f"examples directory not found at {path}; pass --examples DIR")
    return path


def say(text: str = "") -> None:
    print(text, flush=True)


async def send(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST one request; collect the text, usage and timing whether or not it streams."""
    request_id = str(uuid.uuid4())
    started = time.perf_counter()
    first = None
    text, usage, chunks = "", None, 0
    async with session.post(url, json=body, headers={"x-request-id": request_id}) as resp:
        if not body.get("stream") or resp.status != 200:
            payload = await resp.json(content_type=None)
            first = time.perf_counter()
            if resp.status == 200:
                text = payload["choices"][0]["message"]["content"]
                usage = payload.get("usage")
            else:
                text = json.dumps(payload)
        else:
            async for raw in resp.content:  # SSE: one `data: {...}` line per event
                line = raw.decode().strip()
                if not line.startswith("data:") or line == "data: [DONE]":
                    continue
                first = first or time.perf_counter()
                chunks += 1
                event = json.loads(line[5:])
                for choice in event.get("choices", []):
                    text += choice.get("delta", {}).get("content") or ""
                usage = event.get("usage") or usage
        status = resp.status
    return {"id": request_id, "status": status, "text": text, "usage": usage, "chunks": chunks,
            "ttft_ms": round(((first or time.perf_counter()) - started) * 1000, 1),
            "total_ms": round((time.perf_counter() - started) * 1000, 1)}


async def run_demo(args: argparse.Namespace) -> int:
    examples = examples_dir(args.examples)
    workdir = Path(tempfile.mkdtemp(prefix="igw-demo-"))
    fleet = SimFleet(count=args.pods, labels=POD_LABELS)
    manifests = [examples / args.strategy / "vllm-single.yaml", examples / "gateway.yaml", workdir / "pods.yaml"]
    (workdir / "pods.yaml").write_text(fleet.pods_yaml())
    gateway = Standalone(StandaloneSettings(
        manifests=manifests, listen_address=args.listen_address, router=router_settings(args),
        xds_port=args.xds_port, admin_port=args.admin_port, envoy_concurrency=args.envoy_concurrency,
        envoy_log_level=args.envoy_log_level, workdir=workdir / "envoy"))
    decisions: dict[str, Any] = {}
    gateway.router.service.observers.append(lambda d: decisions.__setitem__(d.request_id, d))
    try:
        say(f"Starting {args.pods} simulated vLLM pods at "
            f"{fleet.pods[0].address} … {fleet.pods[-1].address}")
        await fleet.start()
        say("Loading " + ", ".join(str(m) for m in manifests))
        await gateway.start()
        port = gateway.listeners[0][1]
        base = f"http://{args.listen_address}:{port}"
        say(f"Gateway listening on {base} (Envoy pid {gateway.envoy.process.pid if gateway.envoy and gateway.envoy.process else '?'})")
        ok = await play(base, examples / "requests", decisions)
        if args.serve:
            say(f"\nServing on {base} — try:\n  curl {base}/v1/chat/completions -H 'Content-Type: application/json' "
                f"-d @{examples / 'requests' / 'hello.json'}\nCtrl-C to stop.")
            await until_signalled()
        return 0 if ok else 1
    finally:
        await gateway.stop()
        await fleet.stop()


async def play(base: str, requests_dir: Path, decisions: dict[str, Any]) -> bool:
    url = f"{base}/v1/chat/completions"
    results = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        for name, title in (("hello", "Plain chat request (seed step 3.2)"),
                            ("round1", "Zork round 1 (streaming, include_usage)"),
                            ("round2", "Zork round 2 (streaming, include_usage)")):
            body = json.loads((requests_dir / f"{name}.json").read_text())
            result = await send(session, url, body)
            await asyncio.sleep(0.05)  # the decision is logged before the response; be generous
            decision = decisions.get(result["id"])
            results[name] = (result, decision)
            say(f"\n== {title}\n   POST {url}  model={body['model']} stream={bool(body.get('stream'))}")
            say(f"   status {result['status']}, {result['chunks']} SSE chunks, first byte {result['ttft_ms']} ms, "
                f"total {result['total_ms']} ms")
            say(f"   reply: {result['text'][:100]!r}")
            if result["usage"]:
                u = result["usage"]
                cached = (u.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
                say(f"   usage: prompt {u.get('prompt_tokens')} (cached {cached}), completion {u.get('completion_tokens')}")
            if decision:
                say(f"   Request Handled by pod {decision.pod} ({decision.address}), strategy {decision.strategy}, "
                    f"decided in {decision.decision_ms} ms")
    r1, r2 = results["round1"][1], results["round2"][1]
    statuses_ok = all(r[0]["status"] == 200 for r in results.values())
    same = bool(r1 and r2 and r1.pod == r2.pod)
    say("")
    say(f"round1 → {r1.pod if r1 else '?'}, round2 → {r2.pod if r2 else '?'}: "
        + ("SAME pod: prefix-cache aware routing works." if same else "DIFFERENT pods."))
    return statuses_ok and same
