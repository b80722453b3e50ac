"""The ext_proc gRPC service Envoy calls for every request: parse → admit → schedule → mutate.

One gRPC stream per HTTP request. Envoy sends the request headers, then the buffered body:
1. Headers: the router answers CONTINUE. When this request may need its response read (token
   usage, or a canary target whose name must be turned back into the one the client asked
   for), the answer also turns on response-header processing for this request only
   (`mode_override`); other requests never cost a response message.
2. Body: parse the OpenAI body; find the pool (the route's pools from the per-route metadata
   `x-igw-pools`, or the listener's HTTPRoute rules on the model header, by `model`); find
   the InferenceModel (target model by weight, criticality; an undeclared model is Standard,
   name unchanged); admit (shed / queue while the pool is saturated); pick a pod; answer with
   `x-gateway-destination-endpoint` (+ `envoy.lb` metadata), `x-gateway-model-name`, the
   body rewritten only when the target differs, and a route-cache clear so Envoy re-routes.
3. Response headers (only when turned on): the response body is asked for — STREAMED for SSE,
   BUFFERED for JSON — only when the model must be renamed back or usage is to be read.
4. Response body: `model` renamed back, `usage` read into the token histograms.
When Envoy ends the stream (the HTTP request is over), the pod's in-flight count drops and
the request's duration is recorded.

Errors become ImmediateResponses with an OpenAI-style JSON body.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
import uuid
from dataclasses import dataclass
from typing import AsyncIterator, Awaitable, Callable

import grpc
import structlog
from envoy.config.core.v3 import base_pb2 as core
from envoy.extensions.filters.http.ext_proc.v3 import processing_mode_pb2 as pm
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as pb_grpc
from envoy.type.v3 import http_status_pb2
from google.protobuf import duration_pb2, struct_pb2

from .admission import Admission
from .endpoint_state import EndpointState
from .errors import GatewayError, internal, unavailable
from .openai import InferenceRequest, parse_request
from .picker_protocol import (
    TEST_SELECTION_HEADER, TEST_SERVED_HEADER, full_duplex_answer, is_full_duplex, restrict, served_endpoint,
    subset_hint,
)
from .prefill_sender import PrefillSender
from .responses import ResponseProcessor
from .scheduler.scheduler import Scheduler
from .scheduler.types import SchedulingRequest
from .table import MODEL_HEADER, OBJECTIVE_HEADER, Criticality, Pool, RoutingTable, TableHolder
from .telemetry import Telemetry

DESTINATION_HEADER = "x-gateway-destination-endpoint"
# Prefill/decode: the prefill pod, to which Envoy mirrors the request (see translate/envoy.py).
PREFILL_HEADER = "x-gateway-prefill-endpoint"
POOLS_METADATA_KEY = "x-igw-pools"
LISTENER_METADATA_KEY = "x-igw-listener"
QUEUE_MESSAGE_MARGIN = 5.0  # seconds of Envoy message timeout beyond the longest queue wait
ROUTE_CACHE_SIZE = 65536  # prebuilt answers per (endpoint, model) and metadata; cleared whole when full

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
    criticality: str = "Standard"
    queued_ms: float = 0.0
    prefill_pod: str = ""      # prefill/decode pools: the pod that computes the prefill
    prefill_address: str = ""


Observer = Callable[[Decision], None]


def parse_pools(value: str) -> list[tuple[str, int]]:
    """`ns/a=70,ns/b=30` (set by Envoy per route) → [(pool key, weight)]."""
    out = []
    for part in value.split(","):
        key, _, weight = part.strip().partition("=")
        if key:
            out.append((key, int(weight) if weight.isdigit() else 1))
    return out


def weighted_choice(items, rng: random.Random) -> str:
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


def not_found(message: str) -> GatewayError:
    return GatewayError(404, message, "not_found_error")


_M = pm.ProcessingMode
_CONTINUE_HEADERS = pb.ProcessingResponse(request_headers=pb.HeadersResponse())
# Request headers answered, response headers wanted (the request body stays BUFFERED).
_CONTINUE_WANT_RESPONSE = pb.ProcessingResponse(
    request_headers=pb.HeadersResponse(),
    mode_override=_M(request_header_mode=_M.SEND, response_header_mode=_M.SEND, request_body_mode=_M.BUFFERED,
                     response_body_mode=_M.NONE, request_trailer_mode=_M.SKIP, response_trailer_mode=_M.SKIP))
_RESPONSE_HEADERS_PLAIN = pb.ProcessingResponse(response_headers=pb.HeadersResponse())


def _response_body_mode(mode: int) -> pb.ProcessingResponse:
    return pb.ProcessingResponse(
        response_headers=pb.HeadersResponse(),
        mode_override=_M(request_header_mode=_M.SEND, response_header_mode=_M.SEND, request_body_mode=_M.BUFFERED,
                         response_body_mode=mode, request_trailer_mode=_M.SKIP, response_trailer_mode=_M.SKIP))


_RESPONSE_STREAMED = _response_body_mode(_M.STREAMED)
_RESPONSE_BUFFERED = _response_body_mode(_M.BUFFERED)
_RESPONSE_BODY_PLAIN = pb.ProcessingResponse(response_body=pb.BodyResponse())


class _Stream:
    """What one request's stream has learned so far."""

    __slots__ = ("path", "request_id", "decision", "started", "stream", "include_usage", "processor",
                 "status", "labels", "objective", "allowed", "full_duplex", "body_parts", "answered")

    def __init__(self) -> None:
        self.path = ""
        self.request_id = ""
        self.decision: Decision | None = None
        self.started = 0.0
        self.stream = False
        self.include_usage = False
        self.processor: ResponseProcessor | None = None
        self.status = 0
        self.labels: tuple[str, str] = ("", "")
        self.objective = ""                  # x-gateway-inference-objective
        self.allowed: list[str] | None = None  # the gateway's subset hint / the test selection
        self.full_duplex = False             # the body arrives in chunks (FULL_DUPLEX_STREAMED)
        self.body_parts: list[bytes] = []
        self.answered = False


