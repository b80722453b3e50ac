"""What one `Request Handled` log line costs the router, as `router/logs.py` configures structlog
and with the standard library's `json` as the renderer's serializer instead of msgspec: the
same processors, the same fields as the director logs, written to a stream that discards them.
Alternating rounds, medians; it also checks that both encode the same JSON object.

    python -P bench/log_cost.py [--lines 50000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import structlog

from inference_gateway.router import logs
from inference_gateway.router.table import Criticality

FIELDS = dict(request_id="3f2a9c1e-1111-2222-3333-444455556666", pod="vllm-qwen-7d9f8-abcde",
              address="10.0.0.12:8000", pool="default/qwen-pool", model="/models/Qwen3-32B",
              target_model="/models/Qwen3-32B", strategy="PREFIX_CACHE", criticality=Criticality.CRITICAL,
              decision_ms=0.412, queued_ms=0.0)


class Sink:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def configure(serializer: str) -> None:
    """router/logs.py's configuration; `stdlib`: its renderer with json.dumps instead."""
    logs.configure("info", stream=Sink())
    if serializer == "stdlib":
        processors = list(structlog.get_config()["processors"])
        processors[-1] = structlog.processors.JSONRenderer(sort_keys=False)
        structlog.configure(processors=processors)


def per_line(serializer: str, lines: int) -> float:
    configure(serializer)
    log = structlog.get_logger("router").bind()
    log.info("Request Handled", **FIELDS)  # first use: the logger is built
    start = time.perf_counter()
    for _ in range(lines):
        log.info("Request Handled", **FIELDS)
    return (time.perf_counter() - start) / lines * 1e6


def same_object() -> bool:
    """Both serializers give the same JSON object for the line's event."""
    event = {"event": "Request Handled", **FIELDS, "level": "info", "ts": "2026-12-02T00:00:00Z"}
    stdlib = structlog.processors.JSONRenderer(sort_keys=False)(None, "info", dict(event))
    ours = structlog.processors.JSONRenderer(serializer=logs.render_json)(None, "info", dict(event))
    return json.loads(stdlib) == json.loads(ours)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lines", type=int, default=50_000, help="lines per round (default 50,000)")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    args = p.parse_args(argv)
    times: dict[str, list[float]] = {"stdlib": [], "msgspec": []}
    for _ in range(args.rounds):
        for serializer in times:
            times[serializer].append(per_line(serializer, args.lines))
    same = same_object()
    print(f"one 'Request Handled' line, µs (medians of {args.rounds} alternating rounds of {args.lines:,} lines)")
    for serializer, label in (("stdlib", "json.dumps (structlog's default)"), ("msgspec", "msgspec (router/logs.py)")):
        print(f"  {label:<36}{statistics.median(times[serializer]):6.2f}   rounds: "
              f"{', '.join(f'{x:.2f}' for x in times[serializer])}")
    print(f"same JSON object from both: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
