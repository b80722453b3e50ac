"""The Inference Extension's endpoint-picker protocol, the parts beyond "answer with the
destination": what lets our router serve as the picker behind any conformant gateway.

- Subset hint (gateway → picker, request): `metadata_context.filter_metadata
  ["envoy.lb.subset_hint"]["x-gateway-destination-endpoint-subset"]`, a list of `ip:port`; the
  picker must choose among those only, and answer 503 when none is eligible.
- Served endpoint (gateway → picker, response headers): `metadata_context.filter_metadata
  ["envoy.lb"]["x-gateway-destination-endpoint-served"]`, the `ip:port` that really answered
  (a fallback of the list, after a retry).
- Full duplex streaming: the Inference Extension's gateways send the body in chunks
  (`FULL_DUPLEX_STREAMED`, announced in the first message's `protocol_config`); the picker
  holds its headers answer until the body is in, then sends the body back itself.
- Test endpoint selection (conformance only, off unless enabled): request header
  `test-epp-endpoint-selection` lists IPs or `ip:port`s the choice is restricted to, and the
  served endpoint is echoed in response header `x-conformance-test-served-endpoint`, as the
  upstream conformance picker does.
"""

from __future__ import annotations

from dataclasses import replace

from envoy.config.core.v3 import base_pb2 as core
from envoy.extensions.filters.http.ext_proc.v3 import processing_mode_pb2 as pm
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb

from .table import Pool

SUBSET_NAMESPACE = "envoy.lb.subset_hint"
SUBSET_KEY = "x-gateway-destination-endpoint-subset"
SERVED_NAMESPACE = "envoy.lb"
SERVED_KEY = "x-gateway-destination-endpoint-served"
TEST_SERVED_HEADER = "x-conformance-test-served-endpoint"


def is_full_duplex(message: pb.ProcessingRequest) -> bool:
    return (message.HasField("protocol_config")
            and message.protocol_config.request_body_mode == pm.ProcessingMode.FULL_DUPLEX_STREAMED)


def _metadata_values(message: pb.ProcessingRequest, namespace: str, key: str) -> list[str]:
    fields = message.metadata_context.filter_metadata
    if namespace not in fields:
        return []
    value = fields[namespace].fields.get(key)
    if value is None:
        return []
    items = value.list_value.values if value.HasField("list_value") else [value]
    return [part.strip() for item in items for part in item.string_value.split(",") if part.strip()]


def subset_hint(message: pb.ProcessingRequest) -> list[str] | None:
    """The gateway's subset (None: no hint, choose from the whole pool)."""
    fields = message.metadata_context.filter_metadata
    if SUBSET_NAMESPACE not in fields or SUBSET_KEY not in fields[SUBSET_NAMESPACE].fields:
        return None
    return _metadata_values(message, SUBSET_NAMESPACE, SUBSET_KEY)


def served_endpoint(message: pb.ProcessingRequest) -> str:
    values = _metadata_values(message, SERVED_NAMESPACE, SERVED_KEY)
    return values[0] if values else ""


def restrict(pool: Pool, allowed: list[str]) -> Pool:
    """The pool with only the allowed endpoints: `ip` allows every port (rank) of that pod,
    `ip:port` one endpoint."""
    ips = {a for a in allowed if ":" not in a}
    addresses = {a for a in allowed if ":" in a}
    endpoints = tuple(ep for ep in pool.endpoints if ep.ip in ips or ep.address in addresses)
    return replace(pool, endpoints=endpoints)


def header(key: str, value: str) -> core.HeaderValueOption:
    return core.HeaderValueOption(header=core.HeaderValue(key=key, raw_value=value.encode()))


def full_duplex_answer(decided: pb.ProcessingResponse, body: bytes) -> tuple[pb.ProcessingResponse, pb.ProcessingResponse]:
    """A BUFFERED-style decision (headers + body mutation in one message) as full duplex's two
    messages: the held headers answer, then the whole body sent back by the picker."""
    common = decided.request_body.response if decided.HasField("request_body") else decided.request_headers.response
    new_body = common.body_mutation.body if common.HasField("body_mutation") else body
    headers_common = pb.CommonResponse(header_mutation=common.header_mutation, clear_route_cache=True)
    headers = pb.ProcessingResponse(request_headers=pb.HeadersResponse(response=headers_common),
                                    dynamic_metadata=decided.dynamic_metadata)
    body_answer = pb.ProcessingResponse(request_body=pb.BodyResponse(response=pb.CommonResponse(
        body_mutation=pb.BodyMutation(streamed_response=pb.StreamedBodyResponse(body=new_body, end_of_stream=True)))))
    return headers, body_answer
