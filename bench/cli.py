"""`igw bench`: our gateway against plain Envoy round robin and sglang-router, on simulated pods,
driven by inference-perf. Writes bench/results/<date>-<workload>/ and bench/REPORT.md.

    igw bench --quick                 # ~5 min smoke run (4 pods, small workloads)
    igw bench                         # the full benchmark (~30 min on 2 cores)
    igw bench --workloads burst --routers igw-load-aware,envoy-round-robin
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .env import BENCH_VENV, PEERS, REPO, ensure_bench_venv, write_tokenizer
from .report import add_ratios, plot, router_row, workload_report
from .routers import ROUTERS, make_routers
from .runner import Settings, run_one
from .workloads import workloads

RESULTS = REPO / "bench" / "results"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="small workloads on 4 pods: a ~5 minute smoke run")
    p.add_argument("--workloads", default=None,
                   help="comma list (default all): shared-prefix,multi-turn,no-shared-prefix,burst")
    p.add_argument("--routers", default=None,
                   help=f"comma list (default all: {','.join(ROUTERS)}; --quick leaves out sglang-round-robin, "
                        "which duplicates Envoy round robin)")
    p.add_argument("--pods", type=int, default=None, help="simulated pods (default 8; 4 with --quick)")
    p.add_argument("--profile", default="a100-8b", help="simulator profile (default a100-8b: the SGLang benchmark's GPU)")
    p.add_argument("--time-scale", type=float, default=None,
                   help="simulated time ×this, so 2 cores keep up (default 3; 2 with --quick)")
    p.add_argument("--repeats", type=int, default=1, help="runs per router and workload; medians are reported")
    p.add_argument("--out", type=Path, default=RESULTS, help="results directory (default bench/results)")
    p.add_argument("--summary", type=Path, default=REPO / "bench" / "REPORT.md",
                   help="where the top-level summary goes (default bench/REPORT.md)")
    p.add_argument("--bench-venv", type=Path, default=BENCH_VENV,
                   help="Python 3.12 venv for inference-perf and sglang-router (created if missing)")


def say(text: str) -> None:
    print(text, flush=True)


async def run(args: argparse.Namespace, argv: list[str]) -> int:
    quick = args.quick
    pods = args.pods or (4 if quick else 8)
    time_scale = args.time_scale or (2.0 if quick else 3.0)
    all_w = workloads(quick)
    names = args.workloads.split(",") if args.workloads else list(all_w)
    unknown = [n for n in names if n not in all_w]
    if unknown:
        raise SystemExit(f"unknown workload(s) {unknown}; known: {', '.join(all_w)}")
    router_names = (args.routers.split(",") if args.routers
                    else [r for r in ROUTERS if not (quick and r == "sglang-round-robin")])
    bench_bin = ensure_bench_venv(args.bench_venv)
    work = Path(tempfile.mkdtemp(prefix="igw-bench-"))
    tokenizer_dir = write_tokenizer(work / "tokenizer", bench_bin)
    settings = Settings(pods=pods, profile=args.profile, time_scale=time_scale, bench_bin=bench_bin,
                        tokenizer_dir=tokenizer_dir)
    date = dt.date.today().isoformat()
    command = "igw bench " + " ".join(shlex.quote(a) for a in argv)
    meta: dict[str, Any] = {"date": date, "command": command.strip(), "quick": quick, "pods": pods,
                            "profile": args.profile, "time_scale": time_scale, "repeats": args.repeats,
                            "versions": {p.split("==")[0]: p.split("==")[1] for p in PEERS}}
    total = len(names) * len(router_names) * args.repeats
    say(f"Benchmark: {len(names)} workload(s) × {len(router_names)} router(s) × {args.repeats} = {total} runs; "
        f"{pods} pods ({args.profile}, time ×{time_scale}); results in {args.out}")
    t0 = time.monotonic()
    n = 0
    summaries = []
    for wname in names:
        w = all_w[wname]
        out_dir = args.out / f"{date}-{wname}{'-quick' if quick else ''}"
        out_dir.mkdir(parents=True, exist_ok=True)
        results: dict[str, list[dict[str, Any]]] = {r: [] for r in router_names}
        for rep in range(args.repeats):
            # each router's files (generated manifests, Envoy bootstrap, logs) go next to the raw reports
            routers_dir = out_dir / "raw" / "routers" / f"run{rep}"
            for router in make_routers(router_names, w.models, routers_dir, bench_bin / "sglang-router"):
                n += 1
                say(f"[{n}/{total}] {wname} × {router.label}{f' (repeat {rep + 1})' if args.repeats > 1 else ''} "
                    f"— elapsed {time.monotonic() - t0:.0f}s")
                raw = out_dir / "raw" / router.name / (f"run{rep}" if args.repeats > 1 else "")
                r = await run_one(w, router, settings, raw, say)
                results[router.name].append(r)
                s = r.get("summary") or {}
                say(f"    done in {r['wall_s']}s (setup {r.get('setup_s', '–')}s, client {r.get('client_s', '–')}s): "
                    f"{s.get('successes', 0)} ok / {s.get('failures', 0)} failed, "
                    f"TTFT p90 {_f(s.get('ttft_p90'))} s, {_f(s.get('output_tok_s'))} output tok/s, "
                    f"CPU client {_f((r.get('cpu') or {}).get('client_cores'))} / machine "
                    f"{_f((r.get('cpu') or {}).get('machine_busy_pct'))}%")
        rows = [router_row(results[name], w) for name in router_names]
        add_ratios(rows)
        plot(w, rows, out_dir)
        text = workload_report(w, rows, meta)
        (out_dir / "REPORT.md").write_text(text)
        (out_dir / "summary.json").write_text(json.dumps(
            {"meta": meta, "workload": w.name, "rows": [{k: v for k, v in r.items() if k != "ttfts"} for r in rows]},
            indent=1, default=str))
        summaries.append((w, out_dir, text))
        say(f"  → {out_dir / 'REPORT.md'}")
    shutil.rmtree(work, ignore_errors=True)
    write_summary(args.summary, meta, summaries, time.monotonic() - t0)
    say(f"Finished in {time.monotonic() - t0:.0f}s. Summary: {args.summary}")
    return 0


def write_summary(path: Path, meta: dict[str, Any], summaries: list[tuple[Any, Path, str]], elapsed: float) -> None:
    """bench/REPORT.md: every workload's table and targets, the facts they share said once."""
    header = ["# Benchmark report", ""]
    if meta["quick"]:
        header += ["> **Quick run** (`--quick`: 4 pods, small workloads, on a 2-core machine other people were "
                   "using): noisy, for checking the harness end to end, not for conclusions. The full benchmark "
                   "is `make bench`.", ""]
    header += [f"Latest run: {meta['date']}, `{meta['command']}`, {elapsed / 60:.1f} min. "
               "How it works, what each column means and the peers' exact commands: [README.md](README.md).", ""]
    shared: list[str] = []
    sections: list[str] = []
    for w, out_dir, text in summaries:
        rel = out_dir.relative_to(path.parent) if out_dir.is_relative_to(path.parent) else out_dir
        sections += [f"## {w.title}", "", f"Details: [{rel}/REPORT.md]({rel}/REPORT.md)"]
        for line in text.split("\n")[1:]:
            if line.startswith("Pods:"):
                shared = shared or [line, ""]
            elif not (line.startswith("**Quick run") or line.startswith(f"{meta['date']}, command")):
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
