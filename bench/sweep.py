"""`igw bench --sweep 25,50,75,100,120`: each router at a range of offered loads, as fractions of
the pods' measured capacity, so the knee (where TTFT p90 leaves the objective) shows.

Capacity is measured first, once per workload: plain Envoy round robin under an overload of three
times the workload's own rate; the requests per second it completes (drain included) is the
capacity. Every router then gets the same Poisson load at each fraction of it, fresh pods each
time. The plot (`sweep.png`) has TTFT p90 and goodput (requests meeting the TTFT objective per
second) against offered load, one line per router.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from .fmt import _n, _pct, _s
from .report import cell_dir, read_result, router_row
from .routers import make_routers
from .runner import Settings, run_one
from .workloads import Workload

CAPACITY_OVERLOAD = 3.0


def at_rate(w: Workload, rate: float, duration: float | None = None) -> Workload:
    stage = dict(w.load["stages"][0], rate=round(rate, 2))
    if duration is not None:
        stage["duration"] = duration
    return replace(w, load={"type": w.load["type"], "stages": [stage]})


def poisson_rate(w: Workload) -> tuple[float, float]:
    stage = w.load["stages"][0]
    if w.load.get("type") != "poisson" or "rate" not in stage:
        raise SystemExit(f"--sweep needs a Poisson workload (multi-turn, no-shared-prefix, hot-prefix), not {w.name}")
    return float(stage["rate"]), float(stage["duration"])


async def measure_capacity(w: Workload, settings: Settings, out_dir: Path, say: Callable[[str], None]) -> float:
    rate, duration = poisson_rate(w)
    [rr] = make_routers(["envoy-round-robin"], w.models, out_dir / "raw" / "routers" / "capacity",
                        settings.bench_bin / "sglang-router")
    say(f"capacity of {w.name}: Envoy round robin at {CAPACITY_OVERLOAD:g}× its rate ({rate * CAPACITY_OVERLOAD:g} req/s)")
    r = await run_one(at_rate(w, rate * CAPACITY_OVERLOAD, min(duration, 30.0)), rr, settings,
                      out_dir / "raw" / "capacity", say)
    s = r.get("summary") or {}
    if not s.get("successes") or not s.get("benchmark_s"):
        raise SystemExit(f"capacity run failed: {r.get('error')}")
    return s["successes"] / s["benchmark_s"]


async def run_sweep(ws: list[Workload], router_names: list[str], percents: list[float], settings: Settings,
                    args: argparse.Namespace, meta: dict[str, Any], say: Callable[[str], None]) -> None:
    slo = meta["ttft_slo"]
    for w in ws:
        _, duration = poisson_rate(w)
        out_dir = cell_dir(args.out, meta["date"], f"{settings.profile}-{w.name}-sweep{'-quick' if meta['quick'] else ''}",
                           args.rerender)
        out_dir.mkdir(parents=True, exist_ok=True)
        extend = args.sweep_extend
        if (args.rerender or extend) and not (out_dir / "summary.json").exists():
            raise SystemExit(f"no earlier sweep in {out_dir} to {'rerender' if args.rerender else 'extend'}")
        earlier = json.loads((out_dir / "summary.json").read_text()) if args.rerender or extend else None
        if earlier is not None:  # the reports again, or more points: the earlier run's capacity
            capacity = earlier["capacity"]
            recorded = (earlier.get("meta") or {}).get("command", meta["command"])
            meta = dict(meta, command=recorded if args.rerender else f"{recorded}` then `{meta['command']}")
            if args.rerender:  # the date it ran
                meta["date"] = out_dir.name[:len(meta["date"])]
        else:
            capacity = await measure_capacity(w, settings, out_dir, say)
        say(f"  capacity {capacity:.2f} req/s")
        run_now = set() if args.rerender else set(percents)
        if extend:  # every point run so far, and the new ones
            percents = sorted(set(percents) | {p["percent"] for p in earlier["points"]})
        points: list[dict[str, Any]] = []
        for pct in percents:
            wl = at_rate(w, capacity * pct / 100, duration)
            results: dict[str, list[dict[str, Any]]] = {r: [] for r in router_names}
            for name in router_names if pct not in run_now else ():
                results[name] = [read_result(p, wl)
                                 for p in sorted((out_dir / "raw" / f"{pct:g}" / name).glob("run*/result.json"))]
            for rep in range(args.repeats if pct in run_now else 0):
                routers = make_routers(router_names, w.models, out_dir / "raw" / "routers" / f"{pct:g}-{rep}",
                                       settings.bench_bin / "sglang-router")
                for router in routers:
                    say(f"[{w.name} {pct:g}% = {capacity * pct / 100:.2f} req/s] {router.label} (repeat {rep + 1})")
                    results[router.name].append(await run_one(
                        wl, router, settings, out_dir / "raw" / f"{pct:g}" / router.name / f"run{rep}", say))
            for name in router_names:
                row = router_row(results[name], wl, slo)
                row.pop("ttfts", None)
                points.append(dict(row, percent=pct, offered=capacity * pct / 100))
        text = sweep_report(w, points, capacity, meta, settings.profile)
        (out_dir / "REPORT.md").write_text(text)
        (out_dir / "summary.json").write_text(json.dumps(
            {"meta": meta, "workload": w.name, "capacity": capacity, "points": points}, indent=1, default=str))
        plot_sweep(w, points, slo, out_dir / "sweep.png")
        say(f"  → {out_dir / 'REPORT.md'}")


def knee(points: list[dict[str, Any]], label: str, slo: float) -> float | None:
    """The lowest offered load at which the router's TTFT p90 missed the objective."""
    over = [p["offered"] for p in points if p["label"] == label and (p.get("ttft_p90") or float("inf")) > slo]
    return min(over) if over else None


