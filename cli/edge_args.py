"""`igw run` flags for the edge limits (translate/edge.py): one flag per limit, defaults from
`EdgeLimits`, so the help, the README and the configuration cannot disagree."""

from __future__ import annotations

import argparse
import dataclasses

from inference_gateway.operator.translate.edge_limits import EdgeLimits

# field → (flag, help); the default is EdgeLimits'.
_FLAGS = {
    "max_body_bytes": ("--max-body-bytes", "largest request body Envoy buffers for the router; larger gets 413"),
    "connection_buffer_bytes": ("--connection-buffer-bytes", "read buffer per client connection (flow control)"),
    "max_request_headers_kb": ("--max-request-headers-kb", "all request headers together, in KiB; more gets 431"),
    "request_headers_timeout_s": ("--request-headers-timeout", "seconds for a client to send its headers (408)"),
    "request_timeout_s": ("--request-timeout",
                          "seconds for the whole request: upload and router queue, not the answer (408; 0: off)"),
    "stream_idle_timeout_s": ("--stream-idle-timeout", "seconds without a byte either way before a stream is reset"),
    "connection_idle_timeout_s": ("--connection-idle-timeout", "seconds an idle client connection is kept"),
    "max_connections": ("--max-connections", "client connections, all listeners together"),
    "max_heap_bytes": ("--envoy-max-heap-bytes",
                       "Envoy heap the overload manager defends: frees memory, then refuses requests (503)"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("edge limits (Envoy, per Gateway listener)")
    defaults = EdgeLimits()
    for f in dataclasses.fields(EdgeLimits):
        flag, text = _FLAGS[f.name]
        default = getattr(defaults, f.name)
        g.add_argument(flag, dest=f"edge_{f.name}", type=type(default), default=default, metavar="N",
                       help=f"{text} (default {default})")


def limits(args: argparse.Namespace) -> EdgeLimits:
    try:
        return EdgeLimits(**{f.name: getattr(args, f"edge_{f.name}") for f in dataclasses.fields(EdgeLimits)})
    except ValueError as err:
        raise SystemExit(f"igw: {err}") from None
