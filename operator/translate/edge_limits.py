"""The limits Envoy enforces at the edge and their defaults, sized for LLM traffic (edge.py
writes them into Envoy's configuration; `igw run` has a flag for each)."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class EdgeLimits:
    """Every limit Envoy enforces at the edge; `igw run --help` names the knob of each."""

    max_body_bytes: int = 16 * MIB         # a request body larger than this gets 413
    connection_buffer_bytes: int = 1 * MIB  # read buffer per client connection (flow control)
    max_request_headers_kb: int = 64        # all request headers together; more gets 431
    request_headers_timeout_s: float = 10.0
    request_timeout_s: float = 300.0        # upload + router queue; 0 disables
    stream_idle_timeout_s: float = 600.0    # no byte either way; a long prefill must fit in it
    connection_idle_timeout_s: float = 300.0
    max_connections: int = 10_000           # client connections, all listeners together
    max_heap_bytes: int = 768 * MIB         # the overload manager acts as the heap nears this

    def __post_init__(self) -> None:
        if self.max_body_bytes < self.connection_buffer_bytes:
            raise ValueError("max_body_bytes must be at least connection_buffer_bytes")
        if not 1 <= self.max_request_headers_kb <= 8192:
            raise ValueError("max_request_headers_kb must be in 1..8192 (Envoy's range)")
