"""The gateway's IR and routing table → Envoy resources (listeners, clusters, endpoints).

Resources are plain dicts in Envoy's JSON form. The same resources are served over ADS by the
xDS server or packed into a static bootstrap (bootstrap.py), so there is one translation
whatever carries it. Features with a module of their own (edge limits, resilience) shape what
is built here through the hook points of features.py; each call site says `hook point`.

How a request flows through what this builds:
1. `header_mutation` strips any client-sent destination header: only the router may choose.
2. `ext_proc` sends headers and the buffered body to the router; the route's per-filter config
   tells the router which pool(s) the route targets (gRPC initial metadata `x-igw-pools`).
3. The router answers with `x-gateway-destination-endpoint: ip:port`; Envoy re-evaluates the
   route and the copy of the rule that requires that header sends it to the ORIGINAL_DST
   cluster, i.e. to exactly the chosen pod.
4. If the router is unreachable: fail-closed pools answer 503 (ext_proc `status_on_error`);
   fail-open pools fall through to the rule's other copy, a plain round-robin cluster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from inference_gateway.router.fallbacks import pool_cluster as pool_cluster_name  # the router names it too
from inference_gateway.router.table import ROUTER_READS_HEADERS, RoutingTable

from .access_log import access_log
from .one_message import REQUEST_ATTRIBUTES, hold_filter, with_one_message
from .edge_limits import EdgeLimits
from .features import FEATURES
from .resilience import retry_policy
from .envoy_pickers import backend_ext_proc, picker_cluster, picker_filter, served_header, served_to_metadata_filter
from .gateway import GatewayIR, ListenerIR, PoolBackend, RouteIR

from .envoy_names import (  # noqa: F401  (re-exported: the names the other modules import from here)
    DESTINATION_HEADER, PREFILL_HEADER, PREFILL_DST_CLUSTER, MODEL_HEADER,
    POOLS_METADATA_KEY, LISTENER_METADATA_KEY, EXT_PROC_CLUSTER, ORIGINAL_DST_CLUSTER,
    SERVED_HEADER, PICKER_FILTER, XDS_CLUSTER, T, EXT_PROC_FILTER,
    LISTENER_TYPE, CLUSTER_TYPE, ENDPOINT_TYPE, ROUTE_TYPE,
    HCM_TYPE, EXT_PROC_TYPE, EXT_PROC_PER_ROUTE_TYPE, HEADER_MUTATION_TYPE,
    ROUTER_TYPE, HTTP_OPTIONS_TYPE, HEADER_TO_METADATA_TYPE, STREAM_IDLE_TIMEOUT,
    UNLIMITED,
)


@dataclass(frozen=True)
class EnvoySettings:
    bind_address: str = "127.0.0.1"
    # Where the router's ext_proc server is. None: the extensionRef Service's cluster DNS name.
    ext_proc_address: tuple[str, int] | None = ("127.0.0.1", 9002)
    # Several router replicas (local runs; router/peer_sync.py): the ext_proc cluster's endpoints
    # instead of ext_proc_address. Envoy balances ext_proc streams over them round robin.
    ext_proc_endpoints: tuple[tuple[str, int], ...] = ()
    ext_proc_message_timeout: str = "10s"   # per message; NOTES: the 200 ms default gives 504s
    ext_proc_max_message_timeout: str = "600s"  # the router may extend it while a request queues
    connect_timeout: str = "5s"
    # Routes over RDS instead of inline in the listener: a route change then leaves the
    # listener alone (an inline change replaces the listener, and its open connections keep the
    # old routes while they drain). The in-cluster path uses it.
    rds: bool = False
    # A last route answering 404 itself (ext_proc off) for paths no HTTPRoute matches, as the
    # Gateway API asks; without it the router sees a request that carries no pool.
    not_found_route: bool = False
    edge: EdgeLimits = EdgeLimits()  # body, header, connection and heap limits, timeouts (edge.py)
    # Envoy's access log of every listener (access_log.py): a file, "-" for Envoy's standard
    # output, None for none.
    access_log: str | None = None
    # One ext_proc message per request where the rule allows it (one_message.py); False keeps
    # two everywhere (bench/overhead.py compares both).
    one_message: bool = True


@dataclass
class EnvoyResources:
    listeners: list[dict[str, Any]] = field(default_factory=list)
    clusters: list[dict[str, Any]] = field(default_factory=list)
    endpoints: list[dict[str, Any]] = field(default_factory=list)
    routes: list[dict[str, Any]] = field(default_factory=list)  # only with EnvoySettings.rds

    def by_type(self) -> dict[str, list[dict[str, Any]]]:
        out = {LISTENER_TYPE: self.listeners, CLUSTER_TYPE: self.clusters, ENDPOINT_TYPE: self.endpoints}
        if self.routes:
            out[ROUTE_TYPE] = self.routes
        return out


def _json_error(status: int, message: str, kind: str) -> dict[str, Any]:
    body = json.dumps({"error": {"message": message, "type": kind, "param": None, "code": status}})
    return {"status": status, "body": {"inline_string": body}}


def _match(route: RouteIR, require_destination: bool, require_prefill: bool = False) -> dict[str, Any]:
    match: dict[str, Any] = {}
    if route.path_type == "Exact":
        match["path"] = route.path_value
    elif route.path_type == "RegularExpression":
        match["safe_regex"] = {"regex": route.path_value}
    elif route.path_value in ("", "/"):
        match["prefix"] = "/"
    else:
        # Gateway API PathPrefix matches whole segments: /v1 matches /v1 and /v1/x, not /v10.
        match["path_separated_prefix"] = route.path_value.rstrip("/")
    headers = []
    for name, kind, value in route.headers:
        matcher = {"exact": value} if kind == "Exact" else {"safe_regex": {"regex": value}}
        headers.append({"name": name, "string_match": matcher})
    if route.method:
        headers.append({"name": ":method", "string_match": {"exact": route.method}})
    if require_destination:
        headers.append({"name": DESTINATION_HEADER, "present_match": True})
    if require_prefill:
        headers.append({"name": PREFILL_HEADER, "present_match": True})
    if headers:
        match["headers"] = headers
    return match


def _pools_metadata(backends: tuple[PoolBackend, ...]) -> str:
    """`ns/a=70,ns/b=30`: the router splits traffic between pools by these weights."""
    return ",".join(f"{b.pool}={b.weight}" for b in backends)


def _per_route_ext_proc(route: RouteIR, settings: EnvoySettings) -> dict[str, Any]:
    overrides: dict[str, Any] = {
        "grpc_initial_metadata": [{"key": POOLS_METADATA_KEY, "value": _pools_metadata(route.backends)}],
        # One pool's FailOpen is honoured only if every pool of the rule asks for it.
        "failure_mode_allow": all(b.fail_open for b in route.backends),
    }
    return {"@type": EXT_PROC_PER_ROUTE_TYPE, "overrides": overrides}


def _upstream_action(cluster: str | None = None, weighted: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    action: dict[str, Any] = {"timeout": "0s", "idle_timeout": STREAM_IDLE_TIMEOUT}
    if weighted is not None:
        action["weighted_clusters"] = {"clusters": weighted}
    else:
        action["cluster"] = cluster
    return action


def _picker_routes(route: RouteIR) -> list[dict[str, Any]]:
    """A rule with another endpoint picker behind one of its pools: one route, the pools' own
    clusters by weight, each asking its picker (`backend_ext_proc`) through PICKER_FILTER. The
    cluster's override_host balancer sends the request where the picker said, walking its
    fallbacks on failures before any response byte; a FailOpen picker that is down leaves no
    answer, and the cluster balances round robin."""
    action = _upstream_action(weighted=[
        {"name": pool_cluster_name(b.pool), "weight": max(b.weight, 1),
         "typed_per_filter_config": {PICKER_FILTER: backend_ext_proc(b)}}
        for b in route.backends])
    action["retry_policy"] = retry_policy()
    return [{
        "name": route.name,
        "match": _match(route, require_destination=False),
        "route": action,
        "response_headers_to_add": served_header(),
        "typed_per_filter_config": {"envoy.filters.http.ext_proc": {"@type": EXT_PROC_PER_ROUTE_TYPE, "disabled": True},
                                    # enabled here; each weighted cluster names its picker
                                    PICKER_FILTER: {"@type": EXT_PROC_PER_ROUTE_TYPE, "overrides": {}}},
    }]


def _unresolved_picker_route(route: RouteIR) -> dict[str, Any]:
    """A pool whose picker reference does not resolve: 503, or round robin when FailOpen."""
    errors = "; ".join(sorted({b.picker_error for b in route.backends if b.picker_error}))
    out: dict[str, Any] = {
        "name": route.name, "match": _match(route, require_destination=False),
        "typed_per_filter_config": {"envoy.filters.http.ext_proc": {"@type": EXT_PROC_PER_ROUTE_TYPE, "disabled": True}},
    }
    if all(b.fail_open for b in route.backends):
        out["route"] = _upstream_action(weighted=[
            {"name": pool_cluster_name(b.pool), "weight": max(b.weight, 1)} for b in route.backends])
    else:
        out["direct_response"] = _json_error(503, f"endpoint picker unavailable: {errors}", "ServiceUnavailable")
        out["response_headers_to_add"] = [{"header": {"key": "content-type", "value": "application/json"}}]
    return out


def _routes(route: RouteIR, settings: EnvoySettings) -> list[dict[str, Any]]:
    if route.backends and any(b.picker_error for b in route.backends):
        return _shaped(route, settings, [_unresolved_picker_route(route)])
    if any(b.picker is not None for b in route.backends):
        return _shaped(route, settings, _picker_routes(route))
    if route.error is not None or not route.backends:
        return _shaped(route, settings, [{
            "name": route.name,
            "match": _match(route, require_destination=False),
            "direct_response": _json_error(500, route.error or "no backend", "BackendNotFound"),
            "response_headers_to_add": [{"header": {"key": "content-type", "value": "application/json"}}],
            "typed_per_filter_config": {"envoy.filters.http.ext_proc": {
                "@type": EXT_PROC_PER_ROUTE_TYPE, "disabled": True}},
        }])
    per_filter = {"envoy.filters.http.ext_proc": _per_route_ext_proc(route, settings)}
    picked = {
        "name": route.name + "/picked",
        "match": _match(route, require_destination=True),
        "route": _upstream_action(ORIGINAL_DST_CLUSTER),
        "response_headers_to_add": served_header(),
        "typed_per_filter_config": per_filter,
    }
    fallback: dict[str, Any] = {"name": route.name, "match": _match(route, require_destination=False),
                                "typed_per_filter_config": per_filter}
    if all(b.fail_open for b in route.backends):
        if len(route.backends) == 1:
            fallback["route"] = _upstream_action(pool_cluster_name(route.backends[0].pool))
        else:
            fallback["route"] = _upstream_action(weighted=[
                {"name": pool_cluster_name(b.pool), "weight": b.weight} for b in route.backends])
    else:
        # Reached only if the router answered without choosing; it always chooses or refuses.
        fallback["direct_response"] = _json_error(503, "no endpoint was chosen for this request", "ServiceUnavailable")
        fallback["response_headers_to_add"] = [{"header": {"key": "content-type", "value": "application/json"}}]
    if not any(b.disaggregated for b in route.backends):
        return _shaped(route, settings, [picked, fallback])
    # Prefill/decode: the decode pod serves the client; Envoy sends the same (router-rewritten)
    # body to the prefill pod as a mirror, whose response it discards. Envoy does both sends, so
    # the router spends nothing on delivery (bench/pd_delivery.py measured the alternative).
    picked_pd = {
        "name": route.name + "/picked-prefill-decode",
        "match": _match(route, require_destination=True, require_prefill=True),
        "route": {**_upstream_action(ORIGINAL_DST_CLUSTER),
                  "request_mirror_policies": [{"cluster": PREFILL_DST_CLUSTER}]},
        "typed_per_filter_config": per_filter,
    }
    return _shaped(route, settings, [picked_pd, picked, fallback])


def _shaped(route: RouteIR, settings: EnvoySettings, routes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Hook point: each feature shapes the Envoy routes built for one HTTPRoute match."""
    for feature in FEATURES:
        for built in routes:
            feature.route(built, route, settings)
    return routes


