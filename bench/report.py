"""Reading inference-perf's reports and writing ours: the table, the targets and the plots.

Everything here is a pure function of files or dicts, so it is unit-tested without a run.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path
from typing import Any

from .fmt import _hit, _model_counts, _n, _pct, _s, _x
from .targets import KV_CONSTRAINED_PROFILES, check_targets
from .workloads import BLOCK, CRITICAL_MODEL, Workload, best_prefix_hit_rate

RR = "envoy-round-robin"
SGL = "sglang-cache-aware"


_DATED = re.compile(r"\d{4}-\d{2}-\d{2}-")  # a cell directory's date


def cell_dir(out: Path, date: str, name: str, rerender: bool) -> Path:
    """Where a cell's results go: `<date>-<name>` under `out`. Rerendering reads the newest run of
    the cell there, whatever its date: a matrix is assembled from cells run on different days,
    and each keeps the date it ran."""
    if rerender:
        runs = sorted(p for p in out.glob(f"*-{name}") if _DATED.match(p.name) and p.name[len(date) + 1:] == name)
        if runs:
            return runs[-1]
    return out / f"{date}-{name}"


# -- reading the client's reports -------------------------------------------------------------
def _status(error: dict[str, Any] | None) -> str:
    """'ok', an HTTP status like '429', or 'error' for failures without one."""
    if not error:
        return "ok"
    m = re.search(r"\b([1-5]\d\d)\b", str(error.get("error_type", "")))
    return m.group(1) if m else "error"


def _model_of(entry: dict[str, Any]) -> str:
    req = entry.get("request")
    if isinstance(req, str):
        try:
            req = json.loads(req)
        except ValueError:
            m = re.search(r'"model":\s*"([^"]+)"', req)
            return m.group(1) if m else "?"
    return (req or {}).get("model", "?") if isinstance(req, dict) else "?"


def _p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[-1] if len(values) > 1 else values[0]


def summarize_requests(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-request facts: TTFTs, statuses per model, and multi-turn caching after turn 1."""
    ttfts: list[float] = []
    per_model: dict[str, dict[str, int]] = {}
    model_ttfts: dict[str, list[float]] = {}
    model_output: dict[str, int] = {}
    later_prompt = later_cached = 0
    first_prompt = first_cached = 0
    for e in entries:
        status = _status(e.get("error"))
        model = _model_of(e)
        counts = per_model.setdefault(model, {})
        counts[status] = counts.get(status, 0) + 1
        cm = e.get("computed_metrics") or {}
        if status == "ok" and cm.get("time_to_first_token") is not None:
            ttfts.append(float(cm["time_to_first_token"]))
            model_ttfts.setdefault(model, []).append(float(cm["time_to_first_token"]))
            model_output[model] = model_output.get(model, 0) + int(cm.get("output_tokens") or 0)
        info = e.get("info") or {}
        usage = ((info.get("response_metrics") or {}).get("server_usage") or {})
        turn = (info.get("extra_info") or {}).get("chat_round")
        if status == "ok" and usage and turn is not None:
            prompt = usage.get("prompt_tokens") or 0
            cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
            if int(turn) > 1:
                later_prompt, later_cached = later_prompt + prompt, later_cached + cached
            else:
                first_prompt, first_cached = first_prompt + prompt, first_cached + cached
    # per model (a burst's Critical and Sheddable traffic): TTFT p90 and output tokens served
    out: dict[str, Any] = {"ttfts": ttfts, "per_model": per_model, "per_model_output_tokens": model_output,
                           "per_model_ttft_p90": {m: _p90(ts) for m, ts in model_ttfts.items()}}
    if later_prompt:
        out["multi_turn"] = {"later_turn_prompt_tokens": later_prompt, "later_turn_cached_tokens": later_cached,
                             "later_turn_cached_frac": later_cached / later_prompt,
                             "first_turn_prompt_tokens": first_prompt, "first_turn_cached_tokens": first_cached}
    return out


def read_result(result_json: Path, w: Workload) -> dict[str, Any]:
    """A run's `result.json`, with the client's figures read again from inference-perf's own
    reports beside it (so what a newer report shows is there for older runs too)."""
    result = json.loads(result_json.read_text())
    result.update(parse_client_reports(result_json.parent, w))
    return result


