"""Our router as the picker behind another gateway, driven at the ext_proc stream (no Envoy):
a full duplex body held until its end, the objective header, the subset hint and the served
endpoint, as the endpoint-picker protocol sends them."""

from __future__ import annotations

import json
import random
import time

import grpc
from envoy.config.core.v3 import base_pb2 as core
from envoy.extensions.filters.http.ext_proc.v3 import processing_mode_pb2 as pm
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb
from google.protobuf import struct_pb2

from inference_gateway.router.director import Director
from inference_gateway.router.endpoint_state import EndpointMetrics, EndpointState
from inference_gateway.router.extproc import ExtProcService
from inference_gateway.router.prefix_index import PrefixIndex
from inference_gateway.router.scheduler.scheduler import Scheduler
from inference_gateway.router.table import Criticality, Endpoint, Pool, RoutingTable, TableHolder
from inference_gateway.router.telemetry import Telemetry

ADDRESSES = ("10.0.0.1:8000", "10.0.0.2:8000", "10.0.0.3:8000")


class Context:
    def __init__(self, messages) -> None:
        self.incoming, self.written = list(messages), []

    def invocation_metadata(self):
        return []  # a foreign gateway names no pool

    async def read(self):
        return self.incoming.pop(0) if self.incoming else grpc.aio.EOF

    async def write(self, message) -> None:
        self.written.append(message)


def picker(test_selection: bool = False) -> tuple[ExtProcService, list]:
    endpoints = tuple(Endpoint(f"p-{i}", "default", a.split(":")[0], 8000) for i, a in enumerate(ADDRESSES))
    pool = Pool("default", "p", 8000, endpoints=endpoints, objectives={"batch": Criticality.SHEDDABLE})
    state = EndpointState()
    for a in ADDRESSES:
        state.update(a, EndpointMetrics(updated_at=time.monotonic() + 3600))
    director = Director(TableHolder(RoutingTable(pools={pool.key: pool})), Scheduler(state, PrefixIndex()), state,
                        Telemetry(), rng=random.Random(3), log_requests=False, default_pool="default/p")
    decisions: list = []
    director.observers.append(decisions.append)
    return ExtProcService(director, test_selection=test_selection), decisions


def metadata(namespace: str, key: str, value) -> core.Metadata:
    s = struct_pb2.Struct()
    s.update({key: value})
    return core.Metadata(filter_metadata={namespace: s})


def full_duplex_headers(extra: dict[str, str], meta: core.Metadata | None = None) -> pb.ProcessingRequest:
    hs = [core.HeaderValue(key=":path", raw_value=b"/v1/completions")] + [
        core.HeaderValue(key=k, raw_value=v.encode()) for k, v in extra.items()]
    return pb.ProcessingRequest(
        request_headers=pb.HttpHeaders(headers=core.HeaderMap(headers=hs)), metadata_context=meta,
        protocol_config=pb.ProtocolConfiguration(request_body_mode=pm.ProcessingMode.FULL_DUPLEX_STREAMED))


def chunks(raw: bytes) -> list[pb.ProcessingRequest]:
    half = len(raw) // 2
    return [pb.ProcessingRequest(request_body=pb.HttpBody(body=raw[:half])),
            pb.ProcessingRequest(request_body=pb.HttpBody(body=raw[half:], end_of_stream=True))]


async def test_full_duplex_holds_the_headers_answer_and_sends_the_body_back():
    svc, decisions = picker()
    raw = json.dumps({"model": "m", "prompt": "hello"}).encode()
    context = Context([full_duplex_headers({"x-gateway-inference-objective": "batch"}), *chunks(raw)])
    await svc.Process(None, context)
    headers, body = context.written  # nothing was written before the body's end
    assert headers.HasField("request_headers") and headers.request_headers.response.clear_route_cache
    chosen = {h.header.key: h.header.raw_value.decode() for h in
              headers.request_headers.response.header_mutation.set_headers}["x-gateway-destination-endpoint"]
    assert chosen.split(",")[0] in ADDRESSES
    assert headers.dynamic_metadata.fields["envoy.lb"].struct_value.fields["x-gateway-destination-endpoint"]
    streamed = body.request_body.response.body_mutation.streamed_response
    assert streamed.body == raw and streamed.end_of_stream
    assert decisions[0].criticality == "Sheddable"  # the InferenceObjective's priority band


async def test_the_subset_hint_and_the_served_endpoint():
    svc, decisions = picker(test_selection=True)
    hint = metadata("envoy.lb.subset_hint", "x-gateway-destination-endpoint-subset", ["10.0.0.2:8000"])
    served = pb.ProcessingRequest(
        response_headers=pb.HttpHeaders(headers=core.HeaderMap(headers=[core.HeaderValue(key=":status", raw_value=b"200")])),
        metadata_context=metadata("envoy.lb", "x-gateway-destination-endpoint-served", "10.0.0.3:8000"))
    context = Context([full_duplex_headers({}, hint), *chunks(b'{"model": "m", "prompt": "x"}'), served])
    await svc.Process(None, context)
    assert decisions[0].address == "10.0.0.2:8000"  # only the gateway's subset
    answer = context.written[-1].response_headers.response.header_mutation.set_headers
    # The gateway fell back to another endpoint; the picker's books follow it.
    assert {h.header.key: h.header.raw_value.decode() for h in answer} == \
        {"x-conformance-test-served-endpoint": "10.0.0.3:8000"}
    empty = Context([full_duplex_headers({}, metadata("envoy.lb.subset_hint", "x-gateway-destination-endpoint-subset",
                                                        ["10.9.9.9:1"])), *chunks(b'{"model": "m"}')])
    await svc.Process(None, empty)
    assert empty.written[-1].immediate_response.status.code == 503