def _http_filters(settings: EnvoySettings, listener_name: str | None = None) -> list[dict[str, Any]]:
    grpc_service: dict[str, Any] = {"envoy_grpc": {"cluster_name": EXT_PROC_CLUSTER}}
    if listener_name is not None:
        # The router resolves HTTPRoute matches on the model header per listener (it reads the
        # model from the body, which Envoy cannot match on before the router has run).
        grpc_service["initial_metadata"] = [{"key": LISTENER_METADATA_KEY, "value": listener_name}]
    return [
        {"name": "envoy.filters.http.header_mutation", "typed_config": {
            "@type": HEADER_MUTATION_TYPE,
            # Only the router chooses the pod, and the model header is the router's to set
            # (from the body): a client-sent one would steer the first route match.
            "mutations": {"request_mutations": [{"remove": DESTINATION_HEADER}, {"remove": MODEL_HEADER},
                                                {"remove": PREFILL_HEADER}, {"remove": SERVED_HEADER}]},
        }},
        {"name": EXT_PROC_FILTER, "typed_config": {
            "@type": EXT_PROC_TYPE,
            "grpc_service": grpc_service,
            "failure_mode_allow": False,
            "status_on_error": {"code": 503},
            "processing_mode": {
                "request_header_mode": "SEND",
                "response_header_mode": "SKIP",
                "request_body_mode": "BUFFERED",
                # NONE: responses (SSE included) stream to the client untouched and unbuffered.
                "response_body_mode": "NONE",
                "request_trailer_mode": "SKIP",
                "response_trailer_mode": "SKIP",
            },
            "message_timeout": settings.ext_proc_message_timeout,
            "max_message_timeout": settings.ext_proc_max_message_timeout,
            # Without this Envoy drops the metadata the router returns; forwarding sends the
            # served endpoint (`envoy.lb`) to the picker with the response headers.
            "metadata_options": {"receiving_namespaces": {"untyped": ["envoy.lb"]},
                                 "forwarding_namespaces": {"untyped": ["envoy.lb"]}},
            # The router turns on response processing per request (model rewrite back to the
            # name the client asked for, token usage) instead of paying for it on every request.
            "allow_mode_override": True,
            # Only the headers the router reads: Envoy encodes, and the router decodes, no more.
            "forward_rules": {"allowed_headers": {"patterns": [{"exact": h} for h in ROUTER_READS_HEADERS]}},
            "request_attributes": list(REQUEST_ATTRIBUTES),  # for one-message routes (one_message.py)
        }},
        picker_filter(settings.ext_proc_message_timeout, settings.ext_proc_max_message_timeout),
        served_to_metadata_filter(),
        hold_filter(settings.edge.max_body_bytes),  # holds the headers on one-message routes (one_message.py)
        {"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER_TYPE}},
    ]


def _route_config(listener: ListenerIR, settings: EnvoySettings, table: RoutingTable) -> dict[str, Any]:
    routes = [r for route in listener.routes
              for r in with_one_message(_routes(route, settings), route, listener.name, table,
                                        settings.edge.max_body_bytes, settings.one_message)]
    if settings.not_found_route:
        routes.append({
            "name": f"{listener.name}/not-found",
            "match": {"prefix": "/"},
            "direct_response": _json_error(404, "no HTTPRoute matches this request", "NotFound"),
            "response_headers_to_add": [{"header": {"key": "content-type", "value": "application/json"}}],
            "typed_per_filter_config": {"envoy.filters.http.ext_proc": {"@type": EXT_PROC_PER_ROUTE_TYPE,
                                                                        "disabled": True}},
        })
    for r in routes:  # other pickers' filter runs only where a route names a picker
        r.setdefault("typed_per_filter_config", {}).setdefault(
            PICKER_FILTER, {"@type": EXT_PROC_PER_ROUTE_TYPE, "disabled": True})
    domains = [listener.hostname, f"{listener.hostname}:*"] if listener.hostname else ["*"]
    return {"name": listener.name, "virtual_hosts": [{"name": listener.name, "domains": domains, "routes": routes}]}


def _listener(listener: ListenerIR, settings: EnvoySettings, table: RoutingTable) -> dict[str, Any]:
    hcm: dict[str, Any] = {
        "@type": HCM_TYPE,
        "stat_prefix": listener.name.replace("/", "_"),
        "codec_type": "AUTO",
        # Timeouts, buffer and header limits, local replies: edge.py (a feature, below).
        "http_filters": _http_filters(settings, listener.name),  # the router resolves model-header routes per listener
    }
    if settings.access_log is not None:
        hcm["access_log"] = access_log(settings.access_log)
    if settings.rds:
        hcm["rds"] = {"config_source": {"ads": {}, "resource_api_version": "V3"}, "route_config_name": listener.name}
    else:
        hcm["route_config"] = _route_config(listener, settings, table)
    built = {
        "name": listener.name,
        "address": {"socket_address": {"address": settings.bind_address, "port_value": listener.port}},
        "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}],
    }
    for feature in FEATURES:  # hook point: the listener and its HTTP connection manager
        feature.listener(built, hcm, listener, settings)
    return built


def _circuit_breakers() -> dict[str, Any]:
    # Envoy's defaults (1024 requests) would queue requests the router already admitted.
    return {"thresholds": [{"max_connections": UNLIMITED, "max_pending_requests": UNLIMITED,
                            "max_requests": UNLIMITED, "max_retries": 3}]}


def _http2_options() -> dict[str, Any]:
    return {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": HTTP_OPTIONS_TYPE,
        "explicit_http_config": {"http2_protocol_options": {}},
    }}