def sweep_report(w: Workload, points: list[dict[str, Any]], capacity: float, meta: dict[str, Any],
                 profile: str) -> str:
    slo = meta["ttft_slo"]
    labels = list(dict.fromkeys(p["label"] for p in points))
    lines = [f"# Load sweep: {w.title}", "", f"{meta['date']}, command `{meta['command']}`.", "",
             f"Pods: {meta['pods']} simulated pods, profile `{profile}`, time scale {meta['time_scale']}. "
             f"Measured capacity (Envoy round robin under {CAPACITY_OVERLOAD:g}× overload): {capacity:.2f} req/s. "
             f"TTFT objective for goodput: {slo:g} s. {meta['repeats']} run(s) per point, medians.", "",
             "| offered | router | TTFT p90 (s) | goodput (req/s) | shed | errors | output tok/s | prefix cache hit |",
             "|---|---|---|---|---|---|---|---|"]
    for p in points:
        lines.append(f"| {p['percent']:g}% ({p['offered']:.2f} req/s) | {p['label']} | {_s(p.get('ttft_p90'))} | "
                     f"{_s(p.get('goodput'))} | {_pct(p.get('shed_rate'))} | {_n(p.get('failures'))} | "
                     f"{_s(p.get('output_tok_s'))} | {_pct(p.get('hit_rate'))} |")
    lines += ["", "Knee (lowest offered load whose TTFT p90 missed the objective; – = never within the sweep):", ""]
    for label in labels:
        k = knee(points, label, slo)
        lines.append(f"- {label}: {'–' if k is None else f'{k:.2f} req/s ({100 * k / capacity:.0f}% of capacity)'}")
    lines += ["", "![TTFT p90 and goodput against offered load](sweep.png)", ""]
    return "\n".join(lines)


def plot_sweep(w: Workload, points: list[dict[str, Any]], slo: float, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for label in dict.fromkeys(p["label"] for p in points):
        mine = sorted((p for p in points if p["label"] == label), key=lambda p: p["offered"])
        xs = [p["offered"] for p in mine]
        a.plot(xs, [p.get("ttft_p90") for p in mine], marker="o", label=label)
        b.plot(xs, [p.get("goodput") for p in mine], marker="o", label=label)
    a.axhline(slo, color="grey", linestyle="--", linewidth=1, label=f"objective {slo:g} s")
    a.set_yscale("log")
    a.set_xlabel("offered load (req/s)")
    a.set_ylabel("TTFT p90 (s, measured)")
    b.set_xlabel("offered load (req/s)")
    b.set_ylabel(f"goodput (req/s with TTFT ≤ {slo:g} s)")
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{w.name}: load sweep")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
