"""What checking the request body costs: `parse_request` (msgspec decode, depth bound, typed
check) against the body parse it replaced (json.loads and a `model` check only), and against
json.loads with the same typed check, on three bodies. Prints µs per parse (median of 5 runs).

    .venv/bin/python -P bench/parse_cost.py
"""

from __future__ import annotations

import json
import statistics
import timeit

from inference_gateway.router.openai import parse_request, prompt_text
from inference_gateway.router.openai_schema import check, too_deep


def old_parse(raw: bytes) -> tuple:
    """The parse before the checks (commit 905f6a3): stdlib JSON and the model only."""
    body = json.loads(raw)
    model = body.get("model")
    assert isinstance(model, str) and model
    return body, model, bool(body.get("stream")), prompt_text(body)


def stdlib_checked(raw: bytes) -> tuple:
    body = json.loads(raw)
    assert not too_deep(body)
    checked = check(body)
    return body, checked.model, bool(checked.stream), prompt_text(body)


def bodies() -> dict[str, bytes]:
    hello = {"model": "/models/Qwen3-32B", "messages": [{"role": "user", "content": "Hello, who are you?"}],
             "max_tokens": 50, "temperature": 0.7}
    turns = [{"role": "system", "content": "You are a helpful assistant. " * 20}]
    for i in range(10):
        turns += [{"role": "user", "content": f"question {i} " * 30}, {"role": "assistant", "content": f"answer {i} " * 60}]
    chat10 = {"model": "/models/Qwen3-32B", "messages": turns, "stream": True,
              "stream_options": {"include_usage": True}, "max_tokens": 256}
    long = {"model": "/models/Qwen3-32B", "prompt": "lorem ipsum dolor sit amet " * 8000, "max_tokens": 16}
    return {name: json.dumps(b).encode() for name, b in
            (("hello chat", hello), ("10-turn chat, stream", chat10), ("200 KB prompt", long))}


def per_call_us(fn, raw: bytes) -> float:
    number = max(20, int(20_000 / max(1, len(raw) // 1000 + 1)))
    runs = [timeit.timeit(lambda: fn(raw), number=number) / number * 1e6 for _ in range(5)]
    return statistics.median(runs)


def main() -> None:
    variants = (("before: json.loads, model only", old_parse), ("json.loads + typed check", stdlib_checked),
                ("parse_request (msgspec)", parse_request))
    print(f"{'body':24} {'bytes':>8} " + " ".join(f"{name:>32}" for name, _ in variants))
    for name, raw in bodies().items():
        cells = " ".join(f"{per_call_us(fn, raw):>29.1f} µs" for _, fn in variants)
        print(f"{name:24} {len(raw):>8} {cells}")


if __name__ == "__main__":
    main()
