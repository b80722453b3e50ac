"""The router's Prometheus metrics, named as the Inference Extension's users already chart them.

Each `Telemetry` owns its registry (tests run several routers in one process).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class Telemetry:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("inference_model_request", "Requests routed, by model and target model.",
                                ["model_name", "target_model_name"], registry=r)
        self.errors = Counter("inference_model_request_error", "Requests the gateway refused, by error code.",
                              ["model_name", "target_model_name", "error_code"], registry=r)
        self.running = Gauge("inference_model_running_requests", "Requests routed and not yet finished.",
                             ["model_name"], registry=r)
        self.scheduler_latency = Histogram(
            "inference_extension_scheduler_e2e_duration_seconds", "Time to pick an endpoint.",
            registry=r, buckets=LATENCY_BUCKETS)
        self.ready_pods = Gauge("inference_pool_ready_pods", "Ready endpoints per pool.", ["name"], registry=r)
