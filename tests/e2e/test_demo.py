"""`igw demo` as a user runs it: exits 0 and shows round1 and round2 on the same pod."""

import subprocess
import sys
from pathlib import Path

import pytest

from support.env import free_port

pytestmark = pytest.mark.envoy


def test_demo_exits_zero_with_the_conversation_on_one_pod():
    igw = Path(sys.executable).parent / "igw"
    # Another loopback address and free ports, so a demo the user left serving does not clash.
    args = [str(igw), "--log-level", "warning", "demo", "--listen-address", "127.0.0.42",
            "--ext-proc-port", str(free_port()), "--health-port", str(free_port()),
            "--metrics-port", str(free_port()), "--xds-port", str(free_port()), "--admin-port", str(free_port())]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert out.count("status 200") == 3
    assert "SAME pod" in out
    assert "Request Handled by pod vllm-inference-" in out
