"""What the harness measures besides the client: the pods' counters and CPU use."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

COUNTERS = {
    "vllm:prefix_cache_queries": "prefix_queries",
    "vllm:prefix_cache_hits": "prefix_hits",
    "vllm:generation_tokens": "generation_tokens",
    "vllm:prompt_tokens": "prompt_tokens",
    "vllm:request_success": "requests",
    "vllm:num_preemptions": "preemptions",
    # SGLang pods: every admitted prompt token is a query, the cached ones are hits.
    "sglang:prompt_tokens": "prefix_queries",
    "sglang:cached_tokens": "prefix_hits",
    "sglang:generation_tokens": "generation_tokens",
    "sglang:num_requests": "requests",
}


def parse_pod_metrics(text: str) -> dict[str, float]:
    """The counters we report, summed over label sets (one model server)."""
    out = {v: 0.0 for v in COUNTERS.values()}
    for family in text_string_to_metric_families(text):
        key = COUNTERS.get(family.name.removesuffix("_total"))
        if key is None:
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                out[key] += sample.value
    return out


async def scrape_pods(addresses: list[str]) -> list[dict[str, float]]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async def one(address: str) -> dict[str, float]:
            async with session.get(f"http://{address}/metrics") as resp:
                return parse_pod_metrics(await resp.text())
        return list(await asyncio.gather(*(one(a) for a in addresses)))


def counters_delta(before: list[dict[str, float]], after: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: a[k] - b.get(k, 0.0) for k in a} for b, a in zip(before, after)]


# -- CPU --------------------------------------------------------------------------------------
_TICK = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of one process and its reaped children, in seconds (0 if gone)."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (children added on wait)


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo and len(out) < 1000:  # bounded
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                todo += [int(c) for c in open(f"/proc/{p}/task/{task}/children").read().split()]
        except OSError:
            pass
    return out


def _busy_total(values: list[str]) -> tuple[int, int]:
    """(busy, total) jiffies from one `cpu` line of /proc/stat (idle and iowait are not busy)."""
    parts = [int(x) for x in values]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
    return sum(parts) - idle, sum(parts)


def _machine() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    return _busy_total(open("/proc/stat").readline().split()[1:])


def per_cpu() -> dict[int, tuple[int, int]]:
    """(busy, total) jiffies of each CPU."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            name, *values = line.split()
            if name.startswith("cpu") and name != "cpu":
                out[int(name[3:])] = _busy_total(values)
    return out


@dataclass
class CpuSampler:
    """Average CPU use of named process groups while a run goes (sampled every second, so
    processes that come and go are counted while they live)."""

    groups: dict[str, list[int]] = field(default_factory=dict)   # name -> pids
    trees: frozenset[str] = frozenset()   # groups whose pids count with all their descendants
    _last: dict[int, float] = field(default_factory=dict)
    _used: dict[str, float] = field(default_factory=dict)
    _start: float = 0.0
    _machine0: tuple[float, float] = (0.0, 0.0)
    _baseline: bool = False

    def start(self) -> None:
        self._start = time.monotonic()
        self._machine0 = _machine()
        self._used = {g: 0.0 for g in self.groups}
        self._baseline = True
        self.sample()  # what already ran before the start is not counted
        self._baseline = False

    def sample(self) -> None:
        for group, roots in self.groups.items():
            for root in roots:
                for pid in (_descendants(root) if group in self.trees else [root]):
                    now = process_cpu_seconds(pid)
                    # a process born during the run counts from zero
                    prev = self._last.get(pid, None if self._baseline else 0.0)
                    if prev is not None and now >= prev:
                        self._used[group] += now - prev
                    self._last[pid] = now

    def result(self) -> dict[str, float]:
        self.sample()
        wall = max(1e-6, time.monotonic() - self._start)
        busy1, total1 = _machine()
        busy0, total0 = self._machine0
        ncpu = os.cpu_count() or 1
        out = {f"{g}_cores": round(used / wall, 2) for g, used in self._used.items()}
        out["machine_busy_pct"] = round(100 * (busy1 - busy0) / max(1, total1 - total0), 1)
        out["cores"] = ncpu
        return out
