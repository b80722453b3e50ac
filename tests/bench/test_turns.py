"""bench/turns.py: a multi-turn cell's TTFT split into first and later turns, from raw reports."""

from __future__ import annotations

import json

from inference_gateway.bench import turns


def entry(turn: int, ttft: float, cached: int, error=None) -> dict:
    return {"start_time": 100.0, "error": error,
            "info": {"extra_info": {"user_session": "conv_0", "chat_round": turn},
                     "response_metrics": {"chunk_times": [100.0 + ttft, 100.5],
                                          "server_usage": {"prompt_tokens": 800,
                                                           "prompt_tokens_details": {"cached_tokens": cached}}}}}


def test_first_and_later_turns_per_router(tmp_path, capsys):
    for router, later in (("igw-prefix-cache", 0.040), ("sglang-cache-aware", 0.036)):
        for run, cold in ((0, 2), (1, 4)):
            rows = [entry(1, 0.060, 0 if i < cold else 240) for i in range(5)]
            rows += [entry(2, later + 0.001 * i, 700) for i in range(10)]
            rows.append(entry(3, 0.0, 0, error={"error_type": "HTTP 500"}))  # failed: not counted
            d = tmp_path / "raw" / router / f"run{run}"
            d.mkdir(parents=True)
            (d / "per_request_lifecycle_metrics.json").write_text(json.dumps(rows))
    (tmp_path / "raw" / "routers").mkdir()  # the routers' own logs: not a router's reports
    assert turns.main([str(tmp_path)]) == 0
    out = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[1:]}
    assert set(out) == {"igw-prefix-cache", "sglang-cache-aware"}
    ours = out["igw-prefix-cache"]
    assert ours[1:3] == ["2", "3"]   # repeats; cold first turns per run (median of 2 and 4)
    assert ours[3:5] == ["60.0", "60.0"]  # first turns p50, p90
    assert ours[5:7] == ["40.0", "45.0"]  # later turns min, p50
    assert out["sglang-cache-aware"][5] == "36.0"