def parse_client_reports(raw_dir: Path, w: Workload) -> dict[str, Any]:
    """inference-perf's summary (+ per-request file) → the numbers our table needs."""
    out: dict[str, Any] = {}
    summary_path = raw_dir / "summary_lifecycle_metrics.json"
    if not summary_path.exists():
        return out
    s = json.loads(summary_path.read_text())
    succ = s.get("successes") or {}
    lat = succ.get("latency") or {}
    ttft = lat.get("time_to_first_token") or {}
    itl = lat.get("inter_token_latency") or {}
    fails = s.get("failures") or {}
    prompt = succ.get("prompt_tokens") or {}
    out["summary"] = {
        "requests": (succ.get("count") or 0) + (fails.get("count") or 0),
        "successes": succ.get("count") or 0,
        "failures": fails.get("count") or 0,
        "failures_by_label": {k: (v.get("count") if isinstance(v, dict) else v)
                              for k, v in (fails.get("by_label") or {}).items()},
        "ttft_p50": ttft.get("median"), "ttft_p90": ttft.get("p90"), "ttft_p99": ttft.get("p99"),
        "itl_p50": itl.get("median"),
        "output_tok_s": (succ.get("throughput") or {}).get("output_tokens_per_sec"),
        "requests_s": (succ.get("throughput") or {}).get("requests_per_sec"),
        "client_prompt_tokens": prompt.get("total"), "client_cached_tokens": prompt.get("cached"),
        "benchmark_s": s.get("benchmark_time_seconds"),
    }
    per_request = raw_dir / "per_request_lifecycle_metrics.json"
    if per_request.exists():
        out.update(summarize_requests(json.loads(per_request.read_text())))
    return out


# -- one row per router -----------------------------------------------------------------------
def median_of(results: list[dict[str, Any]], path: str) -> float | None:
    vals = []
    for r in results:
        v: Any = r
        for key in path.split("."):
            v = v.get(key) if isinstance(v, dict) else None
        if isinstance(v, (int, float)):
            vals.append(float(v))
    return statistics.median(vals) if vals else None


def hit_rate(result: dict[str, Any]) -> float | None:
    pods = result.get("pods") or []
    q = sum(p.get("prefix_queries", 0) for p in pods)
    return sum(p.get("prefix_hits", 0) for p in pods) / q if q else None


def goodput_and_shed(result: dict[str, Any], ttft_slo: float,
                     offered_s: float | None = None) -> tuple[float | None, float | None]:
    """(requests meeting the TTFT objective per second, share of requests shed with 429).
    Per second of the offered load (`offered_s`, a rate workload's duration) when known: the
    client's run time also counts the drain after the last arrival, which differs by router."""
    s = result.get("summary") or {}
    seconds, requests = offered_s or s.get("benchmark_s"), s.get("requests")
    shed = sum(c.get("429", 0) for c in (result.get("per_model") or {}).values())
    good = sum(1 for t in result.get("ttfts") or [] if t <= ttft_slo)
    return (good / seconds if seconds else None), (shed / requests if requests else None)


def router_row(results: list[dict[str, Any]], w: Workload, ttft_slo: float | None = None) -> dict[str, Any]:
    """Median over repeats of one router's runs of one workload."""
    ok = [r for r in results if r.get("summary")]
    for r in ok:
        if ttft_slo is not None:
            stages = w.load.get("stages") or []
            offered_s = sum(st["duration"] for st in stages) if all("duration" in st for st in stages) else None
            r["goodput"], r["shed_rate"] = goodput_and_shed(r, ttft_slo, offered_s or None)
        r["hit_rate"] = hit_rate(r)
        pods = r.get("pods") or []
        r["prompt_tokens_pods"] = sum(p.get("prefix_queries", 0) for p in pods)
        reqs = [p.get("requests", 0) for p in pods]
        r["pod_spread"] = (max(reqs) / (sum(reqs) / len(reqs))) if reqs and sum(reqs) else None
        r["multi_turn_frac"] = (r.get("multi_turn") or {}).get("later_turn_cached_frac")
        if w.lora_split:  # the Critical traffic, which every router serves in full
            secs = (r.get("summary") or {}).get("benchmark_s")
            r["critical_ttft_p90"] = (r.get("per_model_ttft_p90") or {}).get(CRITICAL_MODEL)
            tokens = (r.get("per_model_output_tokens") or {}).get(CRITICAL_MODEL)
            r["critical_output_tok_s"] = tokens / secs if tokens is not None and secs else None
    row: dict[str, Any] = {"router": results[0]["router"], "label": results[0].get("label", results[0]["router"]),
                           "runs": len(results), "ok_runs": len(ok),
                           "errors": [r["error"] for r in results if r.get("error")]}
    for key in ("ttft_p50", "ttft_p90", "ttft_p99", "itl_p50", "output_tok_s", "requests", "successes", "failures"):
        row[key] = median_of(ok, f"summary.{key}")
    for key in ("hit_rate", "pod_spread", "multi_turn_frac", "prompt_tokens_pods", "goodput", "shed_rate",
                "critical_ttft_p90", "critical_output_tok_s"):
        row[key] = median_of(ok, key)
    for key in ("client_cores", "router_cores", "pods_cores", "machine_busy_pct"):
        row[key] = median_of(ok, f"cpu.{key}")
    # statuses per model, summed over repeats
    per_model: dict[str, dict[str, int]] = {}
    for r in ok:
        for model, counts in (r.get("per_model") or {}).items():
            agg = per_model.setdefault(model, {})
            for status, n in counts.items():
                agg[status] = agg.get(status, 0) + n
    row["per_model"] = per_model
    row["ttfts"] = [t for r in ok for t in r.get("ttfts", [])]
    row["hit_rates"] = [r["hit_rate"] for r in ok if r.get("hit_rate") is not None]
    if w.data.get("type") == "shared_prefix" and not w.data["shared_prefix"].get("enable_multi_turn_chat") and ok:
        sp = w.data["shared_prefix"]
        row["best_hit_rate"] = median_of([{"b": best_prefix_hit_rate(
            int(r["summary"]["requests"]), sp["num_groups"], sp["system_prompt_len"], r["prompt_tokens_pods"])}
            for r in ok], "b")
    return row


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """Throughput and TTFT p90 against round robin and against sglang-router cache_aware."""
    by = {r["router"]: r for r in rows}
    for row in rows:
        for ref, tag in ((RR, "rr"), (SGL, "sgl")):
            base = by.get(ref)
            for key in ("output_tok_s", "ttft_p90", "critical_ttft_p90"):
                a, b = row.get(key), (base or {}).get(key)
                row[f"{key}_x_{tag}"] = (a / b) if a is not None and b else None


