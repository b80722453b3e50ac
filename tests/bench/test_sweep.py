"""The load sweep's pure parts: rates, the knee, the report (no run)."""

from __future__ import annotations

import pytest

from inference_gateway.bench.sweep import at_rate, knee, poisson_rate, sweep_report
from inference_gateway.bench.workloads import workloads


def test_at_rate_keeps_the_shape_and_changes_the_rate():
    w = workloads(quick=False)["no-shared-prefix"]
    w2 = at_rate(w, 3.5, 20)
    assert poisson_rate(w2) == (3.5, 20.0)
    assert w2.data == w.data and poisson_rate(w) == (14.0, 60.0)


def test_a_closed_loop_workload_cannot_be_swept():
    with pytest.raises(SystemExit, match="Poisson"):
        poisson_rate(workloads(quick=False)["shared-prefix"])


def test_the_knee_is_the_first_load_that_misses_the_objective_and_is_reported():
    points = [{"label": "a", "offered": x, "percent": x * 10, "ttft_p90": t, "goodput": 1.0}
              for x, t in ((1.0, 0.5), (2.0, 0.9), (3.0, 4.0), (4.0, 9.0))]
    points += [{"label": "b", "offered": x, "percent": x * 10, "ttft_p90": 0.4} for x in (1.0, 2.0, 3.0, 4.0)]
    assert knee(points, "a", 1.0) == 3.0 and knee(points, "b", 1.0) is None
    meta = {"date": "d", "command": "igw bench --sweep 10,20,30,40", "pods": 8, "time_scale": 3.0, "repeats": 3,
            "ttft_slo": 1.0}
    text = sweep_report(workloads(quick=False)["no-shared-prefix"], points, 10.0, meta, "h100-32b")
    assert "- a: 3.00 req/s (30% of capacity)" in text and "- b: –" in text
