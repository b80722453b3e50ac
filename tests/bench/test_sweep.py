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


def test_sweep_extend_adds_points_to_the_earlier_sweep_with_its_capacity(tmp_path, igw_bench):
    """`--sweep 50 --sweep-extend` adds a point to the sweep in --out: the earlier capacity and
    points are kept, and the report names both commands (here with --rerender: nothing runs)."""
    import datetime as dt
    import json

    out = tmp_path / f"{dt.date.today().isoformat()}-h100-32b-no-shared-prefix-sweep"
    for pct, p90 in (("25", 0.5), ("50", 4.0), ("75", 9.0)):
        raw = out / "raw" / pct / "igw-load-aware" / "run0"
        raw.mkdir(parents=True)
        (raw / "result.json").write_text(json.dumps({
            "router": "igw-load-aware", "label": "igw", "ttfts": [0.1, p90],
            "summary": {"requests": 10, "successes": 10, "failures": 0, "ttft_p90": p90, "output_tok_s": 1.0}}))
    earlier = {"meta": {"command": "igw bench --sweep 25,75"}, "capacity": 10.0,
               "points": [{"percent": 25.0}, {"percent": 75.0}]}
    (out / "summary.json").write_text(json.dumps(earlier))
    assert igw_bench(["--profile", "h100-32b", "--workloads", "no-shared-prefix", "--routers", "igw-load-aware",
                     "--sweep", "50", "--sweep-extend", "--rerender", "--out", str(tmp_path)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["capacity"] == 10.0 and [p["percent"] for p in summary["points"]] == [25.0, 50.0, 75.0]
    assert summary["meta"]["command"] == "igw bench --sweep 25,75"  # a rerender keeps what ran
    assert "- igw: 5.00 req/s (50% of capacity)" in (out / "REPORT.md").read_text()  # 4 s > the 3 s objective