class ExtProcService(pb_grpc.ExternalProcessorServicer):
    def __init__(self, holder: TableHolder, scheduler: Scheduler, state: EndpointState,
                 telemetry: Telemetry, rng: random.Random | None = None, admission: Admission | None = None,
                 read_usage: bool = True, log_requests: bool = True,
                 prefill_sender: PrefillSender | None = None, default_pool: str = "",
                 test_selection: bool = False) -> None:
        self.holder = holder
        # Picker mode (`igw run --pool NS/NAME`): requests from a gateway that names no pool
        # (any conformant gateway sends only the standard ext_proc stream) go to this pool.
        self.default_pool = default_pool
        # Conformance only: honour `test-epp-endpoint-selection` (see picker_protocol.py).
        self.test_selection = test_selection
        # None: Envoy mirrors prefill requests (the default); else the router posts them itself.
        self.prefill_sender = prefill_sender
        self.scheduler = scheduler
        self.state = state
        self.telemetry = telemetry
        self.rng = rng or random.Random()
        self.admission = admission or Admission(state)
        self.read_usage = read_usage
        self.log_requests = log_requests
        self.observers: list[Observer] = []
        self._pools_cache: dict[str, list[tuple[str, int]]] = {}
        self._wants_response_cache: dict[tuple[int, str, str], bool] = {}
        self._metadata_cache: dict[str, struct_pb2.Struct] = {}
        self._route_cache: dict[tuple[str, str | None, bool, str | None], pb.ProcessingResponse] = {}
        self._log: structlog.typing.FilteringBoundLogger | None = None

    # -- the stream --------------------------------------------------------------------------

    async def Process(self, request_iterator: AsyncIterator[pb.ProcessingRequest],
                      context: grpc.aio.ServicerContext) -> None:
        # context.read()/write() rather than the request iterator and a response generator:
        # the same messages for less grpc.aio machinery per message (measured with
        # bench/overhead.py).
        pools = listener = ""
        for key, value in context.invocation_metadata() or ():
            if key == POOLS_METADATA_KEY:
                pools = value
            elif key == LISTENER_METADATA_KEY:
                listener = value
        s = _Stream()
        read, write = context.read, context.write
        try:
            while True:
                message = await read()
                if message is grpc.aio.EOF:
                    break
                kind = message.WhichOneof("request")
                if kind == "request_body":
                    if s.full_duplex:
                        s.body_parts.append(message.request_body.body)
                        if message.request_body.end_of_stream:
                            await self._decide_full_duplex(s, pools, listener, write)
                        continue
                    # BUFFERED mode delivers the whole body in one message.
                    await write(await self._decide(s, pools, listener, message.request_body.body, write))
                elif kind == "request_headers":
                    s.full_duplex = is_full_duplex(message)
                    for h in message.request_headers.headers.headers:
                        key = h.key
                        if key == ":path":
                            s.path = h.raw_value.decode("latin-1") if h.raw_value else h.value
                        elif key == "x-request-id":
                            s.request_id = h.raw_value.decode("latin-1") if h.raw_value else h.value
                        elif key == OBJECTIVE_HEADER:
                            s.objective = h.raw_value.decode("latin-1") if h.raw_value else h.value
                        elif key == TEST_SELECTION_HEADER and self.test_selection:
                            value = h.raw_value.decode("latin-1") if h.raw_value else h.value
                            s.allowed = [v.strip() for v in value.split(",") if v.strip()]
                    if s.allowed is None and message.HasField("metadata_context"):
                        s.allowed = subset_hint(message)
                    if message.request_headers.end_of_stream:
                        s.answered = True
                        await write(await self._decide(s, pools, listener, None, write))
                    elif s.full_duplex:
                        continue  # the headers answer waits for the body
                    elif self._wants_response(pools, listener):
                        await write(_CONTINUE_WANT_RESPONSE)
                    else:
                        await write(_CONTINUE_HEADERS)
                elif kind == "request_trailers" and s.full_duplex:
                    if not s.answered:
                        await self._decide_full_duplex(s, pools, listener, write)
                    await write(pb.ProcessingResponse(request_trailers=pb.TrailersResponse()))
                elif kind == "response_headers":
                    if message.HasField("metadata_context"):
                        self._on_served(s, served_endpoint(message))
                    await write(self._on_response_headers(s, message.response_headers))
                elif kind == "response_body":
                    await write(self._on_response_body(s, message.response_body))
                else:
                    # A phase we did not ask for (another filter's mode override): let it pass.
                    await write(_passthrough(kind))
        finally:
            # Envoy ends the stream when the HTTP request is done: the endpoint has one fewer.
            d = s.decision
            if d is not None:
                self.state.finished(d.address)
                t = self.telemetry
                t.child(t.running, d.model).dec()
                t.child(t.duration, *s.labels).observe(time.perf_counter() - s.started)

    def _request_log(self) -> structlog.typing.FilteringBoundLogger:
        """The logger of the per-request lines, bound once. structlog's module-level proxy builds
        a new logger on every call; bound at the first request (logging is configured by then),
        the router spent ~10% less CPU per request (bench/overhead.py, A/B back to back)."""
        if self._log is None:
            self._log = log.bind()
        return self._log

    # -- request ---------------------------------------------------------------------------

    def _wants_response(self, pools: str, listener: str) -> bool:
        """Whether requests on this route may need their response read: always when usage is
        read; else only when a model they may name is rewritten to another target."""
        if self.read_usage:
            return True
        table = self.holder.current
        key = (table.version, pools, listener)
        wants = self._wants_response_cache.get(key)
        if wants is None:
            keys = [k for k, _ in self._pools(pools)]
            keys += [k for rule in table.model_routes.get(listener, ()) for k, _ in rule.pools]
            wants = any(t.name != rule.model_name for k in keys if k in table.pools
                        for rule in table.pools[k].models.values() for t in rule.targets)
            if len(self._wants_response_cache) > 1024:
                self._wants_response_cache.clear()
            self._wants_response_cache[key] = wants
        return wants

    def _pools(self, value: str) -> list[tuple[str, int]]:
        parsed = self._pools_cache.get(value)
        if parsed is None:
            parsed = parse_pools(value)
            if len(self._pools_cache) > 1024:
                self._pools_cache.clear()
            self._pools_cache[value] = parsed
        return parsed

    def _resolve_pool(self, table: RoutingTable, pools: str, listener: str, path: str, model: str) -> Pool:
        choices = None
        if model and listener and table.model_routes:
            rule = table.model_route(listener, path, model)
            if rule is not None:
                choices = rule.pools
        if choices is None:
            choices = self._pools(pools)
        if not choices and self.default_pool:
            choices = [(self.default_pool, 1)]
        if not choices:
            if listener:
                raise not_found(f"no route on this listener serves model {model!r}" if model
                                else "no route matches this request")
            raise internal("route carries no pool (x-igw-pools): the Envoy configuration is not ours")
        key = weighted_choice(choices, self.rng)
        pool = table.pools.get(key)
        if pool is None:
            raise unavailable(f"pool {key} is not known to this router yet")
        return pool

    async def _decide(self, s: _Stream, pools: str, listener: str, raw: bytes | None,
                      write: Callable[[pb.ProcessingResponse], Awaitable[None]]) -> pb.ProcessingResponse:
        """The answer to the request's last message (a coroutine, not an async generator: the
        generator machinery cost more than the rare extra message, sent through `write`)."""
        started = time.perf_counter()
        request_id = s.request_id or uuid.uuid4().hex
        model = target = ""
        queued = 0.0
        t = self.telemetry
        pool: Pool | None = None
        criticality = Criticality.STANDARD
        try:
            table = self.holder.current
            request = parse_request(raw) if raw is not None else None
            model = request.model if request else ""
            pool = self._resolve_pool(table, pools, listener, s.path, model)
            if s.allowed is not None:
                pool = restrict(pool, s.allowed)
                if not pool.endpoints:
                    raise unavailable(f"no endpoint of pool {pool.key} is among those the gateway allowed")
            rule = pool.model_rule(model) if request else None
            target = weighted_choice([(x.name, x.weight) for x in rule.targets], self.rng) if rule else model
            criticality = rule.criticality if rule else Criticality.STANDARD
            if s.objective:
                criticality = pool.objectives.get(s.objective, criticality)
            if self.admission.must_wait(pool, criticality):
                # Envoy's per-message timeout (10 s) would cut the wait short: extend it once.
                await write(pb.ProcessingResponse(override_message_timeout=duration_pb2.Duration(
                    seconds=int(self.admission.settings.max_wait + QUEUE_MESSAGE_MARGIN))))
                key = pool.key
                queued = await self.admission.wait(pool, criticality, lambda: self.holder.current.pools.get(key))
                t.child(t.queue_wait, pool.key, criticality.value).observe(queued)
                table = self.holder.current
                pool = table.pools.get(key, pool)
            sreq = SchedulingRequest(model=model, target_model=target, prompt=request.prompt if request else "",
                                     criticality=criticality, body=request.body if request else None)
            prefill = None
            if pool.pd is not None and request is not None:
                # Disaggregated: the same body goes to a prefill pod and a decode pod, each
                # picked from its role's sub-pool by that role's strategy.
                prefill = self.scheduler.pick(pool.pd.prefill, sreq)
                endpoint = self.scheduler.pick(pool.pd.decode, sreq)
            else:
                endpoint = self.scheduler.pick(pool, sreq)
        except GatewayError as err:
            t.child(t.errors, model, target, str(err.status)).inc()
            reason = getattr(err, "reason", None)
            if reason is not None:
                t.child(t.rejected, pool.key if pool else "", criticality.value, reason).inc()
            self._request_log().info("Request Rejected", request_id=request_id, status=err.status, reason=err.message,
                     model=model, path=s.path)
            return _immediate(err)
        except Exception as err:  # a bug must cost one request, never the stream or the server
            log.exception("routing failed", request_id=request_id)
            return _immediate(internal(f"routing failed: {type(err).__name__}"))

        now = time.perf_counter()
        decision = Decision(
            request_id=request_id, pool=pool.key, pod=endpoint.name, address=endpoint.address,
            model=model, target_model=target, strategy=pool.strategy.value,
            decision_ms=round((now - started - queued) * 1000, 3), criticality=criticality.value,
            queued_ms=round(queued * 1000, 1), prefill_pod=prefill.name if prefill else "",
            prefill_address=prefill.address if prefill else "")
        s.decision = decision
        s.started = now
        s.labels = (model, target)
        self.state.started(endpoint.address)
        t.child(t.requests, model, target).inc()
        t.child(t.running, model).inc()
        t.scheduler_latency.observe(decision.decision_ms / 1000)
        if sreq.prefix_hit_ratio is not None:
            t.prefix_hit_ratio.observe(sreq.prefix_hit_ratio)
        if request is not None:
            s.stream = request.stream
            opts = request.body.get("stream_options")
            s.include_usage = request.stream and isinstance(opts, dict) and bool(opts.get("include_usage"))
            if target != model or self.read_usage:
                s.processor = ResponseProcessor(target, model)
        if self.log_requests:
            extra = {"prefill_pod": prefill.name, "prefill_address": prefill.address} if prefill else {}
            self._request_log().info("Request Handled", request_id=request_id, pod=endpoint.name, address=endpoint.address,
                     pool=pool.key, model=model, target_model=target, strategy=decision.strategy,
                     criticality=decision.criticality, decision_ms=decision.decision_ms,
                     queued_ms=decision.queued_ms, **extra)
        for observer in self.observers:
            observer(decision)
        changes: dict[str, object] = {}
        if prefill is not None and pool.pd is not None:
            # SGLang's disaggregation protocol: the decode pod fetches the KV of this room from
            # the prefill pod's bootstrap server.
            changes = {"bootstrap_host": prefill.ip, "bootstrap_port": pool.pd.bootstrap_port,
                       "bootstrap_room": self.rng.getrandbits(63)}
        body = None
        if request is not None and (target != model or changes):
            body = rewrite_body(request, {**changes, "model": target})
        prefill_header = prefill.address if prefill else None
        if prefill is not None and self.prefill_sender is not None:
            self.prefill_sender.send(prefill.address, s.path, body or raw or b"")
            prefill_header = None
        return self._route_to(endpoint.address, request, body, raw is not None, prefill_header)

    async def _decide_full_duplex(self, s: _Stream, pools: str, listener: str,
                                  write: Callable[[pb.ProcessingResponse], Awaitable[None]]) -> None:
        s.answered = True
        raw = b"".join(s.body_parts)
        s.body_parts = []
        decided = await self._decide(s, pools, listener, raw, write)
        if decided.HasField("immediate_response"):
            await write(decided)
            return
        for message in full_duplex_answer(decided, raw):
            await write(message)

    def _on_served(self, s: _Stream, served: str) -> None:
        """The gateway reports which endpoint served (a fallback, after a retry): the in-flight
        count follows it."""
        d = s.decision
        if d is None or not served or served == d.address:
            return
        self.state.finished(d.address)
        self.state.started(served)
        s.decision = dataclasses.replace(d, address=served)

    def _route_to(self, address: str, request: InferenceRequest | None, body: bytes | None, has_body: bool,
                  prefill_address: str | None = None) -> pb.ProcessingResponse:
        if body is not None:
            return self._build_route(address, request, body, has_body, prefill_address)
        # Without a body rewrite the answer depends on few values: built once, then reused
        # (messages are never mutated after they are built).
        key = (address, request.model if request is not None else None, has_body, prefill_address)
        response = self._route_cache.get(key)
        if response is None:
            response = self._build_route(address, request, None, has_body, prefill_address)
            if len(self._route_cache) > ROUTE_CACHE_SIZE:
                self._route_cache.clear()
            self._route_cache[key] = response
        return response

    def _build_route(self, address: str, request: InferenceRequest | None, body: bytes | None, has_body: bool,
                     prefill_address: str | None) -> pb.ProcessingResponse:
        set_headers = [_header(DESTINATION_HEADER, address)]
        if prefill_address:
            set_headers.append(_header(PREFILL_HEADER, prefill_address))
        body_mutation = None
        if request is not None:
            set_headers.append(_header(MODEL_HEADER, request.model))
            if body is not None:
                body_mutation = pb.BodyMutation(body=body)
                set_headers.append(_header("content-length", str(len(body))))
        common = pb.CommonResponse(header_mutation=pb.HeaderMutation(set_headers=set_headers),
                                   body_mutation=body_mutation, clear_route_cache=True)
        metadata = self._lb_metadata(address)
        if has_body:
            return pb.ProcessingResponse(request_body=pb.BodyResponse(response=common), dynamic_metadata=metadata)
        return pb.ProcessingResponse(request_headers=pb.HeadersResponse(response=common), dynamic_metadata=metadata)

    def _lb_metadata(self, address: str) -> struct_pb2.Struct:
        metadata = self._metadata_cache.get(address)
        if metadata is None:
            metadata = struct_pb2.Struct()
            metadata.update({"envoy.lb": {DESTINATION_HEADER: address}})
            if len(self._metadata_cache) > ROUTE_CACHE_SIZE:
                self._metadata_cache.clear()
            self._metadata_cache[address] = metadata
        return metadata

    # -- response --------------------------------------------------------------------------

    def _on_response_headers(self, s: _Stream, headers: pb.HttpHeaders) -> pb.ProcessingResponse:
        response = self._response_headers_answer(s, headers)
        if self.test_selection and s.decision is not None:
            response = pb.ProcessingResponse(response_headers=pb.HeadersResponse(response=pb.CommonResponse(
                header_mutation=pb.HeaderMutation(set_headers=[_header(TEST_SERVED_HEADER, s.decision.address)]))))
        return response

    def _response_headers_answer(self, s: _Stream, headers: pb.HttpHeaders) -> pb.ProcessingResponse:
        content_type = ""
        for h in headers.headers.headers:
            if h.key == ":status":
                s.status = int(h.raw_value or h.value or 0)
            elif h.key == "content-type":
                content_type = (h.raw_value.decode("latin-1") if h.raw_value else h.value)
        d = s.decision
        if d is not None and s.status >= 400:
            t = self.telemetry
            t.child(t.errors, d.model, d.target_model, str(s.status)).inc()
        p = s.processor
        if p is None or headers.end_of_stream or s.status >= 400 and not p.rewrites or s.full_duplex:
            # Full duplex: the gateway chose the modes; the body's mode is not ours to change.
            return _RESPONSE_HEADERS_PLAIN
        if content_type.startswith("text/event-stream"):
            if p.rewrites or s.include_usage:
                return _RESPONSE_STREAMED
            return _RESPONSE_HEADERS_PLAIN
        if "json" in content_type:
            return _RESPONSE_BUFFERED
        return _RESPONSE_HEADERS_PLAIN

    def _on_response_body(self, s: _Stream, body: pb.HttpBody) -> pb.ProcessingResponse:
        p = s.processor
        if p is None:
            return _RESPONSE_BODY_PLAIN
        if s.stream and s.status < 400:
            new = p.sse_chunk(body.body, body.end_of_stream)
            mutation = None if new is None else pb.BodyMutation(body=new)
            response = pb.ProcessingResponse(response_body=pb.BodyResponse(
                response=pb.CommonResponse(body_mutation=mutation))) if mutation is not None else _RESPONSE_BODY_PLAIN
        else:
            new = p.json_body(body.body)
            if new is None:
                response = _RESPONSE_BODY_PLAIN
            else:
                response = pb.ProcessingResponse(response_body=pb.BodyResponse(response=pb.CommonResponse(
                    header_mutation=pb.HeaderMutation(set_headers=[_header("content-length", str(len(new)))]),
                    body_mutation=pb.BodyMutation(body=new))))
        if body.end_of_stream and p.usage is not None and s.decision is not None:
            t = self.telemetry
            t.child(t.input_tokens, *s.labels).observe(p.usage.prompt_tokens)
            t.child(t.output_tokens, *s.labels).observe(p.usage.completion_tokens)
            p.usage = None
        return response


def rewrite_body(request: InferenceRequest, changes: dict[str, object]) -> bytes:
    """The request body with some fields set (re-encoded only when something changes)."""
    body = {**request.body, **changes}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _passthrough(kind: str | None) -> pb.ProcessingResponse:
    if kind == "response_headers":
        return pb.ProcessingResponse(response_headers=pb.HeadersResponse())
    if kind == "response_body":
        return pb.ProcessingResponse(response_body=pb.BodyResponse())
    if kind == "request_trailers":
        return pb.ProcessingResponse(request_trailers=pb.TrailersResponse())
    return pb.ProcessingResponse(response_trailers=pb.TrailersResponse())
