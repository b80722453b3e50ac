"""The saturation rule, in one place: admission (shed or queue while every pod is saturated)
and the scheduler's saturation filter (never pick a saturated pod while another is free) both
ask it. The Inference Extension's saturation detector defaults: waiting > 5 or KV > 0.8; a pod
without fresh metrics is assumed busy."""

from __future__ import annotations

from .endpoint_state import EndpointMetrics

MAX_WAITING = 5.0
MAX_KV = 0.8


def saturated(metrics: EndpointMetrics | None, pending: int = 0,
              max_waiting: float = MAX_WAITING, max_kv: float = MAX_KV) -> bool:
    """`metrics`: the pod's fresh metrics, None when missing or stale. `pending`: requests this
    router sent since the pod's last scrape and has not seen finish, which the scrape cannot
    show yet (counted as waiting)."""
    return metrics is None or metrics.waiting + pending > max_waiting or metrics.kv_usage > max_kv
