"""Names and type URLs the Envoy translation shares with the xDS server, the router and tests."""

from __future__ import annotations

DESTINATION_HEADER = "x-gateway-destination-endpoint"
PREFILL_HEADER = "x-gateway-prefill-endpoint"  # prefill/decode pools: the prefill pod
PREFILL_DST_CLUSTER = "igw-prefill-dst"
MODEL_HEADER = "x-gateway-model-name"
POOLS_METADATA_KEY = "x-igw-pools"
LISTENER_METADATA_KEY = "x-igw-listener"
EXT_PROC_CLUSTER = "igw-ext-proc"
ORIGINAL_DST_CLUSTER = "igw-original-dst"
# The endpoint picker protocol's report of the endpoint that served the request: Envoy adds it
# as a response header on the routes, the header_to_metadata filter moves it into `envoy.lb`
# metadata, and ext_proc forwards that namespace to the picker with the response headers.
SERVED_HEADER = "x-gateway-destination-endpoint-served"
# The second ext_proc filter: other endpoint pickers (a pool whose picker reference names
# another Service). Unlike ours it keeps the route Envoy matched first (route_cache_action
# RETAIN), so the pool cluster chosen by backendRef weight stays, and that cluster's
# override_host balancer follows the picker's answer (resilience.py), fallbacks included.
PICKER_FILTER = "igw.endpoint-picker"
# Our ext_proc filter's name in the chain: per-route configs and its filter state (the access
# log's ext_proc times) are keyed by it.
EXT_PROC_FILTER = "envoy.filters.http.ext_proc"
LB_METADATA_NAMESPACE = "envoy.lb"  # the endpoint choice's dynamic metadata (override_host, routing)
XDS_CLUSTER = "igw-xds"

T = "type.googleapis.com/"
LISTENER_TYPE = T + "envoy.config.listener.v3.Listener"
CLUSTER_TYPE = T + "envoy.config.cluster.v3.Cluster"
ENDPOINT_TYPE = T + "envoy.config.endpoint.v3.ClusterLoadAssignment"
ROUTE_TYPE = T + "envoy.config.route.v3.RouteConfiguration"
HCM_TYPE = T + "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
EXT_PROC_TYPE = T + "envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor"
EXT_PROC_PER_ROUTE_TYPE = T + "envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute"
HEADER_MUTATION_TYPE = T + "envoy.extensions.filters.http.header_mutation.v3.HeaderMutation"
ROUTER_TYPE = T + "envoy.extensions.filters.http.router.v3.Router"
HTTP_OPTIONS_TYPE = T + "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
BUFFER_TYPE = T + "envoy.extensions.filters.http.buffer.v3.Buffer"
BUFFER_PER_ROUTE_TYPE = T + "envoy.extensions.filters.http.buffer.v3.BufferPerRoute"
HEADER_TO_METADATA_TYPE = T + "envoy.extensions.filters.http.header_to_metadata.v3.Config"

# Generous: a long generation must never be cut by a proxy timeout, only by the client.
STREAM_IDLE_TIMEOUT = "600s"
UNLIMITED = 1_000_000
