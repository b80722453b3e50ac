"""The benchmark's pure parts: workload configs, the cache bound, report building, bootstraps.
(No benchmark runs here; see test_quick_smoke.py, marked slow.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inference_gateway.bench import report
from inference_gateway.bench.targets import check_targets
from inference_gateway.bench.probes import counters_delta, parse_pod_metrics
from inference_gateway.bench.routers import envoy_round_robin_bootstrap, gateway_manifests
from inference_gateway.bench.workloads import (
    CRITICAL_MODEL, SHEDDABLE_MODEL, best_prefix_hit_rate, inference_perf_config, pods_that_prefill,
    workloads,
)
from inference_gateway.cli.sim_fleet import SimPod


@pytest.mark.parametrize("quick", [True, False])
def test_every_workload_builds_an_inference_perf_config(quick):
    for w in workloads(quick).values():
        cfg = inference_perf_config(w, "http://127.0.0.1:1", "/tok", "/out")
        assert cfg["api"] == {"type": "completion", "streaming": True}
        assert cfg["server"]["base_url"] == "http://127.0.0.1:1"
        assert cfg["tokenizer"]["pretrained_model_name_or_path"] == "/tok"
        assert cfg["load"]["stages"] and w.expected_requests > 0
        assert cfg["report"]["request_lifecycle"]["per_request"] is True
        # the same prompts, lengths and arrival times for every router: nothing seeded by the clock
        assert cfg["load"]["base_seed"] == inference_perf_config(w, "http://other", "/t", "/o")["load"]["base_seed"]


def test_burst_splits_traffic_between_critical_and_sheddable_models():
    burst = workloads(quick=True)["burst"]
    cfg = inference_perf_config(burst, "http://x", "/t", "/o")
    assert {s["name"] for s in cfg["load"]["lora_traffic_split"]} == {CRITICAL_MODEL, SHEDDABLE_MODEL}
    assert sum(s["split"] for s in cfg["load"]["lora_traffic_split"]) == 1.0
    assert burst.models[CRITICAL_MODEL] == "Critical" and burst.models[SHEDDABLE_MODEL] == "Sheddable"


@pytest.mark.parametrize("quick,pods", [(True, 4), (False, 8)])
def test_multi_turn_conversations_cannot_line_up_with_round_robin(quick, pods):
    data = workloads(quick)["multi-turn"].data
    assert data["type"] == "conversation_replay"
    n = data["conversation_replay"]["num_conversations"]
    assert all(n % k for k in range(2, pods + 1) if pods % k == 0)  # coprime with the pod count


def test_full_is_bigger_than_quick():
    quick, full = workloads(True), workloads(False)
    for name in quick:
        assert full[name].expected_requests > quick[name].expected_requests


def test_load_scales_with_the_pods_that_prefill():
    # 4 plain pods get half the full size, 2 + 2 prefill/decode pods a quarter: not a load sized for 8.
    assert pods_that_prefill(4, pd=False) == 4 and pods_that_prefill(4, pd=True) == 2
    full, half = workloads(False), workloads(False, pods=4)
    assert workloads(False, pods=8) == full
    for name in ("no-shared-prefix", "multi-turn", "burst"):
        assert half[name].load["stages"][0]["rate"] == full[name].load["stages"][0]["rate"] / 2
    sp = half["shared-prefix"]
    assert sp.data["shared_prefix"]["num_groups"] == full["shared-prefix"].data["shared_prefix"]["num_groups"] / 2
    assert sp.expected_requests == full["shared-prefix"].expected_requests / 2
    assert f"{sp.data['shared_prefix']['num_groups']} groups" in sp.description


def test_best_prefix_hit_rate_counts_each_group_prefix_once_in_whole_blocks():
    # 4 groups x 10 prompts, 100-token prefix (96 reusable in 16-token blocks), 20-token questions
    total = 40 * 120
    assert best_prefix_hit_rate(40, 4, 100, total) == pytest.approx(36 * 96 / total)
    assert best_prefix_hit_rate(0, 4, 100, total) == 0.0
    assert best_prefix_hit_rate(3, 4, 100, 360) == 0.0  # fewer requests than groups: nothing to reuse


def test_pod_metrics_are_summed_and_differenced():
    text = ("# TYPE vllm:prefix_cache_queries counter\n"
            'vllm:prefix_cache_queries_total{model_name="m"} 1000.0\n'
            "# TYPE vllm:prefix_cache_hits counter\n"
            'vllm:prefix_cache_hits_total{model_name="m"} 600.0\n'
            "# TYPE vllm:request_success counter\n"
            'vllm:request_success_total{model_name="m",finished_reason="length"} 7.0\n'
            'vllm:request_success_total{model_name="m",finished_reason="stop"} 3.0\n')
    m = parse_pod_metrics(text)
    assert (m["prefix_queries"], m["prefix_hits"], m["requests"]) == (1000, 600, 10)
    before = dict(m, prefix_queries=400.0, prefix_hits=100.0, requests=2.0)
    d = counters_delta([before], [m])[0]
    assert (d["prefix_queries"], d["prefix_hits"], d["requests"]) == (600, 500, 8)


def _entry(model, ttft=None, error=None, turn=None, prompt=0, cached=0):
    info = {"response_metrics": {"server_usage": {"prompt_tokens": prompt,
                                                  "prompt_tokens_details": {"cached_tokens": cached}}},
            "extra_info": {} if turn is None else {"chat_round": turn}}
    return {"request": json.dumps({"model": model, "prompt": "x"}), "info": info,
            "computed_metrics": None if error else {"time_to_first_token": ttft},
            "error": {"error_type": f"HTTP Error {error}", "error_msg": "{}"} if error else None}


def test_requests_are_summarised_per_model_and_turn():
    entries = [
        _entry("c", 0.5), _entry("c", 0.7), _entry("s", error=429), _entry("s", 0.9),
        _entry("m", 0.1, turn=1, prompt=100, cached=0), _entry("m", 0.1, turn=2, prompt=200, cached=180),
        _entry("m", 0.1, turn=3, prompt=300, cached=290),
    ]
    s = report.summarize_requests(entries)
    assert s["per_model"]["c"] == {"ok": 2} and s["per_model"]["s"] == {"429": 1, "ok": 1}
    assert sorted(s["ttfts"]) == [0.1, 0.1, 0.1, 0.5, 0.7, 0.9]
    assert s["multi_turn"]["later_turn_cached_frac"] == pytest.approx(470 / 500)


def _result(router, tok_s, ttft_p90, hits=0, queries=0, per_model=None):
    return {"router": router, "label": router, "summary": {
        "ttft_p50": ttft_p90 / 2, "ttft_p90": ttft_p90, "ttft_p99": ttft_p90 * 2, "itl_p50": 0.05,
        "output_tok_s": tok_s, "requests": 40, "successes": 40, "failures": 0},
        "pods": [{"prefix_queries": queries, "prefix_hits": hits, "requests": 20}] * 2,
        "per_model": per_model or {}, "cpu": {"client_cores": 0.2, "router_cores": 0.1}}


def test_rows_ratios_targets_and_markdown():
    w = workloads(quick=True)["shared-prefix"]
    results = {
        "envoy-round-robin": [_result("envoy-round-robin", 100, 4.0, 300, 1000)],
        "igw-prefix-cache": [_result("igw-prefix-cache", 200, 1.0, 780, 1000), _result("igw-prefix-cache", 220, 3.0, 780, 1000)],
        "sglang-cache-aware": [_result("sglang-cache-aware", 150, 2.5, 700, 1000)],
    }
    rows = [report.router_row(v, w) for v in results.values()]
    report.add_ratios(rows)
    px = rows[1]
    assert px["output_tok_s"] == 210 and px["ttft_p90"] == 2.0  # medians over repeats
    assert px["output_tok_s_x_rr"] == pytest.approx(2.1)
    assert px["output_tok_s_x_sgl"] == pytest.approx(1.4)
    assert px["ttft_p90_x_sgl"] == pytest.approx(0.8)
    assert px["hit_rate"] == pytest.approx(0.78)
    verdicts = {t: r for t, r, _ in check_targets(w, rows)}
    assert verdicts["PREFIX_CACHE output tok/s >= 0.97x sglang-router cache_aware"] == "PASS"
    assert verdicts["PREFIX_CACHE TTFT p90 <= sglang-router cache_aware's"] == "PASS"
    assert verdicts["PREFIX_CACHE: no errors (in any repeat)"] == "PASS"
    assert verdicts["PREFIX_CACHE hit rate spread over repeats <= 3 points"] == "PASS"  # 78 % both times
    md = report.markdown_table(rows)
    header, rule, *body = md.splitlines()
    assert header.count("|") == rule.count("|") == body[0].count("|")
    assert "2.10×" in body[1] and "78.0%" in body[1]


def test_burst_targets_read_per_model_outcomes():
    w = workloads(quick=True)["burst"]
    good = _result("igw-load-aware", 100, 1.0, per_model={CRITICAL_MODEL: {"ok": 50}, SHEDDABLE_MODEL: {"ok": 20, "429": 30}})
    bad = _result("igw-prefix-cache", 100, 1.0, per_model={CRITICAL_MODEL: {"ok": 45, "503": 5}, SHEDDABLE_MODEL: {"ok": 50}})
    rows = [report.router_row([good], w), report.router_row([bad], w)]
    verdicts = [r for _, r, _ in check_targets(w, rows)]
    # against sglang-router (all, then Critical only): n.a. without its row; then each strategy's shedding
    assert verdicts == ["n.a."] * 3 + ["PASS", "PASS", "FAIL", "FAIL"]
    assert "| 30 |" in report.per_model_table(rows, w.models)
    # Pods that kept up shed nothing, and that is no failure to shed first. The Critical half is
    # compared on its own: the shedding router's overall output is lower, its Critical TTFT not.
    calm = dict(_result("igw-load-aware", 90, 1.0, per_model={CRITICAL_MODEL: {"ok": 50}, SHEDDABLE_MODEL: {"ok": 50}}),
                per_model_ttft_p90={CRITICAL_MODEL: 0.5}, per_model_output_tokens={CRITICAL_MODEL: 1000})
    sgl = dict(_result("sglang-cache-aware", 100, 1.1), per_model_ttft_p90={CRITICAL_MODEL: 0.8},
               per_model_output_tokens={CRITICAL_MODEL: 1000})
    for r in (calm, sgl):
        r["summary"]["benchmark_s"] = 10.0
    rows = [report.router_row([calm], w), report.router_row([sgl], w)]
    report.add_ratios(rows)
    assert rows[0]["critical_ttft_p90_x_sgl"] == pytest.approx(0.625)
    assert [r for _, r, _ in check_targets(w, rows)] == ["FAIL", "PASS", "PASS", "PASS", "n.a."]


def test_prefill_decode_cells_do_not_judge_the_one_pod_hit_bound():
    w = workloads(quick=True)["shared-prefix"]
    rows = [report.router_row([_result("igw-prefix-cache", 200, 1.0, 100, 1000)], w)]
    assert {t: r for t, r, _ in check_targets(w, rows)}["PREFIX_CACHE cache hit rate within 5 points of the best achievable"] == "FAIL"
    assert {t: r for t, r, _ in check_targets(w, rows, pd=True)}["PREFIX_CACHE cache hit rate within 5 points of the best achievable"] == "n.a."


def test_workload_report_and_plots(tmp_path: Path):
    pytest.importorskip("matplotlib")
    w = workloads(quick=True)["no-shared-prefix"]
    rows = [report.router_row([dict(_result("envoy-round-robin", 100, 2.0), ttfts=[0.1, 0.2])], w),
            report.router_row([dict(_result("igw-load-aware", 110, 1.0), ttfts=[0.1, 0.15])], w)]
    report.add_ratios(rows)
    meta = {"date": "2026-11-25", "command": "igw bench --quick", "quick": True, "pods": 4, "profile": "h100-32b",
            "time_scale": 2.0, "repeats": 1, "versions": {"inference-perf": "0.7.0"}}
    text = report.workload_report(w, rows, meta)
    assert "Quick run" in text and "| default (load-aware) TTFT p90 <= 0.7x round robin | PASS | 0.50× |" in text
    made = report.plot(w, rows, tmp_path)
    assert [p.name for p in made] == ["ttft.png", "throughput.png"]
    assert all(p.stat().st_size > 1000 for p in made)


def test_generated_objects_and_bootstrap():
    pods = [SimPod(f"p{i}", f"127.0.10.{i + 1}", 8000, {"app": "bench-vllm"}) for i in range(3)]
    docs = gateway_manifests(pods, 18080, "PREFIX_CACHE", {"m": "Critical", "s": "Sheddable"})
    kinds = [d["kind"] for d in docs]
    assert kinds == ["InferencePool", "InferenceModel", "InferenceModel", "GatewayClass", "Gateway", "HTTPRoute",
                     "Pod", "Pod", "Pod"]
    assert docs[0]["metadata"]["annotations"]["inference.networking.x-k8s.io/routing-strategy"] == "PREFIX_CACHE"
    assert "annotations" not in gateway_manifests(pods, 18080, None, {"m": "Critical"})[0]["metadata"]
    boot = envoy_round_robin_bootstrap(pods, 18081, 19001)
    cluster = boot["static_resources"]["clusters"][0]
    assert (cluster["type"], cluster["lb_policy"]) == ("STATIC", "ROUND_ROBIN")
    addrs = [e["endpoint"]["address"]["socket_address"]["address"]
             for e in cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]]
    assert addrs == ["127.0.10.1", "127.0.10.2", "127.0.10.3"]


def test_top_level_summary_links_each_workload_and_states_shared_facts_once(tmp_path: Path):
    from inference_gateway.bench.cli import write_summary

    w = workloads(quick=True)
    meta = {"date": "2026-11-25", "command": "igw bench --quick", "quick": True, "ttft_slo": 2.0, "time_scale": 2.0}
    text = ("# T\n\n**Quick run: x** \n2026-11-25, command `igw bench --quick`.\n\nWorkload: w\n\n"
            "Pods: 4 simulated pods\n\n| table |\n\n![TTFT distribution](ttft.png)\n")
    out = tmp_path / "bench"
    out.mkdir()
    row = {"router": "igw-prefix-cache", "label": "igw PREFIX_CACHE", "output_tok_s": 100.0, "ttft_p90": 1.5,
           "goodput": 3.0, "shed_rate": 0.0, "failures": 0, "hit_rate": 0.8, "hit_rates": [0.79, 0.81],
           "output_tok_s_x_sgl": 1.02}
    write_summary(out / "REPORT.md", meta, [(w["burst"], out / "results" / "a", text, "h100-32b", [row]),
                                            (w["multi-turn"], out / "results" / "b", text, "h100-32b", [row])], 90.0)
    summary = (out / "REPORT.md").read_text()
    assert summary.count("Pods: 4 simulated pods") == 1 and summary.count("**Quick run**") == 1
    assert "[results/a/REPORT.md](results/a/REPORT.md)" in summary
    assert "](results/b/ttft.png)" in summary and "`igw bench --quick`, 1.5 min" in summary
    # the matrix at a glance: one line per cell and router, hit rate with its spread over repeats
    assert "| h100-32b | burst | igw PREFIX_CACHE | 100 | 1.50 | 3.00 | 0.0% | 0 | 80.0% (±1.0) | 1.02× |" in summary


def test_rerender_assembles_a_matrix_from_cells_run_on_their_own(tmp_path, igw_bench):
    """`igw bench --matrix --rerender` builds the matrix from whichever cells and routers were run,
    the newest run of each cell whatever day it ran, each cell's report keeping the command and
    the date that ran it."""
    def result(router: str, label: str, p90: float) -> dict:
        return {"router": router, "label": label, "ok": True, "ttfts": [0.1, p90],
                "summary": {"requests": 10, "successes": 10, "failures": 0, "ttft_p50": 0.1, "ttft_p90": p90,
                            "ttft_p99": p90, "itl_p50": 0.01, "output_tok_s": 100.0, "benchmark_s": 5.0},
                "pods": [{"prefix_queries": 100.0, "prefix_hits": 0.0, "requests": 5.0}] * 2,
                "cpu": {"machine_busy_pct": 20.0}, "per_model": {}}

    older, cell = (tmp_path / f"{day}-h100-8b-no-shared-prefix" for day in ("2020-01-01", "2020-01-02"))
    for where, ours in ((older, 0.9), (cell, 0.5)):
        for router, label, p90 in (("igw-load-aware", "igw default (load-aware)", ours),
                                   ("sglang-cache-aware", "sglang-router cache_aware", 1.0)):
            raw = where / "raw" / router / "run0"
            raw.mkdir(parents=True)
            (raw / "result.json").write_text(json.dumps(result(router, label, p90)))
        (where / "summary.json").write_text(json.dumps({"meta": {"command": "igw bench --profile h100-8b ..."}}))
    summary = tmp_path / "REPORT.md"
    assert igw_bench(["--matrix", "--rerender", "--out", str(tmp_path), "--summary", str(summary),
                     "--routers", "igw-load-aware,igw-prefix-cache,envoy-round-robin,sglang-cache-aware"]) == 0
    text = summary.read_text()
    assert "| h100-8b | no-shared-prefix | igw default (load-aware) |" in text
    assert "igw PREFIX_CACHE" not in text and "| h100-32b |" not in text
    assert "0.50×" in text  # TTFT p90 against sglang-router's, in the one cell that was run
    assert "0.90×" not in text and not (older / "REPORT.md").exists()  # the newer run of the cell
    assert (cell / "REPORT.md").read_text().split("\n")[2] == "2020-01-02, command `igw bench --profile h100-8b ...`."
    assert "2020-01-02, command" not in text  # each cell's own date line stays in its report


def test_per_request_facts_per_model():
    def entry(model: str, ttft: float | None, error=None) -> dict:
        return {"request": json.dumps({"model": model}), "error": error,
                "computed_metrics": {} if ttft is None else {"time_to_first_token": ttft, "output_tokens": 8}}
    out = report.summarize_requests([entry(CRITICAL_MODEL, t) for t in (0.1, 0.2, 0.3, 0.4, 1.0)]
                                    + [entry(SHEDDABLE_MODEL, None, {"error_type": "HTTP 429"})])
    assert out["per_model"] == {CRITICAL_MODEL: {"ok": 5}, SHEDDABLE_MODEL: {"429": 1}}
    assert out["per_model_output_tokens"] == {CRITICAL_MODEL: 40}
    assert out["per_model_ttft_p90"][CRITICAL_MODEL] == pytest.approx(0.76)


def test_win_targets_are_asked_of_kv_constrained_pods_only():
    w = workloads(quick=True)["no-shared-prefix"]
    rows = [report.router_row([_result(r, 100, p90)], w)
            for r, p90 in (("igw-load-aware", 1.0), ("envoy-round-robin", 1.0), ("sglang-cache-aware", 1.0))]
    report.add_ratios(rows)
    win = "default (load-aware) TTFT p90 <= 0.7x sglang-router cache_aware"
    assert {t: r for t, r, _ in check_targets(w, rows)}[win] == "FAIL"
    assert {t: r for t, r, _ in check_targets(w, rows, kv_constrained=False)}[win] == "n.a."
