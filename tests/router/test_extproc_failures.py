"""No exception on the request path escapes into the gRPC stream: a failure while routing is a
500 JSON answer to that request; a failure while a response flows leaves the response alone."""

import json
import random
import time

import grpc
from envoy.config.core.v3 import base_pb2 as core
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb

from inference_gateway.router.director import Director
from inference_gateway.router.endpoint_state import EndpointMetrics, EndpointState
from inference_gateway.router.extproc import ExtProcService
from inference_gateway.router.prefix_index import PrefixIndex
from inference_gateway.router.scheduler.scheduler import Scheduler
from inference_gateway.router.table import Endpoint, Pool, RoutingTable, TableHolder
from inference_gateway.router.telemetry import Telemetry


class Context:
    def __init__(self, messages) -> None:
        self.incoming = list(messages)
        self.written: list[pb.ProcessingResponse] = []

    def invocation_metadata(self):
        return [("x-igw-pools", "default/a=1")]

    async def read(self):
        return self.incoming.pop(0) if self.incoming else grpc.aio.EOF

    async def write(self, message) -> None:
        self.written.append(message)


def service() -> ExtProcService:
    pool = Pool("default", "a", 8000, endpoints=(Endpoint("a-0", "default", "10.0.0.1", 8000),))
    state = EndpointState()
    state.update("10.0.0.1:8000", EndpointMetrics(updated_at=time.monotonic() + 3600))
    return ExtProcService(Director(TableHolder(RoutingTable(pools={pool.key: pool})), Scheduler(state, PrefixIndex()),
                                   state, Telemetry(), rng=random.Random(1), log_requests=False))


def request() -> list[pb.ProcessingRequest]:
    hs = core.HeaderMap(headers=[core.HeaderValue(key=":path", raw_value=b"/v1/completions")])
    raw = json.dumps({"model": "m", "prompt": "hi"}).encode()
    return [pb.ProcessingRequest(request_headers=pb.HttpHeaders(headers=hs)),
            pb.ProcessingRequest(request_body=pb.HttpBody(body=raw, end_of_stream=True))]


async def test_a_failure_while_routing_is_a_500_json_answer_not_a_broken_stream():
    svc = service()

    def broken(*args, **kwargs):
        raise RuntimeError("bug")

    svc._answer = broken  # the answer to the body fails after the decision
    context = Context(request())
    await svc.Process(None, context)
    answer = context.written[-1].immediate_response
    assert answer.status.code == 500
    assert json.loads(answer.body)["error"]["type"] == "internal_error"


async def test_a_failure_while_a_response_flows_leaves_it_unchanged():
    svc = service()

    def broken(*args, **kwargs):
        raise RuntimeError("bug")

    svc._on_response_body = broken
    messages = request() + [pb.ProcessingRequest(response_body=pb.HttpBody(body=b"data: x\n\n"))]
    context = Context(messages)
    await svc.Process(None, context)
    last = context.written[-1]
    assert last.WhichOneof("response") == "response_body" and not last.response_body.HasField("response")
