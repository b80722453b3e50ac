"""One benchmark run: fresh pods → router → warm-up → inference-perf → pod counters → result."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import aiohttp
import yaml

from inference_gateway.operator.children import spawn

from .probes import CpuSampler, counters_delta, scrape_pods
from .report import parse_client_reports
from .pd_pods import PdPods
from .routers import Pods, Router
from .workloads import Workload, inference_perf_config


# inference-perf, started from the bench venv's Python through our launcher (its docstring says
# what it adjusts and why).
CLIENT_LAUNCHER = Path(__file__).with_name("client_launcher.py")


@dataclass
class Settings:
    pods: int
    profile: str
    time_scale: float
    bench_bin: Path
    tokenizer_dir: Path
    client_workers: int = 1
    warmup_requests: int = 8
    run_timeout: float = 600.0
    pd: bool = False  # pods/2 SGLang prefill + pods/2 decode pods instead of vLLM pods


async def warm_up(url: str, n: int, models: list[str]) -> int:
    """A few short requests with unique prompts (never reused by the workload): they open
    connections and wake every component, and the pod counters are read after them."""
    ok = 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        async def one(i: int) -> None:
            nonlocal ok
            body = {"model": models[i % len(models)], "prompt": f"warm up {i} " + "zq " * 8, "max_tokens": 2,
                    "stream": True}
            try:
                async with session.post(f"{url}/v1/completions", json=body) as resp:
                    await resp.read()
                    ok += resp.status == 200
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass
        await asyncio.gather(*(one(i) for i in range(n)))
    return ok


async def run_one(w: Workload, router: Router, settings: Settings, raw_dir: Path,
                  say: Callable[[str], None]) -> dict[str, Any]:
    """Start fresh pods and `router`, drive `w` with inference-perf, collect everything."""
    shutil.rmtree(raw_dir, ignore_errors=True)  # never read an earlier run's reports
    raw_dir.mkdir(parents=True)
    pods = (PdPods if settings.pd else Pods)(settings.pods, settings.profile, settings.time_scale, list(w.models))
    result: dict[str, Any] = {"router": router.name, "label": router.label, "workload": w.name}
    started = time.monotonic()
    try:
        await pods.start()
        await router.start(pods.pods)
        warmed = await warm_up(router.url, settings.warmup_requests, list(w.models))
        result["warmup_ok"] = warmed
        await asyncio.sleep(0.5)  # let the warm-up's last tokens land before the counters are read
        before = await scrape_pods([p.address for p in pods.pods])
        result["setup_s"] = round(time.monotonic() - started, 1)
        client_started = time.monotonic()
        sampler = CpuSampler(groups={"client": [], "router": router.pids(), "pods": pods.pids()},
                             trees=frozenset({"client"}))
        models_url = (f"http://{pods.pods[0].address}/v1/models"
                      if w.lora_split and getattr(router, "lists_no_models", False) else None)
        result["client_rc"] = await run_inference_perf(w, router.url, settings, raw_dir, sampler, pods, say,
                                                       models_url)
        if result["client_rc"] != 0:
            result["error"] = (f"inference-perf exited with code {result['client_rc']}: "
                               f"{_last_error(raw_dir / 'inference-perf.log')}")
            say(f"    FAILED: {result['error']}")
        result["client_s"] = round(time.monotonic() - client_started, 1)
        result["cpu"] = sampler.result()
        after = await scrape_pods([p.address for p in pods.pods])
        result["pods"] = counters_delta(before, after)
        result.update(parse_client_reports(raw_dir, w))
        result["ok"] = result["client_rc"] == 0 and "summary" in result
    except Exception as err:  # one failed run must not sink the whole benchmark
        result["ok"] = False
        result["error"] = f"{type(err).__name__}: {err}"
        say(f"    FAILED: {result['error']}")
    finally:
        await router.stop()
        await pods.stop()
    result["wall_s"] = round(time.monotonic() - started, 1)
    (raw_dir / "result.json").write_text(json.dumps(result, indent=1, default=str))
    return result


def _last_error(log: Path) -> str:
    """The last exception line of a log (what a reader needs first)."""
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    errors = [ln for ln in lines if "Error" in ln or "Exception" in ln]
    return (errors or lines or ["empty log"])[-1][:300]


async def run_inference_perf(w: Workload, url: str, settings: Settings, raw_dir: Path, sampler: CpuSampler,
                             pods: Pods, say: Callable[[str], None], models_url: str | None = None) -> int:
    config = inference_perf_config(w, url, str(settings.tokenizer_dir), str(raw_dir), settings.client_workers)
    config_path = raw_dir / "inference-perf.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    log = open(raw_dir / "inference-perf.log", "wb")
    try:
        proc = await spawn(
            str(settings.bench_bin / "python"), "-P", str(CLIENT_LAUNCHER), "--config_file", str(config_path),
            stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log, cwd=str(raw_dir),
            env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "NO_COLOR": "1",
                 "COLUMNS": "200", "TOKENIZERS_PARALLELISM": "false",
                 **({"IGW_BENCH_MODELS_URL": models_url} if models_url else {})})
    finally:
        log.close()
    sampler.groups["client"] = [proc.pid]
    sampler.start()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    expected = w.expected_requests
    last_report = t0
    try:
        while True:  # bounded by run_timeout
            try:
                await asyncio.wait_for(proc.wait(), 1.0)
                break
            except asyncio.TimeoutError:
                pass
            sampler.sample()
            if loop.time() - t0 > settings.run_timeout:
                say(f"    inference-perf still running after {settings.run_timeout:.0f}s: stopping it")
                proc.terminate()
                await asyncio.wait_for(proc.wait(), 30)
                break
            if loop.time() - last_report >= 10:
                last_report = loop.time()
                try:
                    done = sum(c["requests"] for c in await scrape_pods([p.address for p in pods.pods]))
                except Exception:
                    done = float("nan")
                say(f"    … {loop.time() - t0:4.0f}s  requests finished by the pods (incl. warm-up): "
                    f"{done:.0f} / ~{expected}")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode if proc.returncode is not None else -1

