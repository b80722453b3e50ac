"""The ext_proc service driven directly (no Envoy): which pool, which target model, which
processing-mode overrides, and what the response phases do."""

import json
import random
import time

import grpc
from prometheus_client import generate_latest
from envoy.config.core.v3 import base_pb2 as core
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb

from inference_gateway.router.director import Director
from inference_gateway.router.endpoint_state import EndpointMetrics, EndpointState
from inference_gateway.router.extproc import DESTINATION_HEADER, ExtProcService
from inference_gateway.router.prefix_index import PrefixIndex
from inference_gateway.router.scheduler.scheduler import Scheduler
from inference_gateway.router.table import (
    MODEL_HEADER, Criticality, Endpoint, ModelRoute, ModelRule, Pool, RoutingTable, TableHolder, TargetModel,
)
from inference_gateway.router.telemetry import Telemetry
from inference_gateway.router.token_usage import TokenAccounting


class Context:
    """grpc.aio's servicer context as Process uses it: metadata, read() until EOF, write()."""

    def __init__(self, messages, **metadata: str) -> None:
        self.metadata = list(metadata.items())
        self.incoming = list(messages)
        self.written: list[pb.ProcessingResponse] = []

    def invocation_metadata(self):
        return self.metadata

    async def read(self):
        return self.incoming.pop(0) if self.incoming else grpc.aio.EOF

    async def write(self, message) -> None:
        self.written.append(message)


def table() -> RoutingTable:
    a = Pool("default", "a", 8000, endpoints=(Endpoint("a-0", "default", "10.0.0.1", 8000),),
             models={"chat": ModelRule("chat", Criticality.CRITICAL, (TargetModel("chat-v2", 1),))})
    b = Pool("default", "b", 8000, endpoints=(Endpoint("b-0", "default", "10.0.0.2", 8000),))
    return RoutingTable(pools={a.key: a, b.key: b}, model_routes={
        "default/gw/http": (ModelRoute("llama", (("default/b", 1),), "PathPrefix", "/v1"),)})


def service() -> ExtProcService:
    state = EndpointState()
    for addr in ("10.0.0.1:8000", "10.0.0.2:8000"):
        state.update(addr, EndpointMetrics(updated_at=time.monotonic() + 3600))
    telemetry = Telemetry()
    return ExtProcService(Director(TableHolder(table()), Scheduler(state, PrefixIndex()), state, telemetry,
                                   rng=random.Random(1), accounting=TokenAccounting(telemetry), log_requests=False))


def headers(path: str = "/v1/chat/completions", eos: bool = False) -> pb.ProcessingRequest:
    hs = [core.HeaderValue(key=":path", raw_value=path.encode()), core.HeaderValue(key="x-request-id", raw_value=b"r1")]
    return pb.ProcessingRequest(request_headers=pb.HttpHeaders(headers=core.HeaderMap(headers=hs), end_of_stream=eos))


def body(model: str, **extra) -> pb.ProcessingRequest:
    raw = json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}).encode()
    return pb.ProcessingRequest(request_body=pb.HttpBody(body=raw, end_of_stream=True))


def response_headers(content_type: str, status: int = 200) -> pb.ProcessingRequest:
    hs = [core.HeaderValue(key=":status", raw_value=str(status).encode()),
          core.HeaderValue(key="content-type", raw_value=content_type.encode())]
    return pb.ProcessingRequest(response_headers=pb.HttpHeaders(headers=core.HeaderMap(headers=hs)))


async def run(svc, messages, **metadata) -> list[pb.ProcessingResponse]:
    context = Context(messages, **metadata)
    await svc.Process(None, context)
    return context.written


def set_headers(response: pb.ProcessingResponse) -> dict[str, str]:
    common = response.request_body.response
    return {h.header.key: h.header.raw_value.decode() for h in common.header_mutation.set_headers}


async def test_canary_target_is_rewritten_and_the_response_renamed_back():
    svc = service()
    seen = []
    svc.observers.append(seen.append)
    resp_body = json.dumps({"model": "chat-v2", "usage": {"prompt_tokens": 3, "completion_tokens": 4}}).encode()
    out = await run(svc, [headers(), body("chat"), response_headers("application/json"),
                          pb.ProcessingRequest(response_body=pb.HttpBody(body=resp_body, end_of_stream=True))],
                    **{"x-igw-pools": "default/a=1"})
    # The route may rewrite, so response headers are asked for on this request only.
    assert out[0].HasField("mode_override") and out[0].mode_override.response_header_mode == 1  # SEND
    h = set_headers(out[1])
    assert h["x-gateway-destination-endpoint"] == "10.0.0.1:8000" and h["x-gateway-model-name"] == "chat"
    assert json.loads(out[1].request_body.response.body_mutation.body)["model"] == "chat-v2"
    assert out[2].mode_override.response_body_mode == 2  # BUFFERED for JSON
    assert json.loads(out[3].response_body.response.body_mutation.body)["model"] == "chat"
    assert seen[0].criticality == "Critical" and seen[0].target_model == "chat-v2"


