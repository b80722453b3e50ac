"""The command line: READY line, health, clean SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from inference_gateway.operator.children import tied
from support.env import free_port

ROOT = Path(__file__).resolve().parents[2]


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(tied([sys.executable, "-P", "-m", "inference_gateway.simulator", *args]),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def test_ready_health_and_sigterm():
    host = "127.0.0.3"
    port = free_port(host)
    proc = start("--runtime", "vllm", "--host", host, "--port", str(port), "--profile", "test-tiny",
                 "--served-model-name", "m1", "m2")
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line.strip() == f"READY {host}:{port}", proc.stderr.read()  # type: ignore[union-attr]
        with urllib.request.urlopen(f"http://{host}:{port}/health", timeout=5) as r:
            assert r.status == 200
        with urllib.request.urlopen(f"http://{host}:{port}/v1/models", timeout=5) as r:
            assert b'"m2"' in r.read()
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
        assert time.monotonic() - t0 < 1.0
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def test_bad_arguments_fail_fast():
    proc = start("--host", "0.0.0.0")
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 2 and "loopback" in err
