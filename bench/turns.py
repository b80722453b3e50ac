"""Where a multi-turn cell's TTFT comes from, turn by turn: first turns against later ones, per
router, from the raw client reports of an `igw bench` run (no run of its own).

    python -P bench/turns.py bench/results/<date>-<profile>-multi-turn

A conversation's first turn computes its context (and the shared system prompt, on a pod that
lacks it: a "cold" first turn); every later turn finds its history cached where the last turn
ran. The later turns' TTFT is the router's own latency plus a short prefill, so a shift there
that is the same at every percentile is the path's cost, not placement. inference-perf numbers
the turns (`extra_info.chat_round`, 1 = first).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def _q(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def ttft(entry: dict) -> float | None:
    """Seconds from sending a request to its first chunk (inference-perf's lifecycle entry);
    None when no chunk came."""
    chunks = ((entry.get("info") or {}).get("response_metrics") or {}).get("chunk_times") or []
    return chunks[0] - entry["start_time"] if chunks else None


def turns(run: Path) -> list[tuple[int, float, int, int]]:
    """(turn, TTFT s, prompt tokens, cached tokens) of each request that got a first token."""
    out = []
    for entry in json.loads((run / "per_request_lifecycle_metrics.json").read_text()):
        first = ttft(entry)
        if entry.get("error") or first is None:
            continue
        response = (entry.get("info") or {}).get("response_metrics") or {}
        usage = response.get("server_usage") or {}
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
        turn = ((entry.get("info") or {}).get("extra_info") or {}).get("chat_round", 0)
        out.append((int(turn), first, int(usage.get("prompt_tokens") or 0), int(cached)))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("cell", type=Path, help="a multi-turn cell's directory (with raw/)")
    args = p.parse_args(argv)
    routers = sorted(d for d in (args.cell / "raw").iterdir() if d.is_dir() and d.name != "routers")
    if not routers:
        raise SystemExit(f"no raw client reports in {args.cell / 'raw'}")
    print(f"{'router':22} {'repeats':>7} {'cold 1st/run':>13} {'1st p50':>8} {'1st p90':>8} "
          f"{'later min':>9} {'later p50':>9} {'later p90':>9} {'later p99':>9} {'all p90':>8}   (ms)")
    for router in routers:
        runs = sorted(r for r in router.glob("run*") if (r / "per_request_lifecycle_metrics.json").exists())
        rows = [turns(r) for r in runs]
        if not rows:
            continue
        first = [t for row in rows for turn, t, _, _ in row if turn == 1]
        later = [t for row in rows for turn, t, _, _ in row if turn > 1]
        cold = statistics.median(sum(1 for turn, _, _, cached in row if turn == 1 and cached == 0) for row in rows)
        every = first + later
        if not (first and later):
            continue
        ms = [1e3 * v for v in (_q(first, 0.5), _q(first, 0.9), min(later), _q(later, 0.5), _q(later, 0.9),
                                _q(later, 0.99), _q(every, 0.9))]
        print(f"{router.name:22} {len(runs):>7} {cold:>13g} {ms[0]:>8.1f} {ms[1]:>8.1f} {ms[2]:>9.1f} "
              f"{ms[3]:>9.1f} {ms[4]:>9.1f} {ms[5]:>9.1f} {ms[6]:>8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
