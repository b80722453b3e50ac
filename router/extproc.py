"""The ext_proc gRPC service Envoy calls for every request: parse → schedule → mutate.

Envoy sends the request headers, then the buffered body. The router answers the headers with
CONTINUE (or decides at once when there is no body), and the body with the chosen endpoint in
`x-gateway-destination-endpoint` (plus `envoy.lb` metadata), the body rewritten when an
InferenceModel maps the model to another target, and a route-cache clear so Envoy re-routes
on that header. Errors become ImmediateResponses with an OpenAI-style JSON body.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from dataclasses import dataclass
from typing import AsyncIterator, Callable

import grpc
import structlog
from envoy.config.core.v3 import base_pb2 as core
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as pb_grpc
from envoy.type.v3 import http_status_pb2
from google.protobuf import struct_pb2

from .endpoint_state import EndpointState
from .errors import GatewayError, internal, unavailable
from .openai import InferenceRequest, parse_request
from .scheduler.scheduler import Scheduler
from .scheduler.types import SchedulingRequest
from .table import Criticality, ModelRule, Pool, RoutingTable, TableHolder
from .telemetry import Telemetry

DESTINATION_HEADER = "x-gateway-destination-endpoint"
MODEL_HEADER = "x-gateway-model-name"
POOLS_METADATA_KEY = "x-igw-pools"

log = structlog.get_logger("router")


@dataclass(frozen=True, slots=True)
class Decision:
    """What the router decided for one request; logged as `Request Handled` and observable."""

    request_id: str
    pool: str
    pod: str
    address: str
    model: str
    target_model: str
    strategy: str
    decision_ms: float


Observer = Callable[[Decision], None]


def parse_pools(value: str) -> list[tuple[str, int]]:
    """`ns/a=70,ns/b=30` (set by Envoy per route) → [(pool key, weight)]."""
    out = []
    for part in value.split(","):
        key, _, weight = part.strip().partition("=")
        if key:
            out.append((key, int(weight) if weight.isdigit() else 1))
    return out


def weighted_choice(items: list[tuple[str, int]], rng: random.Random) -> str:
    if len(items) == 1:
        return items[0][0]
    total = sum(w for _, w in items)
    point = rng.random() * total
    for item, weight in items:
        point -= weight
        if point < 0:
            return item
    return items[-1][0]


def _header(key: str, value: str) -> core.HeaderValueOption:
    return core.HeaderValueOption(header=core.HeaderValue(key=key, raw_value=value.encode()))


def _immediate(err: GatewayError) -> pb.ProcessingResponse:
    return pb.ProcessingResponse(immediate_response=pb.ImmediateResponse(
        status=http_status_pb2.HttpStatus(code=err.status),
        headers=pb.HeaderMutation(set_headers=[_header("content-type", "application/json")]),
        body=err.body(),
        details=err.type,
    ))


_CONTINUE_HEADERS = pb.ProcessingResponse(request_headers=pb.HeadersResponse())


class ExtProcService(pb_grpc.ExternalProcessorServicer):
    def __init__(self, holder: TableHolder, scheduler: Scheduler, state: EndpointState,
                 telemetry: Telemetry, rng: random.Random | None = None) -> None:
        self.holder = holder
        self.scheduler = scheduler
        self.state = state
        self.telemetry = telemetry
        self.rng = rng or random.Random()
        self.observers: list[Observer] = []

    async def Process(self, request_iterator: AsyncIterator[pb.ProcessingRequest],
                      context: grpc.aio.ServicerContext) -> AsyncIterator[pb.ProcessingResponse]:
        pools = ""
        for key, value in context.invocation_metadata() or ():
            if key == POOLS_METADATA_KEY:
                pools = value
        headers: dict[str, str] = {}
        decision: Decision | None = None
        try:
            async for message in request_iterator:
                kind = message.WhichOneof("request")
                if kind == "request_headers":
                    headers = {h.key: (h.raw_value.decode("latin-1") if h.raw_value else h.value)
                               for h in message.request_headers.headers.headers
                               if h.key in (":path", ":method", "x-request-id")}
                    if message.request_headers.end_of_stream:
                        response, decision = self._decide(pools, headers, None)
                        yield response
                    else:
                        yield _CONTINUE_HEADERS
                elif kind == "request_body":
                    # BUFFERED mode delivers the whole body in one message.
                    response, decision = self._decide(pools, headers, message.request_body.body)
                    yield response
                else:
                    # A phase we did not ask for (another filter's mode override): let it pass.
                    yield _passthrough(kind)
        finally:
            # Envoy ends the stream when the HTTP request is done: the endpoint has one fewer.
            if decision is not None:
                self.state.finished(decision.address)
                self.telemetry.running.labels(decision.model).dec()

    def _decide(self, pools: str, headers: dict[str, str], raw: bytes | None
                ) -> tuple[pb.ProcessingResponse, Decision | None]:
        started = time.perf_counter()
        request_id = headers.get("x-request-id") or uuid.uuid4().hex
        model = target = ""
        try:
            table = self.holder.current
            pool = self._pool(table, pools)
            request = parse_request(raw) if raw is not None else None
            model = request.model if request else ""
            rule = pool.models.get(model) if request else None
            target = weighted_choice([(t.name, t.weight) for t in rule.targets], self.rng) if rule else model
            criticality = rule.criticality if rule else Criticality.STANDARD
            endpoint = self.scheduler.pick(pool, SchedulingRequest(
                model=model, target_model=target, prompt=request.prompt if request else "",
                criticality=criticality))
        except GatewayError as err:
            self.telemetry.errors.labels(model, target, str(err.status)).inc()
            log.info("Request Rejected", request_id=request_id, status=err.status, reason=err.message,
                     model=model, path=headers.get(":path"))
            return _immediate(err), None
        except Exception as err:  # a bug must cost one request, never the stream or the server
            log.exception("routing failed", request_id=request_id)
            return _immediate(internal(f"routing failed: {type(err).__name__}")), None

        decision = Decision(
            request_id=request_id, pool=pool.key, pod=endpoint.name, address=endpoint.address,
            model=model, target_model=target, strategy=pool.strategy.value,
            decision_ms=round((time.perf_counter() - started) * 1000, 3))
        self.state.started(endpoint.address)
        self.telemetry.requests.labels(model, target).inc()
        self.telemetry.running.labels(model).inc()
        self.telemetry.scheduler_latency.observe(decision.decision_ms / 1000)
        log.info("Request Handled", request_id=request_id, pod=endpoint.name, address=endpoint.address,
                 pool=pool.key, model=model, target_model=target, strategy=decision.strategy,
                 decision_ms=decision.decision_ms)
        for observer in self.observers:
            observer(decision)
        return self._route_to(endpoint.address, request, target, raw is not None), decision

    def _pool(self, table: RoutingTable, pools: str) -> Pool:
        choices = parse_pools(pools)
        if not choices:
            raise internal("route carries no pool (x-igw-pools): the Envoy configuration is not ours")
        key = weighted_choice(choices, self.rng)
        pool = table.pools.get(key)
        if pool is None:
            raise unavailable(f"pool {key} is not known to this router yet")
        return pool

    def _route_to(self, address: str, request: InferenceRequest | None, target: str, has_body: bool
                  ) -> pb.ProcessingResponse:
        set_headers = [_header(DESTINATION_HEADER, address)]
        body_mutation = None
        if request is not None:
            set_headers.append(_header(MODEL_HEADER, request.model))
            if target != request.model:
                body = rewrite_model(request, target)
                body_mutation = pb.BodyMutation(body=body)
                set_headers.append(_header("content-length", str(len(body))))
        common = pb.CommonResponse(header_mutation=pb.HeaderMutation(set_headers=set_headers),
                                   body_mutation=body_mutation, clear_route_cache=True)
        metadata = struct_pb2.Struct()
        metadata.update({"envoy.lb": {DESTINATION_HEADER: address}})
        if has_body:
            return pb.ProcessingResponse(request_body=pb.BodyResponse(response=common), dynamic_metadata=metadata)
        return pb.ProcessingResponse(request_headers=pb.HeadersResponse(response=common), dynamic_metadata=metadata)


def rewrite_model(request: InferenceRequest, target: str) -> bytes:
    body = dict(request.body)
    body["model"] = target
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _passthrough(kind: str | None) -> pb.ProcessingResponse:
    if kind == "response_headers":
        return pb.ProcessingResponse(response_headers=pb.HeadersResponse())
    if kind == "response_body":
        return pb.ProcessingResponse(response_body=pb.BodyResponse())
    if kind == "request_trailers":
        return pb.ProcessingResponse(request_trailers=pb.TrailersResponse())
    return pb.ProcessingResponse(response_trailers=pb.TrailersResponse())
