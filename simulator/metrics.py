"""Prometheus metrics under the engines' real names, in a per-simulator registry.

Gauges are read from the engine at scrape time (a custom collector); counters and
histograms are updated by the engine's observer hooks. Latencies are wall-clock seconds as
a client sees them (already multiplied by the time scale).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from .request import SimRequest

if TYPE_CHECKING:
    from .engine import Engine

# Bucket boundaries as vLLM declares them (vllm/v1/metrics/loggers.py).
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5,
                5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)
ITERATION_BUCKETS = (1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)  # vLLM's
ITL_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0,
               7.5, 10.0, 20.0, 40.0, 80.0)
# SGLang's default bounds of its token histograms (sglang/srt/metrics/collector.py).
SGLANG_TOKEN_BUCKETS = (100, 300, 500, 700, 1000, 1500, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000,
                        12500, 15000, 17500, 20000, 22500, 25000, 27500, 30000, 35000, 40000, 60000, 80000,
                        100000, 200000, 300000, 400000, 600000, 800000, 1000000, 1100000)


def one_two_five(limit: int) -> tuple[int, ...]:
    """vLLM's `build_1_2_5_buckets(max_model_len)`: 1, 2, 5, 10, 20, 50, … up to the limit."""
    out, exponent = [], 0
    while True:
        for m in (1, 2, 5):
            value = m * 10 ** exponent
            if value > limit:
                return tuple(out)
            out.append(value)
        exponent += 1


E2E_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0,
               60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0)


class _EngineGauges:
    """Collector that reads queue lengths and KV usage when scraped."""

    def __init__(self, metrics: "SimMetrics") -> None:
        self.m = metrics

    def collect(self) -> Iterator[Metric]:
        m = self.m
        e = m.engine
        if e is None:
            return
        name = m.model_name
        if m.runtime == "sglang":
            yield _gauge("sglang:num_queue_reqs", "Waiting requests", name, e.num_waiting)
            yield _gauge("sglang:num_running_reqs", "Running requests", name, e.num_running)
            yield _gauge("sglang:token_usage", "KV token usage (evictable cache counts as free)",
                         name, e.kv.usage())
            yield _gauge("sglang:cache_hit_rate", "Prefix cache hit rate over recent requests",
                         name, m.recent_hit_rate())
            yield _gauge("sglang:max_total_num_tokens", "KV capacity in tokens", name,
                         e.kv.capacity_tokens)
            yield _gauge("sglang:num_used_tokens", "KV tokens in use", name,
                         round(e.kv.usage() * e.kv.capacity_tokens))
            return
        yield _gauge("vllm:num_requests_waiting", "Requests waiting to be processed.", name, e.num_waiting)
        yield _gauge("vllm:num_requests_running", "Requests in model execution batches.", name, e.num_running)
        usage = e.kv.usage()
        yield _gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", name, usage)
        yield _gauge("vllm:gpu_cache_usage_perc", "GPU KV-cache usage (deprecated name).", name, usage)
        info = GaugeMetricFamily(
            "vllm:cache_config_info", "Information of the LLMEngine CacheConfig",
            labels=["block_size", "cache_dtype", "enable_prefix_caching", "num_gpu_blocks", "num_cpu_blocks"],
        )
        info.add_metric([str(m.block_size), "auto", "True", str(m.num_gpu_blocks), "0"], 1.0)
        yield info


def _gauge(metric: str, doc: str, model: str, value: float) -> GaugeMetricFamily:
    g = GaugeMetricFamily(metric, doc, labels=["model_name"])
    g.add_metric([model], float(value))
    return g


