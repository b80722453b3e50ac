"""Scrapes each endpoint's Prometheus `/metrics` continuously into `EndpointState`.

One small task per endpoint, started and stopped as routing-table snapshots add and remove
endpoints. Parsing reads only the handful of series the scheduler uses, line by line: the full
Prometheus parser costs more than the request it informs.

Each scrape asks for those series by name (`/metrics?name[]=…`), which vLLM and SGLang honour:
both serve `/metrics` with prometheus_client's exposition app, which then collects and renders
only the named samples. A whole vLLM page is ~200 lines (~17 KB) for the ~13 samples the
router reads; 8 idle simulated pods scraped 10 times a second spent 0.48–0.51 cores rendering
whole pages and 0.18–0.22 answering by name, the router 0.12 and 0.08–0.09 cores
(`bench/scrape_cost.py`; bench/results/2026-12-01-scrape-cost-before-after.txt). A server that
ignores the parameter answers with everything, which parses the same.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol
from urllib.parse import quote

import aiohttp
import structlog
from yarl import URL

from .endpoint_state import EndpointMetrics, EndpointState
from .table import RoutingTable, Runtime

log = structlog.get_logger("scraper")


@dataclass(frozen=True)
class MetricNames:
    waiting: tuple[str, ...]
    running: tuple[str, ...]
    kv_usage: tuple[str, ...]     # first present wins
    cache_info: str | None = None  # vLLM: labels block_size, num_gpu_blocks
    max_tokens: str | None = None  # SGLang: KV capacity in tokens
    ttft: str | None = None        # the TTFT histogram (its _count is read: first tokens produced)
    itl: tuple[str, ...] = ()      # the ITL histogram, first present wins (its _sum and _count)
    # prompt tokens looked up and found in the prefix cache, counted as they are scheduled: their
    # difference is the prompt tokens computed (router/step_cost.py)
    prefix_queries: str | None = None
    prefix_hits: str | None = None
    steps: str | None = None       # a histogram observed once per engine step (its _count is read)

    @cached_property
    def samples(self) -> frozenset[str]:
        """The sample names `parse_metrics` reads, and the scraper asks for."""
        names = {*self.waiting, *self.running, *self.kv_usage}
        names |= {n for n in (self.cache_info, self.max_tokens, self.prefix_queries, self.prefix_hits) if n}
        names |= {f"{n}_count" for n in (self.ttft, self.steps) if n}
        names |= {f"{n}_{part}" for n in self.itl for part in ("sum", "count")}
        return frozenset(names)


METRIC_NAMES = {
    Runtime.VLLM: MetricNames(
        waiting=("vllm:num_requests_waiting",),
        running=("vllm:num_requests_running",),
        kv_usage=("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
        cache_info="vllm:cache_config_info",
        ttft="vllm:time_to_first_token_seconds",
        itl=("vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds"),
        prefix_queries="vllm:prefix_cache_queries_total",
        prefix_hits="vllm:prefix_cache_hits_total",
        steps="vllm:iteration_tokens_total",
    ),
    Runtime.SGLANG: MetricNames(
        waiting=("sglang:num_queue_reqs",),
        running=("sglang:num_running_reqs",),
        kv_usage=("sglang:token_usage",),
        max_tokens="sglang:max_total_num_tokens",
        ttft="sglang:time_to_first_token_seconds",
        itl=("sglang:inter_token_latency_seconds",),
    ),
}


def _labels(text: str) -> dict[str, str]:
    out = {}
    for part in text.split(","):
        if "=" in part:
            k, _, v = part.partition("=")
            out[k.strip()] = v.strip().strip('"')
    return out


def parse_metrics(text: str, names: MetricNames, now: float) -> EndpointMetrics:
    """Sum queue and running over series (one per served model); take the highest KV use."""
    waiting = running = 0.0
    kv: dict[str, float] = {}
    blocks = block_size = None
    wanted = names.samples
    ttft_count = f"{names.ttft}_count" if names.ttft else ""
    itl_sums = {f"{n}_sum": n for n in names.itl}
    itl_counts = {f"{n}_count": n for n in names.itl}
    steps_count = f"{names.steps}_count" if names.steps else None
    counters = {names.prefix_queries, names.prefix_hits, steps_count} - {None}
    t_count = 0.0
    itl: dict[str, list[float]] = {}   # histogram → [sum, count]
    found: dict[str, float] = {}       # prefix-cache counter → its total over series
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        brace = line.find("{")
        space = line.find(" ")
        name = line[:brace] if 0 <= brace < space or (brace >= 0 and space < 0) else line[:space]
        if name not in wanted:
            continue
        try:
            if brace >= 0 and line.startswith(name + "{"):
                close = line.rindex("}")
                labels, value = line[brace + 1:close], float(line[close + 1:].split()[0])
            else:
                labels, value = "", float(line[space + 1:].split()[0])
        except (ValueError, IndexError):
            continue
        if name in names.waiting:
            waiting += value
        elif name in names.running:
            running += value
        elif name in names.kv_usage:
            kv[name] = max(kv.get(name, 0.0), value)
        elif name == names.cache_info:
            lab = _labels(labels)
            if lab.get("num_gpu_blocks", "").isdigit():
                blocks = int(lab["num_gpu_blocks"])
            if lab.get("block_size", "").isdigit():
                block_size = int(lab["block_size"])
        elif name == names.max_tokens:
            blocks, block_size = int(value), 1
        elif name == ttft_count:
            t_count += value
        elif name in itl_sums:
            itl.setdefault(itl_sums[name], [0.0, 0.0])[0] += value
        elif name in itl_counts:
            itl.setdefault(itl_counts[name], [0.0, 0.0])[1] += value
        elif name in counters:
            found[name] = found.get(name, 0.0) + value
    kv_usage = next((kv[n] for n in names.kv_usage if n in kv), 0.0)
    itl_sum, itl_count = next((itl[n] for n in names.itl if n in itl), (0.0, 0.0))
    prefill = None
    if names.prefix_queries in found and names.prefix_hits in found:
        prefill = found[names.prefix_queries] - found[names.prefix_hits]
    return EndpointMetrics(waiting, running, kv_usage, blocks, block_size, now, t_count, itl_sum, itl_count,
                           found.get(steps_count) if steps_count else None, prefill)


def metrics_url(address: str, samples: frozenset[str]) -> URL:
    """`/metrics?name[]=…` for these samples, encoded once per endpoint (sorted: a stable URL)."""
    query = "&".join(f"name%5B%5D={quote(n, safe='')}" for n in sorted(samples))
    return URL(f"http://{address}/metrics?{query}", encoded=True)


class PageReader(Protocol):
    """Another reader of the pods' pages (token_usage.py), less often than the scheduler: its
    samples are asked for only in the scrapes it is `due`, which are then handed to it."""

    def samples(self, runtime: Runtime) -> frozenset[str]: ...
    def due(self, address: str) -> bool: ...
    def on_metrics(self, address: str, runtime: Runtime, text: str) -> None: ...


class MetricsScraper:
    def __init__(self, state: EndpointState, interval: float = 0.1, timeout: float = 1.0,
                 reader: PageReader | None = None) -> None:
        self.state = state
        self.reader = reader
        self.interval = interval
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._tasks: dict[tuple[str, Runtime], asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None

    def on_table(self, table: RoutingTable) -> None:
        """Reconcile scrape tasks with the snapshot's endpoints (called on every swap)."""
        wanted = {(ep.address, pool.runtime) for pool in table.pools.values() for ep in pool.endpoints}
        for key in [k for k in self._tasks if k not in wanted]:
            self._tasks.pop(key).cancel()
        for key in wanted - self._tasks.keys():
            self._tasks[key] = asyncio.get_running_loop().create_task(self._scrape_loop(*key))
        self.state.forget_except({address for address, _ in wanted})

    async def _scrape_loop(self, address: str, runtime: Runtime) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        names = METRIC_NAMES[runtime]
        reader = self.reader
        own = metrics_url(address, names.samples)
        both = metrics_url(address, names.samples | reader.samples(runtime)) if reader is not None else own
        whole: URL | None = None  # set once the pod is found not to answer by name
        failures = 0
        while True:  # ends when the endpoint leaves the table (task cancelled) or on stop()
            try:
                read = reader is not None and reader.due(address)
                async with self._session.get(whole or (both if read else own)) as resp:
                    text = await resp.text()
                if resp.status == 200 and whole is None and not any(n in text for n in names.waiting):
                    # A registry in prometheus_client's multiprocess mode (SGLang; vLLM with
                    # several API servers) names none of its series, so asked by name it
                    # renders nothing: take the whole page from this pod from now on.
                    whole = URL(f"http://{address}/metrics")
                    log.info("metrics asked by name came back without them; scraping the whole page",
                             address=address)
                    continue
                if resp.status == 200:
                    self.state.update(address, parse_metrics(text, names, time.monotonic()))
                    if read:
                        reader.on_metrics(address, runtime, text)
                    if failures:
                        log.info("endpoint reachable again", address=address, failures=failures)
                    failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as err:  # a pod going away must not kill the loop
                if isinstance(err, aiohttp.ClientConnectionError) and not isinstance(err, aiohttp.ServerTimeoutError):
                    # Refused or reset: out of rotation now, not after stale_after.
                    if self.state.mark_down(address):
                        log.warning("endpoint down", address=address, error=str(err) or type(err).__name__)
                else:  # slow or garbled: its last metrics are no longer to be trusted
                    self.state.metrics.pop(address, None)
                failures += 1
                if failures in (1, 10) or failures % 100 == 0:
                    log.warning("scrape failed", address=address, error=str(err) or type(err).__name__,
                                failures=failures)
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None
