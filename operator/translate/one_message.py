"""One ext_proc message per request where nothing needs the request headers' answer.

The router decides from the body; the request-headers message only carries the path and the
request id, and on routes whose pools rename a model (a canary) it turns on response
processing, which Envoy accepts only in the answer to the request headers. Elsewhere a copy
of the rule's first-matched route skips the headers message: Envoy sends the path and the
request id with the body as ext_proc attributes (`request.path`, `request.id`), so a request
costs the router one message instead of two (bench/overhead.py measures both).

What that takes, as checked with Envoy 1.40:
- Skipped headers run on down the filter chain at once, and the router filter would pick the
  upstream before the router has chosen the pod. A buffer filter after ext_proc, enabled only
  on these routes, holds the headers until the whole body is in; by then ext_proc has the
  router's answer and has cleared the route cache.
- ext_proc cannot change headers it did not send ("headers aren't available"), so the answer
  routes by its dynamic metadata instead: a copy of the rule's routed (`/picked`) route per
  pool matches `envoy.lb` `x-igw-pool-cluster` and sends to that pool's cluster, whose
  override_host policy already follows the metadata's destination list (resilience.py).
- Hence the rules that need a header set by the router keep two messages: prefill/decode (the
  mirror's cluster reads the prefill header), listeners with model-header rules (Envoy
  matches `x-gateway-model-name`), and pools another endpoint picker serves.
- A request without a body would reach the router not at all (Envoy sends no body message),
  so the copy matches only requests that announce one (`content-length` > 0); the others (GET,
  an empty POST, a chunked upload) fall through to the rule's own route. So do requests with a
  header the router reads besides the path and the id (an InferenceObjective's, the
  conformance tests' endpoint selection), which only the headers message carries.

Why (bench/overhead.py's latency breakdown): Envoy waits about as long for the router's
answer to the headers as to the body (~1 ms each one request at a time on a 2-core machine),
and the headers' answer is a prebuilt message, so that wait is gRPC's, per message. Under
sustained load the per-stream cost dominates and one message saved no CPU (README, router
cost); one request at a time it takes that wait off every request's latency.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from inference_gateway.router.fallbacks import CLUSTER_HEADER, DESTINATION_HEADER, pool_cluster
from inference_gateway.router.table import OBJECTIVE_HEADER, TEST_SELECTION_HEADER

from .envoy_names import BUFFER_PER_ROUTE_TYPE, BUFFER_TYPE, EXT_PROC_FILTER, LB_METADATA_NAMESPACE

if TYPE_CHECKING:
    from inference_gateway.router.table import RoutingTable

    from .gateway import RouteIR

# Named apart from the edge's body-limit buffer (edge.py), which runs before ext_proc.
HOLD_FILTER = "igw.hold-headers"
# The ext_proc attributes the router reads from the body message (router/extproc.py); asked
# for in the filter's config (a per-route override of them was not honoured by Envoy 1.40).
REQUEST_ATTRIBUTES = ("request.path", "request.id")
ONE_MESSAGE_MODE = {
    "request_header_mode": "SKIP",
    "response_header_mode": "SKIP",
    "request_body_mode": "BUFFERED",
    "response_body_mode": "NONE",
    "request_trailer_mode": "SKIP",
    "response_trailer_mode": "SKIP",
}
_HAS_BODY = {"name": "content-length", "string_match": {"safe_regex": {"regex": "0*[1-9][0-9]*"}}}
_WITHOUT = [{"name": h, "present_match": True, "invert_match": True} for h in (OBJECTIVE_HEADER, TEST_SELECTION_HEADER)]


def hold_filter(body_limit: int) -> dict[str, Any]:
    """The HTTP filter that goes after ext_proc: off unless a one-message route turns it on."""
    return {"name": HOLD_FILTER, "disabled": True,
            "typed_config": {"@type": BUFFER_TYPE, "max_request_bytes": body_limit}}


def applies(ir: "RouteIR", listener: str, table: "RoutingTable") -> bool:
    """Whether requests on this rule may skip the headers message (see the module's doc)."""
    return (not table.renames((b.pool for b in ir.backends), listener)
            and not table.model_routes.get(listener)
            and not any(b.disaggregated or b.picker is not None or b.picker_error for b in ir.backends))


def with_one_message(routes: list[dict[str, Any]], ir: "RouteIR", listener: str, table: "RoutingTable",
                     body_limit: int, enabled: bool = True) -> list[dict[str, Any]]:
    """The Envoy routes of one rule (envoy.py, features applied), with the one-message copies
    inserted: the routed copies just after `/picked`, the first-matched copy just before the
    rule's own route. Unchanged when the rule does not qualify."""
    if not enabled or ir.error is not None or not ir.backends or not applies(ir, listener, table):
        return routes
    by_name = {r["name"]: r for r in routes}
    picked, first = by_name.get(ir.name + "/picked"), by_name.get(ir.name)
    if picked is None or first is None or "cluster_header" not in picked.get("route", {}):
        return routes
    out: list[dict[str, Any]] = []
    for r in routes:
        if r is first:
            out.append(_first_matched(first, body_limit))
        out.append(r)
        if r is picked:
            out.extend(_routed(picked, pool_cluster(b.pool)) for b in ir.backends)
    return out


def _routed(picked: dict[str, Any], cluster: str) -> dict[str, Any]:
    route = copy.deepcopy(picked)
    route["name"] = f"{picked['name']}/one-message/{cluster}"
    match = route["match"]
    headers = [h for h in match.get("headers", []) if h["name"] != DESTINATION_HEADER]
    if headers:
        match["headers"] = headers
    else:
        match.pop("headers", None)
    match["dynamic_metadata"] = [{"filter": LB_METADATA_NAMESPACE, "path": [{"key": CLUSTER_HEADER}],
                                  "value": {"string_match": {"exact": cluster}}}]
    action = route["route"]
    action.pop("cluster_header")
    action["cluster"] = cluster
    return route


def _first_matched(first: dict[str, Any], body_limit: int) -> dict[str, Any]:
    route = copy.deepcopy(first)
    route["name"] = first["name"] + "/one-message"
    route["match"].setdefault("headers", []).extend([dict(_HAS_BODY), *(dict(h) for h in _WITHOUT)])
    overrides = route["typed_per_filter_config"][EXT_PROC_FILTER]["overrides"]
    overrides["processing_mode"] = dict(ONE_MESSAGE_MODE)
    route["typed_per_filter_config"][HOLD_FILTER] = {"@type": BUFFER_PER_ROUTE_TYPE,
                                                       "buffer": {"max_request_bytes": body_limit}}
    return route
