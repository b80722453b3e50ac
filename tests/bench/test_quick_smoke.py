"""`igw bench --quick` end to end on 2 pods (slow: creates the bench venv on first use, then
~1 minute; outside `make test`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference_gateway.bench import cli, env

pytestmark = [pytest.mark.slow, pytest.mark.envoy, pytest.mark.timeout(900)]


def test_quick_bench_on_two_pods_writes_the_report(tmp_path: Path):
    try:
        env.find_python312()
    except SystemExit:
        pytest.skip("no Python 3.12 for inference-perf")
    rc = cli.main(["--quick", "--pods", "2", "--workloads", "shared-prefix",
                   "--routers", "igw-prefix-cache,envoy-round-robin,sglang-cache-aware",
                   "--out", str(tmp_path / "results"), "--summary", str(tmp_path / "REPORT.md")])
    assert rc == 0
    [run_dir] = list((tmp_path / "results").iterdir())
    text = (run_dir / "REPORT.md").read_text()
    for label in ("igw PREFIX_CACHE", "Envoy round robin", "sglang-router cache_aware"):
        row = next(line for line in text.splitlines() if line.startswith(f"| {label} |"))
        assert "run failed" not in row
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        pass
    else:
        assert (run_dir / "ttft.png").exists() and (run_dir / "throughput.png").exists()
    assert "Quick run" in (tmp_path / "REPORT.md").read_text()
