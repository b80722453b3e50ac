"""bench/burst_span.py: a burst cell's output tok/s over the span and after the first
completion, per router, from raw reports."""

from __future__ import annotations

import json

from inference_gateway.bench import burst_span


def entry(start: float, end: float, tokens: int = 100, refused: bool = False, ttft: float = 5.0) -> dict:
    if refused:
        return {"start_time": start, "end_time": start + 0.01, "error": {"error_type": "HTTP Error 429"}, "info": {}}
    return {"start_time": start, "end_time": end, "error": None,
            "info": {"response_metrics": {"output_tokens": tokens, "chunk_times": [start + ttft, end]}}}


def test_a_router_that_refuses_ends_sooner_and_the_fixed_start_weighs_more(tmp_path, capsys):
    # Both routers' pods deliver 100 tokens a second once requests complete, after 10 s of start.
    serves_all = [entry(0.0, 10.0 + i) for i in range(9)] + [entry(0.0, 19.0, ttft=2.0)]  # 19 s, 1,000 tokens
    refuses_half = ([entry(0.0, 10.0 + i) for i in range(4)] + [entry(0.5, 14.0, ttft=1.0)]
                    + [entry(1.0, 0.0, refused=True) for _ in range(5)])
    for router, rows in (("sglang-cache-aware", serves_all), ("igw-load-aware", refuses_half)):
        for run in range(2):
            d = tmp_path / "raw" / router / f"run{run}"
            d.mkdir(parents=True)
            (d / "per_request_lifecycle_metrics.json").write_text(json.dumps(rows))
    assert burst_span.main([str(tmp_path)]) == 0
    out = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()[1:]}
    served, refused, span, first, per_span, after_first, good, last_good, first_429 = out["igw-load-aware"]
    assert (served, refused, span, first) == ("5", "5", "14.0", "10.0")
    assert per_span == "36" and after_first == "125"  # 500 tokens / 14 s, / 4 s
    assert (good, last_good, first_429) == ("1", "0.50", "1.00")  # the one within 3 s, sent at 0.5 s
    served, refused, span, first, per_span, after_first, good, last_good, first_429 = out["sglang-cache-aware"]
    assert (served, refused, span, per_span, after_first) == ("10", "0", "19.0", "53", "111")
    assert (good, first_429) == ("1", "nan")


def test_a_directory_without_raw_reports_says_so(tmp_path):
    import pytest

    with pytest.raises(SystemExit, match="no raw"):
        burst_span.main([str(tmp_path)])
