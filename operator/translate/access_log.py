"""Envoy's access log for every Gateway listener (`igw run --envoy-access-log`): one JSON line
per request, with stable keys, and the time each ext_proc message to the router took as Envoy
measured it, so an operator reads per request what the router's hop added (the same figures
`bench/overhead.py` breaks the gateway's added latency down by).

The ext_proc times come from the filter state Envoy's ext_proc filter keeps per request
(`ExtProcLoggingInfo`, read field by field): microseconds from sending a message to the router
to its answer, for the request headers and the request body, and for the response phases the
router asks for only when it renames a model (a canary). A phase that did not run is null.
"""

from __future__ import annotations

from typing import Any

from .envoy_names import EXT_PROC_FILTER, T

FILE_LOG_TYPE = T + "envoy.extensions.access_loggers.file.v3.FileAccessLog"
STDOUT_LOG_TYPE = T + "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"
STDOUT = "-"  # `--envoy-access-log -`: Envoy's standard output (a provisioned Envoy's pod log)
# Every Envoy we start writes its access log out within a second, not Envoy's default ten.
FLUSH_ARGS = ("--file-flush-interval-msec", "1000")


def _ext_proc(field: str) -> str:
    return f"%FILTER_STATE({EXT_PROC_FILTER}:FIELD:{field})%"


# key → Envoy command operator. The keys are part of our interface: add, never rename.
FIELDS: dict[str, str] = {
    "start_time": "%START_TIME%",
    "method": "%REQ(:METHOD)%",
    "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
    "protocol": "%PROTOCOL%",
    "status": "%RESPONSE_CODE%",
    "response_flags": "%RESPONSE_FLAGS%",
    "response_code_details": "%RESPONSE_CODE_DETAILS%",
    "request_id": "%REQ(X-REQUEST-ID)%",
    "route": "%ROUTE_NAME%",
    "upstream_cluster": "%UPSTREAM_CLUSTER%",
    "upstream_host": "%UPSTREAM_HOST%",          # the pod that served it
    "upstream_local_address": "%UPSTREAM_LOCAL_ADDRESS%",  # a new port: a new connection to the pod
    "downstream_remote_address": "%DOWNSTREAM_REMOTE_ADDRESS%",
    "bytes_received": "%BYTES_RECEIVED%",
    "bytes_sent": "%BYTES_SENT%",
    "duration_ms": "%DURATION%",
    "upstream_first_byte_ms": "%RESPONSE_DURATION%",  # from the request's start to the pod's first byte
    "ext_proc_request_headers_us": _ext_proc("request_header_latency_us"),
    "ext_proc_request_body_us": _ext_proc("request_body_total_latency_us"),
    "ext_proc_response_headers_us": _ext_proc("response_header_latency_us"),
    "ext_proc_response_body_us": _ext_proc("response_body_total_latency_us"),
    "ext_proc_response_body_messages": _ext_proc("response_body_call_count"),
}


def access_log(destination: str) -> list[dict[str, Any]]:
    """The HTTP connection manager's `access_log`: JSON lines to a file, or to Envoy's standard
    output when `destination` is "-"."""
    log_format = {"json_format": dict(FIELDS)}
    if destination == STDOUT:
        config: dict[str, Any] = {"@type": STDOUT_LOG_TYPE, "log_format": log_format}
        name = "envoy.access_loggers.stdout"
    else:
        config = {"@type": FILE_LOG_TYPE, "path": destination, "log_format": log_format}
        name = "envoy.access_loggers.file"
    return [{"name": name, "typed_config": config}]
