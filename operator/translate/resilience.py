"""Envoy configuration that keeps a failing pod from failing requests (pure; dicts in Envoy's
JSON form, used by envoy.py).

The router answers an ordered list `primary,fallback,…` in `envoy.lb` metadata and names the
pool it chose (`x-igw-pool`). Per pool:
- a route matching that pool sends to the pool's EDS cluster, with a retry policy: a connect
  failure, refused stream or reset *before any response byte* is retried, at most once per
  fallback. Envoy never retries once response headers went to the client, so a stream that
  started is never replayed;
- the pool cluster balances with `envoy.load_balancing_policies.override_host`, the policy
  made for the Inference Extension: each attempt takes the next address of the list (the
  retry goes to the fallback, not back to the pod that just failed); without a list (FailOpen
  with the router down) it falls back to round robin over the pool;
- `previous_hosts` keeps a retry that ran past the list off the hosts already tried;
- outlier detection ejects a pod after a connection failure from the round-robin fallback
  (override_host follows the router's list as given; the router leaves down pods out).

The router's loss (rollout, crash) must not cut a request it already routed: ext_proc fails
*open* on every route (`failure_mode_allow`), so a broken processor stream after the routing
decision lets the response go on untouched (Envoy counts it in its ext_proc
`failure_mode_allowed` stat; that request's usage and model rename back are skipped). A
request the router never answered has no destination and matches the rule's last route:
FailClose pools answer 503 there, FailOpen pools go round robin. So FailClose still means
"no request without a routing decision", enforced by the route table, not by the filter.

The ORIGINAL_DST cluster that sends to exactly the header's one address cannot do this: its
host comes from the header, so a retry goes to the same dead pod. It stays for
prefill/decode routes, whose mirror needs it.
"""

from __future__ import annotations

from typing import Any, Callable

# The messages named by @type below, registered for the ADS server's packing (xds.py).
from envoy.extensions.load_balancing_policies.override_host.v3 import override_host_pb2  # noqa: F401
from envoy.extensions.load_balancing_policies.round_robin.v3 import round_robin_pb2  # noqa: F401
from envoy.extensions.retry.host.previous_hosts.v3 import previous_hosts_pb2  # noqa: F401

from inference_gateway.router.fallbacks import FALLBACKS, POOL_HEADER

T = "type.googleapis.com/"
OVERRIDE_HOST_TYPE = T + "envoy.extensions.load_balancing_policies.override_host.v3.OverrideHost"
ROUND_ROBIN_TYPE = T + "envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin"
PREVIOUS_HOSTS_TYPE = T + "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
LB_METADATA_NAMESPACE = "envoy.lb"

# Failures that happen before the pod answered anything: safe to send elsewhere.
RETRY_ON = "connect-failure,refused-stream,reset"
UNLIMITED = 1_000_000


def survive_router_loss() -> bool:
    """ext_proc's per-route `failure_mode_allow` (see the module docstring)."""
    return True


def retry_policy() -> dict[str, Any]:
    return {
        "retry_on": RETRY_ON,
        "num_retries": FALLBACKS,
        "retry_host_predicate": [{"name": "envoy.retry_host_predicates.previous_hosts",
                                  "typed_config": {"@type": PREVIOUS_HOSTS_TYPE}}],
        "host_selection_retry_max_attempts": 3,
        # The next pod is another pod: no reason to wait Envoy's default 25 ms+ back-off.
        "retry_back_off": {"base_interval": "0.005s", "max_interval": "0.05s"},
    }


def picked_pool_routes(backends: list[str], match: dict[str, Any], action: Callable[[str], dict[str, Any]],
                       cluster_name: Callable[[str], str], per_filter: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """One route per pool of the rule: the router's pool header → that pool's cluster, retried."""
    routes = []
    for pool in backends:
        headers = [*match.get("headers", []), {"name": POOL_HEADER, "string_match": {"exact": pool}}]
        routes.append({
            "name": f"{name}/picked/{pool}",
            "match": {**match, "headers": headers},
            "route": {**action(cluster_name(pool)), "retry_policy": retry_policy()},
            "request_headers_to_remove": [POOL_HEADER],
            "typed_per_filter_config": per_filter,
        })
    return routes


def pool_cluster(name: str, connect_timeout: str, destination_key: str) -> dict[str, Any]:
    """A pool's EDS cluster: the router's list first (override_host), round robin otherwise."""
    round_robin = {"policies": [{"typed_extension_config": {
        "name": "envoy.load_balancing_policies.round_robin", "typed_config": {"@type": ROUND_ROBIN_TYPE}}}]}
    return {
        "name": name,
        "type": "EDS",
        "eds_cluster_config": {"eds_config": {"ads": {}, "resource_api_version": "V3"}},
        "connect_timeout": connect_timeout,
        "load_balancing_policy": {"policies": [{"typed_extension_config": {
            "name": "envoy.load_balancing_policies.override_host",
            "typed_config": {
                "@type": OVERRIDE_HOST_TYPE,
                # Metadata only: a client cannot set it (the header is stripped anyway).
                "override_host_sources": [{"metadata": {"key": LB_METADATA_NAMESPACE,
                                                        "path": [{"key": destination_key}]}}],
                "fallback_policy": round_robin,
            }}}]},
        "outlier_detection": {
            "split_external_local_origin_errors": True,
            "consecutive_local_origin_failure": 1,
            "enforcing_consecutive_local_origin_failure": 100,
            "enforcing_consecutive_5xx": 0,  # a model server's 5xx is its answer, not a dead pod
            "base_ejection_time": "5s",
            "max_ejection_percent": 50,
        },
        # Envoy's defaults (1024 requests, 3 retries at once) would queue or fail what the
        # router already admitted; a pod dying under load retries many requests at once.
        "circuit_breakers": {"thresholds": [{"max_connections": UNLIMITED, "max_pending_requests": UNLIMITED,
                                             "max_requests": UNLIMITED, "max_retries": UNLIMITED}]},
    }