def _errors(row: dict[str, Any]) -> str:
    failures = row.get("failures")
    if failures is None:
        return "run failed" if row.get("errors") else "–"
    statuses: dict[str, int] = {}
    for counts in (row.get("per_model") or {}).values():
        for s, n in counts.items():
            if s != "ok":
                statuses[s] = statuses.get(s, 0) + n
    detail = ", ".join(f"{n}×{s}" for s, n in sorted(statuses.items()))
    return f"{failures:.0f}" + (f" ({detail})" if detail else "")


def markdown_table(rows: list[dict[str, Any]]) -> str:
    head = ("| router | TTFT p50 (s) | TTFT p90 (s) | TTFT p99 (s) | ITL p50 (ms) | output tok/s | requests | errors "
            "| shed | goodput (req/s) | prefix cache hit | tok/s ×RR | tok/s ×sglang | TTFT p90 ×RR | TTFT p90 ×sglang "
            "| busiest pod ÷ mean | CPU client / router (cores) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        lines.append("| " + " | ".join([
            r["label"], _s(r.get("ttft_p50")), _s(r.get("ttft_p90")), _s(r.get("ttft_p99")),
            _s(None if r.get("itl_p50") is None else 1000 * r["itl_p50"]), _n(r.get("output_tok_s")),
            _n(r.get("requests")), _errors(r), _pct(r.get("shed_rate")), _s(r.get("goodput")), _hit(r),
            _x(r.get("output_tok_s_x_rr")), _x(r.get("output_tok_s_x_sgl")),
            _x(r.get("ttft_p90_x_rr")), _x(r.get("ttft_p90_x_sgl")), _s(r.get("pod_spread")),
            f"{_s(r.get('client_cores'))} / {_s(r.get('router_cores'))}",
        ]) + " |")
    return "\n".join(lines)


