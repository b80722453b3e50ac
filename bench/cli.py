"""`igw bench`: our gateway against plain Envoy round robin and sglang-router, on simulated pods,
driven by inference-perf. Writes bench/results/<date>-<workload>/ and bench/REPORT.md.

    igw bench --quick                 # ~5 min smoke run (4 pods, small workloads)
    igw bench                         # the full benchmark (~30 min on 2 cores)
    igw bench --workloads burst --routers igw-load-aware,envoy-round-robin
    igw bench --matrix --repeats 3   # KV-constrained and ample pods × every workload (hours on 2 cores)
    igw bench --sweep 25,50,75,100,120 --workloads no-shared-prefix --profile h100-32b
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import re
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .env import BENCH_VENV, PEERS, REPO, ensure_bench_venv, write_tokenizer
from .report import add_ratios, cell_dir, matrix_table, plot, read_result, router_row, workload_report
from .routers import ROUTERS, make_routers
from .runner import Settings, run_one
from .workloads import pods_that_prefill, workloads

RESULTS = REPO / "bench" / "results"
MATRIX_PROFILES = ("h100-32b", "h100-8b")  # KV room ~34k tokens per pod, and ~450k
_DATED_COMMAND = re.compile(r"\d{4}-\d{2}-\d{2}, command")  # a cell report's first line


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="small workloads on 4 pods: a ~5 minute smoke run")
    p.add_argument("--workloads", default=None,
                   help="comma list (default all): shared-prefix,multi-turn,no-shared-prefix,burst,hot-prefix")
    p.add_argument("--routers", default=None,
                   help=f"comma list (default all: {','.join(ROUTERS)}; --quick leaves out sglang-round-robin, "
                        "which duplicates Envoy round robin); igw-<strategy>:scrape=SECONDS runs one of ours with "
                        "the pods scraped at that interval, beside the default")
    p.add_argument("--pods", type=int, default=None, help="simulated pods (default 8; 4 with --quick); the load scales with it")
    p.add_argument("--profile", default="a100-8b",
                   help="simulator profile, or a comma list run one after another (default a100-8b: the SGLang "
                        "benchmark's GPU; h100-32b: Qwen3-32B on one H100, KV room for ~34k tokens per pod)")
    p.add_argument("--matrix", action="store_true",
                   help=f"every workload on pods with little and with ample KV room ({','.join(MATRIX_PROFILES)})")
    p.add_argument("--pd", action="store_true",
                   help="prefill/decode pools: pods/2 SGLang prefill + pods/2 decode pods (sglang-router in PD mode)")
    p.add_argument("--sweep", default=None,
                   help="load sweep: comma list of percentages of the measured capacity (e.g. 25,50,75,100,120), "
                        "for the Poisson workloads; writes sweep.png (TTFT p90 and goodput against offered load)")
    p.add_argument("--sweep-extend", action="store_true",
                   help="add the --sweep points to the sweep already in --out (its measured capacity "
                        "and points kept), e.g. one between two points to place a knee")
    p.add_argument("--rerender", action="store_true",
                   help="run nothing: rebuild the reports from the raw results of an earlier run of the same command")
    p.add_argument("--ttft-slo", type=float, default=None,
                   help="TTFT objective for goodput, in measured seconds (default: 1 s of GPU time, i.e. the time scale)")
    p.add_argument("--time-scale", type=float, default=None,
                   help="simulated time ×this, so 2 cores keep up (default 3; 2 with --quick)")
    p.add_argument("--repeats", type=int, default=1, help="runs per router and workload; medians are reported")
    p.add_argument("--out", type=Path, default=RESULTS, help="results directory (default bench/results)")
    p.add_argument("--summary", type=Path, default=REPO / "bench" / "REPORT.md",
                   help="where the top-level summary goes (default bench/REPORT.md); a --sweep writes none: "
                        "its report is REPORT.md and sweep.png in its own results directory")
    p.add_argument("--bench-venv", type=Path, default=BENCH_VENV,
                   help="Python 3.12 venv for inference-perf and sglang-router (created if missing)")


def say(text: str) -> None:
    print(text, flush=True)


async def run(args: argparse.Namespace, argv: list[str]) -> int:
    quick = args.quick
    pods = args.pods or (4 if quick else 8)
    time_scale = args.time_scale or (2.0 if quick else 3.0)
    all_w = workloads(quick, pods)
    names = args.workloads.split(",") if args.workloads else list(all_w)
    unknown = [n for n in names if n not in all_w]
    if unknown:
        raise SystemExit(f"unknown workload(s) {unknown}; known: {', '.join(all_w)}")
    profiles = list(MATRIX_PROFILES) if args.matrix else args.profile.split(",")
    router_names = (args.routers.split(",") if args.routers
                    else [r for r in ROUTERS if not (quick and r == "sglang-round-robin")])
    bench_bin = args.bench_venv / "bin" if args.rerender else ensure_bench_venv(args.bench_venv)
    work = Path(tempfile.mkdtemp(prefix="igw-bench-"))
    tokenizer_dir = work / "tokenizer" if args.rerender else write_tokenizer(work / "tokenizer", bench_bin)
    date = dt.date.today().isoformat()
    command = "igw bench " + " ".join(shlex.quote(a) for a in _reproducing(argv))
    slo = args.ttft_slo or time_scale  # 1 s of simulated GPU time
    meta: dict[str, Any] = {"date": date, "command": command.strip(), "quick": quick, "pods": pods,
                            "profile": ",".join(profiles), "time_scale": time_scale, "repeats": args.repeats,
                            "ttft_slo": slo, "versions": {p.split("==")[0]: p.split("==")[1] for p in PEERS}}
    t0 = time.monotonic()
    if args.sweep:
        from .sweep import run_sweep  # noqa: PLC0415

        settings = Settings(pods=pods, profile=profiles[0], time_scale=time_scale, bench_bin=bench_bin,
                            tokenizer_dir=tokenizer_dir)
        await run_sweep([all_w[n] for n in names], router_names, [float(x) for x in args.sweep.split(",")],
                        settings, args, meta, say)
        shutil.rmtree(work, ignore_errors=True)
        return 0
    n_layouts = len(profiles) + (1 if args.matrix and not args.pd else 0)
    total = n_layouts * len(names) * len(router_names) * args.repeats
    say(f"Benchmark: {n_layouts} pod layout(s) × {len(names)} workload(s) × {len(router_names)} router(s) × "
        f"{args.repeats} = {total} runs; {pods} pods ({','.join(profiles)}, time ×{time_scale}); results in {args.out}")
    progress = [0, total, t0]
    summaries = []
    # --matrix: every profile with plain pools, then the KV-constrained profile as PD pools (2+2 at 4 pods)
    layouts = [(p, args.pd) for p in profiles] + ([(MATRIX_PROFILES[0], True)] if args.matrix and not args.pd else [])
    for profile, pd in layouts:
        settings = Settings(pods=pods if not (pd and args.matrix) else min(pods, 4), profile=profile,
                            time_scale=time_scale, bench_bin=bench_bin, tokenizer_dir=tokenizer_dir, pd=pd)
        cell_meta = dict(meta, profile=profile + (" PD" if pd else ""), pods=settings.pods)
        layout_w = workloads(quick, pods_that_prefill(settings.pods, pd))
        for wname in names:
            w = layout_w[wname]
            tag = (f"{profile}-" if len(layouts) > 1 or profile != "a100-8b" else "") + ("pd-" if pd else "")
            out_dir = cell_dir(args.out, date, f"{tag}{wname}{'-quick' if quick else ''}", args.rerender)
            # plain Envoy round robin cannot pair a prefill pod with a decode pod
            cell_routers = [r for r in router_names if not (pd and r == "envoy-round-robin")]
            progress[1] -= (len(router_names) - len(cell_routers)) * args.repeats
            if args.rerender:
                rows = rerender_cell(w, cell_routers, out_dir, slo)
                if not rows:
                    say(f"  (no raw results in {out_dir}: cell left out)")
                    continue
                cell_meta = dict(cell_meta, command=_recorded_command(out_dir, meta["command"]),
                                 date=out_dir.name[:len(date)])
            else:
                rows = await run_cell(w, cell_routers, settings, out_dir, args.repeats, slo, progress)
            text = workload_report(w, rows, cell_meta)
            (out_dir / "REPORT.md").write_text(text)
            (out_dir / "summary.json").write_text(json.dumps(
                {"meta": cell_meta, "workload": w.name,
                 "rows": [{k: v for k, v in r.items() if k != "ttfts"} for r in rows]}, indent=1, default=str))
            summaries.append((w, out_dir, text, cell_meta["profile"], rows))
            say(f"  → {out_dir / 'REPORT.md'}")
    shutil.rmtree(work, ignore_errors=True)
    write_summary(args.summary, meta, summaries, time.monotonic() - t0)
    say(f"Finished in {time.monotonic() - t0:.0f}s. Summary: {args.summary}")
    return 0


async def run_cell(w: Any, router_names: list[str], settings: Settings, out_dir: Path, repeats: int,
                   slo: float, progress: list) -> list[dict[str, Any]]:
    """Every router on one workload and pod profile, `repeats` times (routers interleaved, so
    a change in the machine's load hits all of them alike); one row per router, medians."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict[str, Any]]] = {r: [] for r in router_names}
    for rep in range(repeats):
        # each router's files (generated manifests, Envoy bootstrap, logs) go next to the raw reports
        routers_dir = out_dir / "raw" / "routers" / f"run{rep}"
        for router in make_routers(router_names, w.models, routers_dir, settings.bench_bin / "sglang-router"):
            progress[0] += 1
            say(f"[{progress[0]}/{progress[1]}] {settings.profile} × {w.name} × {router.label}"
                f"{f' (repeat {rep + 1})' if repeats > 1 else ''} — elapsed {time.monotonic() - progress[2]:.0f}s")
            raw = out_dir / "raw" / router.name / (f"run{rep}" if repeats > 1 else "")
            r = await run_one(w, router, settings, raw, say)
            results[router.name].append(r)
            s = r.get("summary") or {}
            say(f"    done in {r['wall_s']}s (setup {r.get('setup_s', '–')}s, client {r.get('client_s', '–')}s): "
                f"{s.get('successes', 0)} ok / {s.get('failures', 0)} failed, "
                f"TTFT p90 {_f(s.get('ttft_p90'))} s, {_f(s.get('output_tok_s'))} output tok/s, "
                f"CPU client {_f((r.get('cpu') or {}).get('client_cores'))} / machine "
                f"{_f((r.get('cpu') or {}).get('machine_busy_pct'))}%")
    rows = [router_row(results[name], w, slo) for name in router_names]
    add_ratios(rows)
    plot(w, rows, out_dir)
    return rows


def _reproducing(argv: list[str]) -> list[str]:
    """The command as it reproduces the figures: without --rerender and where the summary went."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--summary":
            skip = True
        elif a != "--rerender" and not a.startswith("--summary="):
            out.append(a)
    return out


def rerender_cell(w: Any, router_names: list[str], out_dir: Path, slo: float) -> list[dict[str, Any]]:
    """The rows of a cell from the `result.json` its runs left in raw/ (reports change; runs are dear)."""
    results = {name: [read_result(p, w) for p in sorted((out_dir / "raw" / name).glob("**/result.json"))]
               for name in router_names}
    # A cell is assembled from what was run: each cell of a matrix may have been run on its own,
    # with the routers that matter there (e.g. the default strategy where nothing is shared).
    present = [name for name in router_names if results[name]]
    if not present:
        return []
    rows = [router_row(results[name], w, slo) for name in present]
    add_ratios(rows)
    plot(w, rows, out_dir)
    return rows


def _recorded_command(out_dir: Path, default: str) -> str:
    """The command that ran a cell's raw results, as its summary recorded it."""
    try:
        return json.loads((out_dir / "summary.json").read_text())["meta"]["command"]
    except (OSError, ValueError, KeyError):
        return default


def write_summary(path: Path, meta: dict[str, Any], summaries: list[tuple[Any, Path, str, str, list]],
                  elapsed: float) -> None:
    """bench/REPORT.md: the matrix at a glance, then every cell's table and targets."""
    header = ["# Benchmark report", ""]
    if meta["quick"]:
        header += ["> **Quick run** (`--quick`: 4 pods, small workloads, on a 2-core machine other people were "
                   "using): noisy, for checking the harness end to end, not for conclusions. The full benchmark "
                   "is `make bench`.", ""]
    header += [f"Latest run: {meta['date']}, `{meta['command']}`, {elapsed / 60:.1f} min. "
               "How it works, what each column means and the peers' exact commands: [README.md](README.md).", "",
               f"Goodput counts requests whose TTFT met the objective, {meta['ttft_slo']:g} s measured "
               f"(1 s of GPU time at time scale {meta['time_scale']:g}), per second.", "",
               matrix_table([(profile, w.name, rows) for w, _, _, profile, rows in summaries]), ""]
    one_profile = len({s[3] for s in summaries}) == 1
    shared: list[str] = []
    sections: list[str] = []
    for w, out_dir, text, profile, _ in summaries:
        rel = out_dir.relative_to(path.parent) if out_dir.is_relative_to(path.parent) else out_dir
        sections += [f"## {w.title}{'' if one_profile else f' — {profile}'}", "",
                     f"Details: [{rel}/REPORT.md]({rel}/REPORT.md)"]
        for line in text.split("\n")[1:]:
            if line.startswith("Pods:") and one_profile:
                shared = shared or [line, ""]
            elif not (line.startswith("**Quick run") or _DATED_COMMAND.match(line)):
                sections.append(line.replace("](ttft.png)", f"]({rel}/ttft.png)")
                                .replace("](throughput.png)", f"]({rel}/throughput.png)")
                                .replace("`raw/<router>/`", f"`{rel}/raw/<router>/`"))
    text = "\n".join(header + shared + sections)
    while "\n\n\n" in text:  # (dropped lines leave double blanks)
        text = text.replace("\n\n\n", "\n\n")
    path.write_text(text)


def _f(v: Any) -> str:
    return "–" if not isinstance(v, (int, float)) else f"{v:.2f}" if v < 10 else f"{v:.0f}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="igw bench", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    from inference_gateway.router.logs import configure  # noqa: PLC0415

    configure("warning", sys.stderr)  # the gateway's per-request logs would drown the progress lines
    return asyncio.run(run(args, argv))


if __name__ == "__main__":
    sys.exit(main())