class SimMetrics:
    """Engine observer + registry. One per simulator instance (never the global registry)."""

    def __init__(self, runtime: str, model_name: str, block_size: int, num_gpu_blocks: int,
                 max_model_len: int = 32768) -> None:
        self.runtime = runtime
        self.model_name = model_name
        self.block_size = block_size
        self.num_gpu_blocks = num_gpu_blocks
        self.engine: Engine | None = None
        # The engine gauges come from a collector that names nothing up front; as vLLM's named
        # Gauges they must still answer a request for them by name (render()).
        self.registry = CollectorRegistry(auto_describe=False, support_collectors_without_names=True)
        self._recent: deque[tuple[int, int]] = deque(maxlen=64)  # (cached, prompt) per request
        r, lbl = self.registry, ["model_name"]
        p = "sglang:" if runtime == "sglang" else "vllm:"
        self.prompt_tokens = Counter(f"{p}prompt_tokens", "Prefill tokens processed.", lbl, registry=r).labels(model_name)
        self.generation_tokens = Counter(f"{p}generation_tokens", "Generation tokens processed.", lbl, registry=r).labels(model_name)
        self.ttft = Histogram(f"{p}time_to_first_token_seconds", "Time to first token in seconds.", lbl,
                              buckets=TTFT_BUCKETS, registry=r).labels(model_name)
        self.itl = Histogram(f"{p}inter_token_latency_seconds", "Inter-token latency in seconds.", lbl,
                             buckets=ITL_BUCKETS, registry=r).labels(model_name)
        self.e2e = Histogram(f"{p}e2e_request_latency_seconds", "End to end request latency in seconds.", lbl,
                             buckets=E2E_BUCKETS, registry=r).labels(model_name)
        # Per-request token histograms, observed when a request finishes (the router's token
        # metrics come from these: router/token_usage.py). SGLang exports them with
        # `--collect-tokens-histogram`; the simulator always does.
        if runtime == "sglang":
            names = ("sglang:prompt_tokens_histogram", "sglang:generation_tokens_histogram")
            buckets: tuple[int, ...] = SGLANG_TOKEN_BUCKETS
        else:
            names = ("vllm:request_prompt_tokens", "vllm:request_generation_tokens")
            buckets = one_two_five(max_model_len)
        self.request_prompt_tokens = Histogram(names[0], "Number of prefill tokens processed.", lbl,
                                               buckets=buckets, registry=r).labels(model_name)
        self.request_generation_tokens = Histogram(names[1], "Number of generation tokens processed.", lbl,
                                                   buckets=buckets, registry=r).labels(model_name)
        if runtime == "sglang":
            self.cached_tokens = Counter("sglang:cached_tokens", "Prefix cache hit tokens.", lbl, registry=r).labels(model_name)
            self.num_requests = Counter("sglang:num_requests", "Finished requests.", lbl, registry=r).labels(model_name)
            return
        self.tpot = Histogram("vllm:time_per_output_token_seconds", "Time per output token (older name of ITL).",
                              lbl, buckets=ITL_BUCKETS, registry=r).labels(model_name)
        self.queue_time = Histogram("vllm:request_queue_time_seconds", "Time spent waiting before first scheduling.",
                                    lbl, buckets=E2E_BUCKETS, registry=r).labels(model_name)
        self.prefix_queries = Counter("vllm:prefix_cache_queries", "Prefix cache queries, in tokens.", lbl, registry=r).labels(model_name)
        self.prefix_hits = Counter("vllm:prefix_cache_hits", "Prefix cache hits, in tokens.", lbl, registry=r).labels(model_name)
        self.preemptions = Counter("vllm:num_preemptions", "Cumulative number of preemptions.", lbl, registry=r).labels(model_name)
        self.iteration_tokens = Histogram("vllm:iteration_tokens_total", "Histogram of number of tokens per engine_step.",
                                          lbl, buckets=ITERATION_BUCKETS, registry=r).labels(model_name)
        self.success = Counter("vllm:request_success", "Successfully processed requests.",
                               ["model_name", "finished_reason"], registry=r)

    def attach(self, engine: "Engine") -> None:
        self.engine = engine
        self.registry.register(_EngineGauges(self))

    def render(self, names: Iterable[str] = ()) -> bytes:
        """The exposition page, or what the server answers when asked for `names` only
        (`/metrics?name[]=…`). vLLM (one API server) serves prometheus_client's registry of
        named metrics, so it renders just those samples. SGLang serves a multiprocess registry
        (`MultiProcessCollector`), which names no series, so the answer is an empty page."""
        names = list(names)
        if not names:
            return generate_latest(self.registry)
        if self.runtime == "sglang":
            return generate_latest(CollectorRegistry())
        return generate_latest(self.registry.restricted_registry(names))

    def recent_hit_rate(self) -> float:
        prompt = sum(p for _, p in self._recent)
        return sum(c for c, _ in self._recent) / prompt if prompt else 0.0

    # -- EngineObserver --------------------------------------------------------------------
    def on_admitted(self, req: SimRequest, cached_tokens: int, queue_time: float) -> None:
        n = len(req.prompt_token_ids)
        self._recent.append((cached_tokens, n))
        if self.runtime == "sglang":
            self.cached_tokens.inc(cached_tokens)
        else:
            self.prompt_tokens.inc(n)  # vLLM counts prompt tokens as they are scheduled
            self.prefix_queries.inc(req.num_tokens)
            self.prefix_hits.inc(cached_tokens)
            self.queue_time.observe(queue_time)

    def on_first_token(self, req: SimRequest, ttft: float) -> None:
        self.ttft.observe(ttft)

    def on_step(self, new_tokens: int, itls: list[float], prefill_tokens: int) -> None:
        if self.runtime != "sglang":
            self.iteration_tokens.observe(prefill_tokens + len(itls))  # prompt + decode tokens of the step
            if new_tokens:
                self.generation_tokens.inc(new_tokens)
        for v in itls:
            self.itl.observe(v)
            if self.runtime != "sglang":
                self.tpot.observe(v)

    def on_finished(self, req: SimRequest, e2e: float) -> None:
        self.e2e.observe(e2e)
        self.request_prompt_tokens.observe(len(req.prompt_token_ids))
        self.request_generation_tokens.observe(len(req.output_token_ids))
        if self.runtime == "sglang":
            # SGLang counts a request's tokens once, when it finishes (observe_one_finished_request).
            self.prompt_tokens.inc(len(req.prompt_token_ids))
            self.generation_tokens.inc(len(req.output_token_ids))
            self.num_requests.inc()
        else:
            self.success.labels(self.model_name, req.finish_reason or "length").inc()

    def on_preempted(self, req: SimRequest) -> None:
        if self.runtime != "sglang":
            self.preemptions.inc()
