"""The edge: what Envoy itself bounds before a request reaches the router, and the JSON body of
every reply Envoy makes on its own.

Envoy's edge best practices, sized for LLM traffic (a long-context prompt of several MB is a
legitimate request; an answer may stream for minutes):
- the overload manager watches Envoy's heap and the number of client connections: it frees
  memory, then stops taking requests, before the kernel would kill the process;
- a client connection buffers at most `connection_buffer_bytes` (flow control), and a request
  body at most `max_body_bytes` (the router needs the whole body: larger ones get 413);
- headers must arrive within `request_headers_timeout` and the whole request (upload, plus
  any wait in the router's admission queue) within `request_timeout`. Envoy disarms that timer
  once the request has gone upstream or the response has started, so it never cuts a
  generation; `stream_idle_timeout` (no byte either way) is the only other clock on a stream;
- paths are normalised and repeated slashes merged before routes match; escaped slashes are
  refused;
- every reply Envoy generates itself (no route, body too large, router unreachable, pod
  unreachable, malformed HTTP, overload) gets an OpenAI-style JSON error body with the status
  the Inference Extension uses. Replies that already carry JSON (the router's own errors, our
  direct responses) pass unchanged.

The limits themselves (`EdgeLimits`, their defaults) are in edge_limits.py; `Edge` is the
Envoy builder's feature (features.py) that writes them into the bootstrap, each listener and
each route.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .edge_limits import EdgeLimits
from .envoy_names import BUFFER_TYPE
from .feature import EnvoyFeature

if TYPE_CHECKING:
    from .envoy import EnvoySettings
    from .gateway import ListenerIR, RouteIR

T = "type.googleapis.com/"
CEL_FILTER_TYPE = T + "envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter"
FIXED_HEAP_TYPE = T + "envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig"
CONNECTIONS_TYPE = T + "envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig"
HEAP = "envoy.resource_monitors.fixed_heap"
CONNECTIONS = "envoy.resource_monitors.global_downstream_max_connections"


def _duration(seconds: float) -> str:
    return f"{seconds:g}s"


def listener_fields(limits: EdgeLimits) -> dict[str, Any]:
    return {"per_connection_buffer_limit_bytes": limits.connection_buffer_bytes}


def hcm_fields(limits: EdgeLimits) -> dict[str, Any]:
    """Fields of the HTTP connection manager: timeouts, header limits, paths, local replies."""
    return {
        "use_remote_address": True,  # the edge: the client's address is the peer's
        "preserve_external_request_id": True,  # a client's x-request-id names its request in our logs
        "max_request_headers_kb": limits.max_request_headers_kb,
        "request_headers_timeout": _duration(limits.request_headers_timeout_s),
        "request_timeout": _duration(limits.request_timeout_s),
        "stream_idle_timeout": _duration(limits.stream_idle_timeout_s),
        "common_http_protocol_options": {"idle_timeout": _duration(limits.connection_idle_timeout_s)},
        "http2_protocol_options": {"max_concurrent_streams": 100, "initial_stream_window_size": 65536,
                                   "initial_connection_window_size": limits.connection_buffer_bytes},
        "normalize_path": True,
        "merge_slashes": True,
        "path_with_escaped_slashes_action": "REJECT_REQUEST",
        "local_reply_config": local_reply_config(limits),
    }


def http_filters(limits: EdgeLimits) -> list[dict[str, Any]]:
    """The body limit, ahead of ext_proc. Envoy's buffer filter raises this stream's buffer
    limit from the connection's (`connection_buffer_bytes`, which bounds every other stream
    and idle connection) to `max_body_bytes`, and answers 413 past it. (A route's
    `request_body_buffer_limit` does not reach ext_proc's buffer in Envoy 1.40: measured.)"""
    return [{"name": "envoy.filters.http.buffer", "typed_config": {
        "@type": BUFFER_TYPE, "max_request_bytes": limits.max_body_bytes}}]


# (status, OpenAI error type, message). Envoy's response code details (e.g.
# `no_healthy_upstream`) follow the message: they say which of several causes it was.
_REPLIES: tuple[tuple[int, str, str], ...] = (
    (400, "invalid_request_error", "malformed HTTP request"),
    (404, "not_found_error", "no route matches this request"),
    (408, "timeout", "the request was not received in time"),
    (413, "invalid_request_error", "request body is larger than the gateway's limit of {max_body_bytes} bytes"),
    (429, "rate_limit_exceeded", "too many requests"),
    (431, "invalid_request_error",
     "request headers are larger than the gateway's limit of {max_request_headers_kb} KiB"),
    (502, "service_unavailable", "the model server gave an invalid answer"),
    (503, "service_unavailable", "service unavailable"),
    (504, "timeout", "the model server did not answer in time"),
)

# Replies that already carry a JSON body are left alone: the router's ImmediateResponses and
# our direct responses set `content-type: application/json` before the mapper runs.
_NOT_JSON = ("!('content-type' in response.headers) || "
             "!response.headers['content-type'].contains('json')")


def _body_format(kind: str, message: str) -> dict[str, Any]:
    # A value that is one command operator keeps its type: "code" is a number.
    return {"json_format": {"error": {"message": message + " (%RESPONSE_CODE_DETAILS%)", "type": kind,
                                      "param": None, "code": "%RESPONSE_CODE%"}}}


def _status_filter(op: str, status: int) -> dict[str, Any]:
    return {"status_code_filter": {"comparison": {
        "op": op, "value": {"default_value": status, "runtime_key": f"igw.local_reply.{op.lower()}_{status}"}}}}


def _mapper(status_filter: dict[str, Any], kind: str, message: str) -> dict[str, Any]:
    return {"filter": {"and_filter": {"filters": [
        {"extension_filter": {"name": "envoy.access_loggers.extension_filters.cel",
                              "typed_config": {"@type": CEL_FILTER_TYPE, "expression": _NOT_JSON}}},
        status_filter,
    ]}}, "body_format_override": _body_format(kind, message)}


def local_reply_config(limits: EdgeLimits) -> dict[str, Any]:
    """Envoy's own replies → `{"error": {"message", "type", "param", "code"}}`, the shape the
    router and OpenAI use. One mapper per status for its type, then catch-alls by class."""
    values = {"max_body_bytes": limits.max_body_bytes, "max_request_headers_kb": limits.max_request_headers_kb}
    mappers = [_mapper(_status_filter("EQ", status), kind, message.format(**values))
               for status, kind, message in _REPLIES]
    mappers.append(_mapper(_status_filter("GE", 500), "internal_error", "gateway error"))
    mappers.append(_mapper(_status_filter("GE", 400), "invalid_request_error", "request refused"))
    return {"mappers": mappers}


def overload_manager(limits: EdgeLimits) -> dict[str, Any]:
    """Bootstrap `overload_manager`: as the heap nears its limit Envoy first returns free
    memory to the system, then resets the streams holding the most buffered bytes (HTTP/2),
    then stops taking new requests and connections (503 JSON) until memory is back."""
    def at(value: float) -> list[dict[str, Any]]:
        return [{"name": HEAP, "threshold": {"value": value}}]

    return {
        "refresh_interval": "0.25s",
        "resource_monitors": [
            {"name": HEAP, "typed_config": {"@type": FIXED_HEAP_TYPE,
                                            "max_heap_size_bytes": str(limits.max_heap_bytes)}},
            {"name": CONNECTIONS, "typed_config": {"@type": CONNECTIONS_TYPE,
                                                   "max_active_downstream_connections": str(limits.max_connections)}},
        ],
        "actions": [
            {"name": "envoy.overload_actions.shrink_heap", "triggers": at(0.90)},
            {"name": "envoy.overload_actions.reset_high_memory_stream", "triggers": [
                {"name": HEAP, "scaled": {"scaling_threshold": 0.85, "saturation_threshold": 0.95}}]},
            {"name": "envoy.overload_actions.reduce_timeouts", "triggers": [
                {"name": HEAP, "scaled": {"scaling_threshold": 0.85, "saturation_threshold": 0.95}}],
             "typed_config": {"@type": T + "envoy.config.overload.v3.ScaleTimersOverloadActionConfig",
                              "timer_scale_factors": [
                                  {"timer": "HTTP_DOWNSTREAM_CONNECTION_IDLE", "min_scale": {"value": 10}}]}},
            {"name": "envoy.overload_actions.stop_accepting_requests", "triggers": at(0.95)},
            {"name": "envoy.overload_actions.stop_accepting_connections", "triggers": at(0.98)},
        ],
        # Per-stream memory accounts of 1 MiB and more are tracked for reset_high_memory_stream.
        "buffer_factory_config": {"minimum_account_to_track_power_of_two": 20},
    }


class Edge(EnvoyFeature):
    """The builder's hooks: the overload manager in every bootstrap, the limits and the local
    replies on every listener, the stream idle timeout on every route."""

    def bootstrap(self, bootstrap: dict[str, Any], settings: "EnvoySettings") -> None:
        bootstrap["overload_manager"] = overload_manager(settings.edge)

    def listener(self, listener: dict[str, Any], hcm: dict[str, Any], ir: "ListenerIR",
                 settings: "EnvoySettings") -> None:
        listener.update(listener_fields(settings.edge))
        hcm.update(hcm_fields(settings.edge))
        hcm["http_filters"][:0] = http_filters(settings.edge)  # before ext_proc buffers the body

    def route(self, route: dict[str, Any], ir: "RouteIR", settings: "EnvoySettings") -> None:
        if "route" in route:  # a route's idle timeout overrides the connection manager's
            route["route"]["idle_timeout"] = _duration(settings.edge.stream_idle_timeout_s)
