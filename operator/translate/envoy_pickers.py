"""Envoy pieces for other endpoint pickers (a pool whose picker reference names another
Service) and for the served-endpoint report every picker gets. See translate/pickers.py for
which picker serves a pool; envoy.py puts these pieces into routes, filters and clusters."""

from __future__ import annotations

from typing import Any

from .envoy_names import (
    EXT_PROC_CLUSTER, EXT_PROC_PER_ROUTE_TYPE, EXT_PROC_TYPE, HEADER_TO_METADATA_TYPE, PICKER_FILTER,
    POOLS_METADATA_KEY, SERVED_HEADER,
)
from .gateway import PoolBackend
from .pickers import PickerTarget

# What an external endpoint picker is sent: the Inference Extension's gateways stream the body
# in full duplex (their pickers hold the headers answer until the body is in) and send the
# response headers, which carry the served-endpoint report.
PICKER_MODE = {
    "request_header_mode": "SEND", "response_header_mode": "SEND",
    "request_body_mode": "FULL_DUPLEX_STREAMED", "response_body_mode": "NONE",
    "request_trailer_mode": "SEND", "response_trailer_mode": "SKIP",
}


def backend_ext_proc(backend: PoolBackend) -> dict[str, Any]:
    """One pool's picker, as the per-filter config of its weighted cluster: Envoy picks the
    cluster (by backendRef weight) when it matches the route, so each pool's own picker is
    asked, with its own failure mode. A pool of ours in such a rule asks our router the same way."""
    overrides: dict[str, Any] = {"failure_mode_allow": backend.fail_open}
    if backend.picker is None:
        overrides["grpc_service"] = {"envoy_grpc": {"cluster_name": EXT_PROC_CLUSTER}}
        overrides["grpc_initial_metadata"] = [{"key": POOLS_METADATA_KEY, "value": f"{backend.pool}=1"}]
    else:
        overrides["grpc_service"] = {"envoy_grpc": {"cluster_name": backend.picker.cluster}}
        overrides["processing_mode"] = PICKER_MODE
    return {"@type": EXT_PROC_PER_ROUTE_TYPE, "overrides": overrides}


def served_header() -> list[dict[str, Any]]:
    """The endpoint that really answered (after retries), as a response header the
    header_to_metadata filter turns into `envoy.lb` metadata for the picker."""
    return [{"header": {"key": SERVED_HEADER, "value": "%UPSTREAM_REMOTE_ADDRESS%"},
             "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}]


def picker_cluster(picker: PickerTarget, connect_timeout: str, http2: dict[str, Any], static_cluster,
                   settings: Any) -> dict[str, Any]:
    """The picker's ext_proc cluster: its pods (locally) or its Service's DNS name (in a cluster)."""
    if picker.dns is not None:
        return static_cluster(picker.cluster, picker.dns, picker.port, settings, http2=True)
    return {"name": picker.cluster, "type": "STATIC", "connect_timeout": connect_timeout,
            "load_assignment": {"cluster_name": picker.cluster, "endpoints": [{"lb_endpoints": [
                {"endpoint": {"address": {"socket_address": {"address": h, "port_value": p}}}}
                for h, p in picker.addresses]}]},
            "typed_extension_protocol_options": http2}


def picker_filter(message_timeout: str, max_message_timeout: str) -> dict[str, Any]:
    """The second ext_proc filter, for other pickers (see envoy_names.PICKER_FILTER)."""
    # Disabled unless a route enables it (only routes to other pickers' pools do): a request no
    # route matches, or one our router handled, never reaches it.
    return {"name": PICKER_FILTER, "disabled": True, "typed_config": {
        "@type": EXT_PROC_TYPE,
        # Every route names its picker's cluster (or disables this filter); this is a default.
        "grpc_service": {"envoy_grpc": {"cluster_name": EXT_PROC_CLUSTER}},
        "failure_mode_allow": False,
        "status_on_error": {"code": 503},
        "processing_mode": PICKER_MODE,
        "message_timeout": message_timeout,
        "max_message_timeout": max_message_timeout,
        "metadata_options": {"receiving_namespaces": {"untyped": ["envoy.lb"]},
                             "forwarding_namespaces": {"untyped": ["envoy.lb"]}},
        "route_cache_action": "RETAIN",
    }}


def served_to_metadata_filter() -> dict[str, Any]:
    """Response filters run in reverse: this one, before the ext_proc filters, turns the
    served-endpoint header the route added into `envoy.lb` metadata, and removes the header."""
    return {"name": "envoy.filters.http.header_to_metadata", "typed_config": {
        "@type": HEADER_TO_METADATA_TYPE,
        "response_rules": [{"header": SERVED_HEADER, "remove": True, "on_header_present": {
            "metadata_namespace": "envoy.lb", "key": SERVED_HEADER, "type": "STRING"}}],
    }}
