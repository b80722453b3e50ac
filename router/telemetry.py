"""The router's Prometheus metrics, named as the Inference Extension's users already chart them.

Each `Telemetry` owns its registry (tests run several routers in one process). Per-request
metric children are cached by label values: `Counter.labels()` costs more than the increment.
Pool gauges (ready pods, average KV use and queue) are computed when /metrics is scraped, from
the routing table and the endpoint state, so the request path never touches them.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
DURATION_BUCKETS = (0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20,
                    30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200, 1800, 2700, 3600)

def _token_buckets() -> tuple[float, ...]:
    """vLLM's 1-2-5 series (request_prompt_tokens, request_generation_tokens) and SGLang's
    default token-histogram bounds together: every bound either server declares by default is
    one of ours, so the pods' histograms merge into ours exactly."""
    vllm = [m * 10 ** e for e in range(8) for m in (1, 2, 5)]
    sglang = [100, 300, 500, 700, 1000, 1500, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000, 12500,
              15000, 17500, 20000, 22500, 25000, 27500, 30000, 35000, 40000, 60000, 80000, 100000, 200000,
              300000, 400000, 600000, 800000, 1000000, 1100000]
    return tuple(float(b) for b in sorted(set(vllm) | set(sglang)))


TOKEN_BUCKETS = _token_buckets()
RATIO_BUCKETS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


class Telemetry:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        mt = ["model_name", "target_model_name"]
        self.requests = Counter("inference_model_request", "Requests routed, by model and target model.",
                                mt, registry=r)
        self.errors = Counter("inference_model_request_error", "Requests that failed, by error code.",
                              mt + ["error_code"], registry=r)
        self.duration = Histogram("inference_model_request_duration_seconds",
                                  "Request duration from routing to the end of the response.", mt,
                                  registry=r, buckets=DURATION_BUCKETS)
        # Fed from the pods' own per-request token histograms (token_usage.py) and, for
        # requests whose response the router reads anyway (a renamed model), from `usage`.
        self.input_tokens = TokenHistogram("inference_model_input_tokens", "Prompt tokens per request.")
        self.output_tokens = TokenHistogram("inference_model_output_tokens", "Completion tokens per request.")
        r.register(self.input_tokens)
        r.register(self.output_tokens)
        self.running = Gauge("inference_model_running_requests", "Requests routed and not yet finished.",
                             ["model_name"], registry=r)
        self.scheduler_latency = Histogram(
            "inference_extension_scheduler_e2e_duration_seconds", "Time to pick an endpoint.",
            registry=r, buckets=LATENCY_BUCKETS)
        self.prefix_hit_ratio = Histogram(
            "inference_extension_prefix_indexer_hit_ratio",
            "Share of a prompt's prefix blocks the chosen pod already held (prefix-cache pools).",
            registry=r, buckets=RATIO_BUCKETS)
        self.queue_size = Gauge("inference_extension_flow_control_queue_size",
                                "Requests waiting for capacity, by pool and criticality.",
                                ["name", "criticality"], registry=r)
        self.rejected = Counter("inference_extension_flow_control_rejected",
                                "Requests refused by admission (shed, queue full, waited too long).",
                                ["name", "criticality", "reason"], registry=r)
        self.queue_wait = Histogram("inference_extension_flow_control_queue_duration_seconds",
                                    "Time requests waited for capacity.", ["name", "criticality"],
                                    registry=r, buckets=DURATION_BUCKETS)
        self._children: dict[tuple, object] = {}
        self._pool_source: Callable[[], list[tuple[str, int, float, float]]] | None = None
        self._index_size: Callable[[], int] | None = None
        self._decode_cost: Callable[[], float] | None = None
        r.register(_PoolCollector(self))

    def child(self, metric, *labels: str):
        """`metric.labels(*labels)`, cached (the request path calls this several times)."""
        key = (id(metric), labels)
        c = self._children.get(key)
        if c is None:
            c = self._children[key] = metric.labels(*labels)
        return c

    def watch_pools(self, source: Callable[[], list[tuple[str, int, float, float]]],
                    index_size: Callable[[], int], decode_cost: Callable[[], float] | None = None) -> None:
        """`source()` → [(pool key, ready pods, average KV use, average queue)]; `decode_cost()`
        → the cost model's prefill tokens per running request per step (router/step_cost.py)."""
        self._pool_source = source
        self._index_size = index_size
        self._decode_cost = decode_cost


class TokenHistogram:
    """A histogram by (model_name, target_model_name) that accepts whole buckets as well as
    single observations: the pods report their tokens as histograms, which merge by adding
    bucket counts (`add`), bound by bound."""

    def __init__(self, name: str, documentation: str) -> None:
        self.name = name
        self.documentation = documentation
        self._series: dict[tuple[str, str], list[float]] = {}  # per bucket (last: +Inf), then sum

    def _row(self, labels: tuple[str, str]) -> list[float]:
        row = self._series.get(labels)
        if row is None:
            row = self._series[labels] = [0.0] * (len(TOKEN_BUCKETS) + 2)
        return row

    def observe(self, labels: tuple[str, str], value: float) -> None:
        row = self._row(labels)
        row[bisect_left(TOKEN_BUCKETS, value)] += 1
        row[-1] += value

    def add(self, labels: tuple[str, str], counts: list[tuple[float, float]], total: float) -> None:
        """`counts`: [(upper bound, observations in that bucket alone)]; a bound that is not
        one of ours counts in our next bound above it."""
        row = self._row(labels)
        for bound, n in counts:
            row[bisect_left(TOKEN_BUCKETS, bound)] += n
        row[-1] += total

    def collect(self):
        family = HistogramMetricFamily(self.name, self.documentation, labels=["model_name", "target_model_name"])
        for labels, row in self._series.items():
            cumulative, buckets = 0.0, []
            for bound, n in zip((*TOKEN_BUCKETS, float("inf")), row):
                cumulative += n
                buckets.append((_le(bound), cumulative))
            family.add_metric(list(labels), buckets, row[-1])
        return [family]

    def describe(self):
        return []


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


class _PoolCollector:
    def __init__(self, telemetry: Telemetry) -> None:
        self.t = telemetry

    def collect(self):
        ready = GaugeMetricFamily("inference_pool_ready_pods", "Ready endpoints per pool.", labels=["name"])
        kv = GaugeMetricFamily("inference_pool_average_kv_cache_utilization",
                               "Average KV-cache use of the pool's pods with fresh metrics (0..1).", labels=["name"])
        queue = GaugeMetricFamily("inference_pool_average_queue_size",
                                  "Average model-server waiting queue of the pool's pods.", labels=["name"])
        if self.t._pool_source is not None:
            for key, n, kv_avg, queue_avg in self.t._pool_source():
                ready.add_metric([key], n)
                kv.add_metric([key], kv_avg)
                queue.add_metric([key], queue_avg)
        size = GaugeMetricFamily("inference_extension_prefix_indexer_size",
                                 "Prefix blocks held in the router's prefix index (all pods).")
        size.add_metric([], self.t._index_size() if self.t._index_size else 0)
        families = [ready, kv, queue, size]
        if self.t._decode_cost is not None:
            decode = GaugeMetricFamily(
                "igw_scheduler_decode_tokens_per_running_request",
                "What one running request adds to each step of its pod, in prefill tokens: the cost "
                "model's decode term, fitted from the pods' ITL histograms and prefix-cache counters.")
            decode.add_metric([], self.t._decode_cost())
            families.append(decode)
        return families

    def describe(self):
        return []
