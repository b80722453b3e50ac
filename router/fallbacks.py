"""Where Envoy sends a request if the chosen pod fails before answering.

The router answers `x-gateway-destination-endpoint: primary,fallback,…` (the endpoint-picker
protocol's ordered list). Envoy's `override_host` load-balancing policy takes the first
address; a retry (connect failure, refused stream, reset before any response byte) takes the
next one. So a pod that died since its last scrape costs a retry, not a failed request.

Fallbacks are a few of the pool's other pods that are not known to be down, least loaded
first. They are drawn from a small random sample, not scored over the whole pool: the
scheduler's full scoring is for the primary; a fallback is used only when the primary just
failed, and must cost next to nothing on every request.
"""

from __future__ import annotations

import random

from .endpoint_state import EndpointState
from .table import Endpoint, Pool

DESTINATION_HEADER = "x-gateway-destination-endpoint"
# Request header naming the Envoy cluster of the pool the router chose; that cluster's
# override_host policy follows the destination list (operator/translate/resilience.py).
CLUSTER_HEADER = "x-igw-pool-cluster"
POOL_CLUSTER_PREFIX = "igw-pool/"
FALLBACKS = 2   # Envoy's num_retries matches
SAMPLE = 8


def pool_cluster(pool: str) -> str:
    """The Envoy cluster of a pool (`ns/name`): the translation builds it, the router names it."""
    return POOL_CLUSTER_PREFIX + pool


def destination_list(pool: Pool, chosen: Endpoint, state: EndpointState, rng: random.Random,
                     n: int = FALLBACKS) -> str:
    """`chosen,fallback1,…` for the destination header (just `chosen` in a one-pod pool)."""
    endpoints = pool.endpoints
    if len(endpoints) <= 1 or n <= 0:
        return chosen.address
    others = [e for e in (endpoints if len(endpoints) <= SAMPLE + 1 else rng.sample(endpoints, SAMPLE + 1))
              if e.address != chosen.address and e.address not in state.down]
    if len(others) > n:
        in_flight, metrics = state.in_flight.get, state.metrics.get

        def load(e: Endpoint) -> tuple[int, float]:
            m = metrics(e.address)
            return in_flight(e.address, 0), (m.waiting if m is not None else float("inf"))

        others.sort(key=load)
    return ",".join([chosen.address, *(e.address for e in others[:n])])