def per_model_table(rows: list[dict[str, Any]], models: dict[str, str]) -> str:
    lines = ["| router | model (criticality) | ok | 429 | other errors | Critical TTFT p90 (s) | Critical output tok/s |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        for model, crit in models.items():
            c = _model_counts(r, model)
            if not c:
                continue
            other = sum(n for s, n in c.items() if s not in ("ok", "429"))
            critical = model == CRITICAL_MODEL  # medians over repeats, as router_row took them
            lines.append(f"| {r['label']} | `{model}` ({crit}) | {c.get('ok', 0)} | {c.get('429', 0)} | {other} | "
                         f"{_s(r.get('critical_ttft_p90')) if critical else ''} | "
                         f"{_n(r.get('critical_output_tok_s')) if critical else ''} |")
    return "\n".join(lines)


def matrix_table(cells: list[tuple[str, str, list[dict[str, Any]]]]) -> str:
    """One line per (pod profile, workload, router): the headline figures side by side."""
    head = ("| pods | workload | router | output tok/s | TTFT p90 (s) | goodput (req/s) | shed | errors "
            "| prefix cache hit | tok/s ×sglang | TTFT p90 ×sglang | TTFT p90 ×RR |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for profile, workload, rows in cells:
        for r in rows:
            lines.append("| " + " | ".join([
                profile, workload, r["label"], _n(r.get("output_tok_s")), _s(r.get("ttft_p90")),
                _s(r.get("goodput")), _pct(r.get("shed_rate")), _errors(r), _hit(r),
                _x(r.get("output_tok_s_x_sgl")), _x(r.get("ttft_p90_x_sgl")), _x(r.get("ttft_p90_x_rr"))]) + " |")
    return "\n".join(lines)


def workload_report(w: Workload, rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    profile = str(meta.get("profile", ""))
    targets = check_targets(w, rows, pd=" PD" in profile,
                            kv_constrained=profile.split(" ")[0] in KV_CONSTRAINED_PROFILES)
    parts = [
        f"# {w.title}",
        "",
        f"{'**Quick run: small and noisy; for smoke-testing the harness, not for conclusions.** ' if meta.get('quick') else ''}"
        f"{meta['date']}, command `{meta['command']}`.",
        "",
        f"Workload: {w.description}",
        "",
        f"Pods: {meta['pods']} simulated vLLM pods, profile `{meta['profile']}`, time scale {meta['time_scale']} "
        f"(every simulated duration ×{meta['time_scale']}: absolute latencies are ×{meta['time_scale']} and "
        f"throughput ÷{meta['time_scale']} against the profile's GPU; ratios between routers are unchanged). "
        f"Client: inference-perf {meta['versions'].get('inference-perf', '?')}, streaming, the same load for every router. "
        f"Pods restarted (cold caches) before every run; {meta['repeats']} run(s) per router, medians shown.",
        "",
        markdown_table(rows),
        "",
        "Machine CPU busy while the client ran (both cores, every process on the machine): "
        + ", ".join(f"{r['label']} {_n(r.get('machine_busy_pct'))}%" for r in rows) + ".",
        "",
    ]
    if w.lora_split:
        parts += ["Requests by model and outcome:", "", per_model_table(rows, w.models), ""]
    if any(r.get("multi_turn_frac") is not None for r in rows):
        parts += ["Prompt tokens served from the prefix cache after each conversation's first turn "
                  "(from `usage.prompt_tokens_details.cached_tokens`):", ""]
        parts += [f"- {r['label']}: {_pct(r.get('multi_turn_frac'))}" for r in rows]
        parts += [""]
    if rows and rows[0].get("best_hit_rate") is not None:
        parts += [f"Best achievable prefix-cache hit rate for this run (each group's system prompt computed once, "
                  f"whole {BLOCK}-token blocks reused): {_pct(rows[0]['best_hit_rate'])}.", ""]
    if targets:
        parts += ["Targets:", "", "| target | result | measured |", "|---|---|---|"]
        parts += [f"| {t} | {res} | {shown} |" for t, res, shown in targets]
        parts += [""]
    failed = [r for r in rows if r.get("errors")]
    for r in failed:
        parts += [f"- {r['label']}: " + "; ".join(r["errors"])]
    parts += ["![TTFT distribution](ttft.png) ![Output throughput](throughput.png)", "",
              "Raw client reports: `raw/<router>/` (inference-perf's own JSON; not committed)."]
    return "\n".join(parts) + "\n"


def plot(w: Workload, rows: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    """TTFT distribution (ECDF) and output throughput per router, as PNGs (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    made = []
    fig, ax = plt.subplots(figsize=(7, 4))
    for r in rows:
        xs = sorted(r.get("ttfts") or [])
        if xs:
            ax.plot(xs, [(i + 1) / len(xs) for i in range(len(xs))], label=r["label"], drawstyle="steps-post")
    ax.set_xlabel("time to first token (s, measured)")
    ax.set_ylabel("fraction of requests")
    ax.set_title(f"{w.name}: TTFT distribution")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "ttft.png", dpi=90)
    plt.close(fig)
    made.append(out_dir / "ttft.png")
    fig, ax = plt.subplots(figsize=(7, 4))
    labels = [r["label"] for r in rows]
    vals = [r.get("output_tok_s") or 0 for r in rows]
    ax.bar(range(len(rows)), vals, color=["#1f77b4" if r["router"].startswith("igw") else "#999999" for r in rows])
    ax.set_xticks(range(len(rows)), labels, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("output tokens / s (measured)")
    ax.set_title(f"{w.name}: output throughput")
    fig.tight_layout()
    fig.savefig(out_dir / "throughput.png", dpi=90)
    plt.close(fig)
    made.append(out_dir / "throughput.png")
    return made