def static_cluster(name: str, host: str, port: int, settings: EnvoySettings, http2: bool = False) -> dict[str, Any]:
    cluster: dict[str, Any] = {
        "name": name,
        "type": "STRICT_DNS" if not _is_ip(host) else "STATIC",
        "connect_timeout": settings.connect_timeout,
        "load_assignment": load_assignment(name, [(host, port)]),
    }
    if http2:
        cluster["typed_extension_protocol_options"] = _http2_options()
    return cluster


def _ext_proc_replicas(endpoints: tuple[tuple[str, int], ...]) -> dict[str, Any]:
    """Several router replicas: streams go round robin, and a replica that dies leaves the
    rotation at its first refused connection (outlier detection) and returns once it accepts
    connections again (TCP health check), so only its in-flight requests are lost."""
    return {
        "load_assignment": load_assignment(EXT_PROC_CLUSTER, list(endpoints)),
        # Envoy checks at no_traffic_interval (60 s by default) while a cluster has carried no
        # routed traffic, and ext_proc's streams never count as such.
        "health_checks": [{"timeout": "0.5s", "interval": "0.5s", "no_traffic_interval": "0.5s",
                           "unhealthy_threshold": 1, "healthy_threshold": 1, "tcp_health_check": {}}],
        "outlier_detection": {"split_external_local_origin_errors": True, "consecutive_local_origin_failure": 1,
                              "enforcing_consecutive_local_origin_failure": 100, "base_ejection_time": "1s",
                              "max_ejection_percent": 100, "interval": "1s"},
    }


