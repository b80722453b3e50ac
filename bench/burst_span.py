"""Why a router that sheds shows less output throughput in a burst cell, from the raw client
reports of an `igw bench` run (no run of its own).

    python -P bench/burst_span.py bench/results/<date>-<profile>-burst

The report's output tok/s is the tokens served over the client's whole span, from the first
request sent to the last token received. In a burst far above capacity no request completes
for the first seconds (its prefill, then every output token), whichever router places it. A
router that refuses part of the burst with 429 serves fewer requests and ends sooner, so those
first seconds weigh more in its figure. Per router (medians over the repeats) this prints the
requests served and refused, the span, the first completion, the output tok/s over the span (the
report's figure) and over the part of the span after the first completion; and, for the
goodput, the requests whose first token came within the objective (`--slo`, 3 s as the
matrix measures it), when the last of them was sent and when the first refusal came.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from inference_gateway.bench.turns import ttft


def run_figures(run: Path, slo: float) -> dict[str, float]:
    entries = json.loads((run / "per_request_lifecycle_metrics.json").read_text())
    start = min(e["start_time"] for e in entries)
    served = [e for e in entries if not e.get("error")]
    good = [e for e in served if (t := ttft(e)) is not None and t <= slo]
    refused = [e["start_time"] - start for e in entries if e.get("error")]
    ends = [e["end_time"] - start for e in served]
    tokens = sum(((e.get("info") or {}).get("response_metrics") or {}).get("output_tokens") or 0 for e in served)
    span = max(ends, default=0.0)
    first = min(ends, default=0.0)
    return {"served": len(served), "refused": len(entries) - len(served), "span": span, "first": first,
            "tok_s": tokens / span if span else 0.0,
            "tok_s_after_first": tokens / (span - first) if span > first else 0.0, "good": len(good),
            "last_good_sent": max((e["start_time"] - start for e in good), default=float("nan")),
            "first_refused": min(refused, default=float("nan"))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("cell", type=Path, help="a burst cell's results directory, with its raw/ reports")
    p.add_argument("--slo", type=float, default=3.0, help="TTFT objective in seconds (default 3)")
    args = p.parse_args(argv)
    routers: dict[str, list[dict[str, float]]] = {}
    for report in sorted(args.cell.glob("raw/*/run*/per_request_lifecycle_metrics.json")):
        routers.setdefault(report.parent.parent.name, []).append(run_figures(report.parent, args.slo))
    if not routers:
        raise SystemExit(f"no raw/<router>/run*/per_request_lifecycle_metrics.json under {args.cell}")
    keys = ("served", "refused", "span", "first", "tok_s", "tok_s_after_first", "good", "last_good_sent",
            "first_refused")
    print(f"{'router':<22}{'served':>8}{'refused':>9}{'span s':>8}{'first done s':>14}{'tok/s, span':>13}"
          f"{'tok/s after first':>19}{f'TTFT <= {args.slo:g} s':>14}{'last sent s':>13}{'first 429 s':>13}"
          "   (medians of the repeats; times from the first request sent)")
    for router, runs in routers.items():
        m = {k: statistics.median(r[k] for r in runs) for k in keys}
        print(f"{router:<22}{m['served']:>8.0f}{m['refused']:>9.0f}{m['span']:>8.1f}{m['first']:>14.1f}"
              f"{m['tok_s']:>13.0f}{m['tok_s_after_first']:>19.0f}{m['good']:>14.0f}{m['last_good_sent']:>13.2f}"
              f"{m['first_refused']:>13.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
