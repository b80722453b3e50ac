"""A real third-party router (sglang-router 0.3.2, `smg`) drives simulated SGLang pods.

Slow (starts a Rust router and three simulator processes); run with `-m slow`. Needs
`pip install sglang-router==0.3.2` in the venv; skipped otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from inference_gateway.operator.children import tied
from inference_gateway.simulator.hf_tokenizer_files import write_tokenizer_dir
from support.env import free_port

pytestmark = pytest.mark.slow
SMG = shutil.which("smg", path=str(Path(sys.executable).parent)) or shutil.which("smg")
ROOT = Path(__file__).resolve().parents[2]


def get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return 0, b""


def post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=20) as r:
        return json.loads(r.read())


class Procs:
    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def sim(self, host: str, port: int, *args: str) -> None:
        p = subprocess.Popen(tied([sys.executable, "-P", "-m", "inference_gateway.simulator", "--runtime", "sglang",
                                   "--host", host, "--port", str(port), "--profile", "test-tiny", *args]),
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
        self.procs.append(p)
        assert p.stdout is not None and p.stdout.readline().startswith("READY")

    def router(self, port: int, *args: str) -> str:
        p = subprocess.Popen(tied([SMG, "launch", "--host", "127.0.0.1", "--port", str(port), *args]),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if get(base + "/readiness", 1)[0] == 200:
                return base
            time.sleep(0.2)
        raise AssertionError("sglang-router never became ready")

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()


@pytest.fixture
def procs():
    if SMG is None:
        pytest.skip("sglang-router (smg) is not installed")
    p = Procs()
    yield p
    p.stop()


def test_cache_aware_router_over_simulated_workers(procs, tmp_path):
    model_dir = str(write_tokenizer_dir(tmp_path / "tok"))  # local tokenizer: no Hub lookup
    port = free_port()
    workers = [f"http://127.0.0.{i}:{port}" for i in (2, 3)]
    for i in (2, 3):
        procs.sim(f"127.0.0.{i}", port, "--model", model_dir, "--served-model-name", "sim-model")
    base = procs.router(free_port(), "--worker-urls", *workers, "--policy", "cache_aware")
    prompt = "a shared system prompt that is long enough to matter " * 20
    for i in range(6):
        out = post(base + "/v1/chat/completions", {"model": "sim-model", "max_tokens": 4,
                                                   "messages": [{"role": "user", "content": prompt + str(i)}]})
        assert out["usage"]["completion_tokens"] == 4
    out = post(base + "/generate", {"text": prompt, "sampling_params": {"max_new_tokens": 3}})
    assert out["meta_info"]["completion_tokens"] == 3
    # cache_aware sent the shared-prefix requests to one worker, which then hit its cache.
    served = []
    for w in workers:
        _, body = get(w + "/metrics")
        line = next(l for l in body.decode().splitlines() if l.startswith("sglang:cached_tokens_total"))
        served.append(float(line.split()[-1]))
    assert max(served) > 0


def test_pd_disaggregation_through_router(procs, tmp_path):
    model_dir = str(write_tokenizer_dir(tmp_path / "tok"))
    port, boot = free_port(), free_port()
    procs.sim("127.0.0.2", port, "--model", model_dir, "--served-model-name", "sim-model",
              "--role", "prefill", "--bootstrap-port", str(boot))
    procs.sim("127.0.0.3", port, "--model", model_dir, "--served-model-name", "sim-model", "--role", "decode")
    base = procs.router(free_port(), "--pd-disaggregation", "--prefill", f"http://127.0.0.2:{port}", str(boot),
                        "--decode", f"http://127.0.0.3:{port}", "--policy", "round_robin")
    out = post(base + "/v1/chat/completions", {"model": "sim-model", "max_tokens": 5,
                                               "messages": [{"role": "user", "content": "hello"}]})
    assert out["usage"]["completion_tokens"] == 5
    _, prefill_metrics = get(f"http://127.0.0.2:{port}/metrics")
    line = next(l for l in prefill_metrics.decode().splitlines() if l.startswith("sglang:prompt_tokens_total"))
    assert float(line.split()[-1]) > 0  # the prefill server really computed the prompt
