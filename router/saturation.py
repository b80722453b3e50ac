"""The saturation rule, in one place: admission (shed or queue while every pod is saturated)
and the scheduler's saturation filter (never pick a saturated pod while another is free) both
ask it. The Inference Extension's saturation detector says waiting > 5 or KV > 0.8; a pod
without fresh metrics is assumed busy.

KV use alone is not saturation here (MAX_KV 1.0: off). On pods with little KV room (a 32B model
on one GPU) it sits above 0.8 whenever the batch is full, and a pod out of KV queues requests
itself, which `waiting` shows. With 0.8 the router held requests back from pods that would have
run them: every pod looked saturated all the time (bench/REPORT.md). A config file may set it
back (`saturation.max_kv`)."""

from __future__ import annotations

from .endpoint_state import EndpointMetrics

MAX_WAITING = 5.0
MAX_KV = 1.0


def saturated(metrics: EndpointMetrics | None, pending: int = 0,
              max_waiting: float = MAX_WAITING, max_kv: float = MAX_KV) -> bool:
    """`metrics`: the pod's fresh metrics, None when missing or stale. `pending`: requests this
    router sent since the pod's last scrape and has not seen finish, which the scrape cannot
    show yet (counted as waiting)."""
    return metrics is None or metrics.waiting + pending > max_waiting or metrics.kv_usage > max_kv