def _is_ip(host: str) -> bool:
    parts = host.split(".")
    return len(parts) == 4 and all(p.isdigit() for p in parts)


def load_assignment(name: str, addresses: list[tuple[str, int]]) -> dict[str, Any]:
    return {"cluster_name": name, "endpoints": [{"lb_endpoints": [
        {"endpoint": {"address": {"socket_address": {"address": h, "port_value": p}}}} for h, p in addresses
    ]}]}


def _ext_proc_target(ir: GatewayIR, settings: EnvoySettings, namespace: str) -> tuple[str, int]:
    if settings.ext_proc_address is not None:
        return settings.ext_proc_address
    for listener in ir.listeners:
        for route in listener.routes:
            for b in route.backends:
                if b.ext_proc_service:
                    ns = b.pool.split("/", 1)[0]
                    return (f"{b.ext_proc_service}.{ns}.svc.cluster.local", b.ext_proc_port)
    return (f"inference-gateway-ext-proc.{namespace}.svc.cluster.local", 9002)


def envoy_resources(ir: GatewayIR, table: RoutingTable, settings: EnvoySettings = EnvoySettings(),
                    namespace: str = "default") -> EnvoyResources:
    res = EnvoyResources()
    res.listeners = [_listener(listener, settings, table) for listener in ir.listeners]
    if settings.rds:
        res.routes = [_route_config(listener, settings, table) for listener in ir.listeners]
    host, port = _ext_proc_target(ir, settings, namespace)
    res.clusters.append(static_cluster(EXT_PROC_CLUSTER, host, port, settings, http2=True))
    if settings.ext_proc_endpoints:
        res.clusters[-1].update(_ext_proc_replicas(settings.ext_proc_endpoints))
    res.clusters.append({
        "name": ORIGINAL_DST_CLUSTER,
        "type": "ORIGINAL_DST",
        "lb_policy": "CLUSTER_PROVIDED",
        "connect_timeout": settings.connect_timeout,
        "original_dst_lb_config": {"use_http_header": True, "http_header_name": DESTINATION_HEADER},
        "cleanup_interval": "60s",
        "circuit_breakers": _circuit_breakers(),
    })
    if any(b.disaggregated for li in ir.listeners for r in li.routes for b in r.backends):
        res.clusters.append({
            "name": PREFILL_DST_CLUSTER,
            "type": "ORIGINAL_DST",
            "lb_policy": "CLUSTER_PROVIDED",
            "connect_timeout": settings.connect_timeout,
            "original_dst_lb_config": {"use_http_header": True, "http_header_name": PREFILL_HEADER},
            "cleanup_interval": "60s",
            "circuit_breakers": _circuit_breakers(),
        })
    backends = [b for li in ir.listeners for r in li.routes for b in r.backends]
    pickers = {b.picker.cluster: b.picker for b in backends if b.picker is not None}
    res.clusters += [picker_cluster(p, settings.connect_timeout, _http2_options(), static_cluster, settings)
                     for _, p in sorted(pickers.items())]
    h2c_pools = {b.pool for b in backends if b.h2c}  # v1 appProtocol kubernetes.io/h2c
    pools = sorted({b.pool for b in backends})
    for key in pools:
        name = pool_cluster_name(key)
        res.clusters.append({
            **({"typed_extension_protocol_options": _http2_options()} if key in h2c_pools else {}),
            "name": name,
            "type": "EDS",
            "eds_cluster_config": {"eds_config": {"ads": {}, "resource_api_version": "V3"}},
            "connect_timeout": settings.connect_timeout,
            "lb_policy": "ROUND_ROBIN",
            "circuit_breakers": _circuit_breakers(),
        })
        pool = table.pools.get(key)
        addresses = [(ep.ip, ep.port) for ep in pool.endpoints] if pool else []
        res.endpoints.append(load_assignment(name, addresses))
    for feature in FEATURES:  # hook point: clusters (each, then the whole set of resources)
        for cluster in res.clusters:
            feature.cluster(cluster, settings)
        feature.resources(res, settings)
    return res
