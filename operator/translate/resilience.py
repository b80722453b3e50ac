"""Envoy configuration that keeps a failing pod, or a lost router, from failing requests: a
feature of the Envoy builder (features.py), pure.

A pod fails. The router answers an ordered list `primary,fallback,…` in `envoy.lb` metadata
(router/fallbacks.py) and names the chosen pool's cluster in `x-igw-pool-cluster`. The
route that carries a routed request sends it to that cluster (`cluster_header`) with a retry
policy: a connect failure, refused stream or reset *before any response byte* is retried, at
most once per fallback. Envoy never retries once response headers went to the client, so a
stream that started is never replayed. Each pool's EDS cluster balances with
`envoy.load_balancing_policies.override_host`, the policy made for the Inference Extension:
each attempt takes the next address of the list, so the retry goes to the fallback, not back
to the pod that just failed; without a list (FailOpen with the router down) it falls back to
round robin. `previous_hosts` keeps a retry that ran past the list off the hosts already
tried, and outlier detection ejects a pod after a connection failure from that round robin.
The ORIGINAL_DST cluster used before cannot do this: its host is the header's one address,
so a retry goes to the same dead pod. It stays for prefill/decode, whose mirror needs it.

The router goes away (rollout, crash). ext_proc fails *open* on every route
(`failure_mode_allow`): once a request is routed, a broken processor stream lets the response
go on untouched (Envoy counts it in its ext_proc `failure_mode_allowed` stat; that request's
usage and model rename back are skipped). A request the router never answered has no
destination and matches the rule's last route: FailClose pools answer 503 there, FailOpen
pools go round robin. FailClose still means "no request without a routing decision",
enforced by the route table rather than by the filter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# The messages named by @type below, registered for the ADS server's packing (xds.py).
from envoy.extensions.load_balancing_policies.override_host.v3 import override_host_pb2  # noqa: F401
from envoy.extensions.load_balancing_policies.round_robin.v3 import round_robin_pb2  # noqa: F401
from envoy.extensions.retry.host.previous_hosts.v3 import previous_hosts_pb2  # noqa: F401

from inference_gateway.router.fallbacks import CLUSTER_HEADER, DESTINATION_HEADER, FALLBACKS, POOL_CLUSTER_PREFIX

from .envoy_names import LB_METADATA_NAMESPACE

if TYPE_CHECKING:
    from .envoy import EnvoyResources, EnvoySettings
    from .gateway import ListenerIR, RouteIR

T = "type.googleapis.com/"
OVERRIDE_HOST_TYPE = T + "envoy.extensions.load_balancing_policies.override_host.v3.OverrideHost"
ROUND_ROBIN_TYPE = T + "envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin"
PREVIOUS_HOSTS_TYPE = T + "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
EXT_PROC_FILTER = "envoy.filters.http.ext_proc"
HEADER_MUTATION_FILTER = "envoy.filters.http.header_mutation"

# Failures that happen before the pod answered anything: safe to send elsewhere.
RETRY_ON = "connect-failure,refused-stream,reset"
UNLIMITED = 1_000_000


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


def override_host_policy() -> dict[str, Any]:
    round_robin = {"policies": [{"typed_extension_config": {
        "name": "envoy.load_balancing_policies.round_robin", "typed_config": {"@type": ROUND_ROBIN_TYPE}}}]}
    return {"policies": [{"typed_extension_config": {
        "name": "envoy.load_balancing_policies.override_host",
        "typed_config": {
            "@type": OVERRIDE_HOST_TYPE,
            # Metadata only: a client cannot set it (and the header is stripped anyway).
            "override_host_sources": [{"metadata": {"key": LB_METADATA_NAMESPACE,
                                                    "path": [{"key": DESTINATION_HEADER}]}}],
            "fallback_policy": round_robin,
        }}}]}


OUTLIER_DETECTION = {
    "split_external_local_origin_errors": True,
    "consecutive_local_origin_failure": 1,
    "enforcing_consecutive_local_origin_failure": 100,
    "enforcing_consecutive_5xx": 0,  # a model server's 5xx is its answer, not a dead pod
    "base_ejection_time": "5s",
    "max_ejection_percent": 50,
}


class Resilience:
    """An `EnvoyFeature` (features.py lists it; every hook is here, so it needs no import back)."""

    def bootstrap(self, bootstrap: dict[str, Any], settings: "EnvoySettings") -> None:
        pass

    def resources(self, resources: "EnvoyResources", settings: "EnvoySettings") -> None:
        pass

    def route(self, route: dict[str, Any], ir: "RouteIR", settings: "EnvoySettings") -> None:
        overrides = route.get("typed_per_filter_config", {}).get(EXT_PROC_FILTER, {}).get("overrides")
        if overrides is not None:
            overrides["failure_mode_allow"] = True  # the router's loss cuts no routed request
        action = route.get("route")
        if route.get("name", "").endswith("/picked") and action is not None:
            # The routed request: to the pool the router chose, retried on its fallbacks.
            action.pop("cluster", None)
            action["cluster_header"] = CLUSTER_HEADER
            action["retry_policy"] = retry_policy()
            route["request_headers_to_remove"] = [CLUSTER_HEADER]

    def listener(self, listener: dict[str, Any], hcm: dict[str, Any], ir: "ListenerIR",
                 settings: "EnvoySettings") -> None:
        for f in hcm.get("http_filters", []):
            if f.get("name") == HEADER_MUTATION_FILTER:  # a client must not pick the cluster
                f["typed_config"]["mutations"]["request_mutations"].append({"remove": CLUSTER_HEADER})

    def cluster(self, cluster: dict[str, Any], settings: "EnvoySettings") -> None:
        if not cluster.get("name", "").startswith(POOL_CLUSTER_PREFIX):
            return
        cluster.pop("lb_policy", None)
        cluster["load_balancing_policy"] = override_host_policy()
        cluster["outlier_detection"] = dict(OUTLIER_DETECTION)
        # Envoy's default allows 3 retries at once per cluster; a pod dying under load retries
        # many requests at once.
        for threshold in cluster.get("circuit_breakers", {}).get("thresholds", []):
            threshold["max_retries"] = UNLIMITED