async def test_undeclared_model_is_standard_unchanged_and_costs_no_response_message():
    svc = service()
    seen = []
    svc.observers.append(seen.append)
    out = await run(svc, [headers(), body("other")], **{"x-igw-pools": "default/b=1"})
    assert not out[0].HasField("mode_override")
    assert not out[1].request_body.response.HasField("body_mutation")
    assert (seen[0].criticality, seen[0].target_model) == ("Standard", "other")


async def test_model_header_rules_pick_the_pool_by_model():
    svc = service()
    seen = []
    svc.observers.append(seen.append)
    out = await run(svc, [headers(), body("llama")], **{"x-igw-listener": "default/gw/http"})
    assert seen[0].pool == "default/b" and set_headers(out[1])["x-gateway-model-name"] == "llama"
    out = await run(svc, [headers(), body("mistral")], **{"x-igw-listener": "default/gw/http"})
    assert out[-1].immediate_response.status.code == 404
    # Outside the rule's path, the model rule does not apply.
    out = await run(svc, [headers("/v2/chat"), body("llama")], **{"x-igw-listener": "default/gw/http"})
    assert out[-1].immediate_response.status.code == 404


async def test_usage_never_brings_a_response_through_the_router():
    """Token metrics come from the pods: a stream asking for usage costs no response message."""
    svc = service()
    out = await run(svc, [headers(), body("other", stream=True, stream_options={"include_usage": True})],
                    **{"x-igw-pools": "default/b=1"})
    assert not out[0].HasField("mode_override") and len(out) == 2


async def test_a_renamed_stream_is_streamed_back_through_the_router_and_its_usage_claimed():
    svc = service()
    out = await run(svc, [headers(), body("chat", stream=True, stream_options={"include_usage": True}),
                          response_headers("text/event-stream"),
                          pb.ProcessingRequest(response_body=pb.HttpBody(body=b'data: {"model":"chat-v2"}\n\n')),
                          pb.ProcessingRequest(response_body=pb.HttpBody(
                              body=b'data: {"model":"chat-v2","choices":[],"usage":{"prompt_tokens":3,'
                                   b'"completion_tokens":4}}\n\ndata: [DONE]\n\n', end_of_stream=True))],
                    **{"x-igw-pools": "default/a=1"})
    assert out[2].mode_override.response_body_mode == 1  # STREAMED
    assert out[3].response_body.response.body_mutation.body == b'data: {"model":"chat"}\n\n'
    assert b'"model":"chat"' in out[4].response_body.response.body_mutation.body
    text = generate_latest(svc.director.telemetry.registry).decode()
    assert 'inference_model_output_tokens_sum{model_name="chat",target_model_name="chat-v2"} 4.0' in text
    assert svc.director.accounting._claims[("10.0.0.1:8000", "generation")].sum == 4


# -- prebuilt route answers: one per (endpoint, model), never for a body rewrite --------------
async def route(svc, model: str, pools: str = "default/b=1"):
    return (await run(svc, [headers(), body(model)], **{"x-igw-pools": pools}))[-1]


async def test_same_endpoint_and_model_reuse_one_answer() -> None:
    svc = service()
    first, second = await route(svc, "llama"), await route(svc, "llama")
    assert first is second
    assert set_headers(first)[DESTINATION_HEADER] == "10.0.0.2:8000"
    assert first.dynamic_metadata.fields["envoy.lb"].struct_value.fields[DESTINATION_HEADER].string_value \
        == "10.0.0.2:8000"


async def test_another_model_gets_its_own_answer() -> None:
    svc = service()
    llama, mistral = await route(svc, "llama"), await route(svc, "mistral")
    assert llama is not mistral
    assert set_headers(llama)[MODEL_HEADER] == "llama"
    assert set_headers(mistral)[MODEL_HEADER] == "mistral"


async def test_body_rewrite_is_never_cached() -> None:
    svc = service()
    first, second = await route(svc, "chat", "default/a=1"), await route(svc, "chat", "default/a=1")
    assert first is not second
    assert first.request_body.response.body_mutation.body == second.request_body.response.body_mutation.body
    assert b'"chat-v2"' in first.request_body.response.body_mutation.body
