"""The ext_proc gRPC stream Envoy opens for every request: reads its messages, asks the
director (director.py) for the decision, and answers in Envoy's protocol.

One gRPC stream per HTTP request. Envoy sends the request headers, then the buffered body (on
routes where nothing is renamed and the request has a body, only the body, with the path and
the request id as attributes: operator/translate/one_message.py):
1. Headers: the router answers CONTINUE. When a model on this route is renamed to another
   target (a canary), whose name must be turned back into the one the client asked for, the
   answer also turns on response-header processing for this request (`mode_override`; Envoy
   takes it only here, before the body names the model). Other routes never cost a response
   message: token usage comes from the pods' own metrics (token_usage.py), so their responses
   go from the pod through Envoy to the client without the router.
2. Body: the director decides; the answer carries `x-gateway-destination-endpoint` (+ `envoy.lb`
   metadata), `x-gateway-model-name`, the body rewritten only when the target differs, and a
   route-cache clear so Envoy re-routes.
3. Response headers (renaming routes only): the response body is asked for — STREAMED for SSE,
   BUFFERED for JSON — only when this request's model is renamed.
4. Response body: `model` renamed back by a bytes replace (no JSON decode per chunk), `usage`
   read on the way and claimed from the pod's own count.
When Envoy ends the stream (the HTTP request is over), the director closes the request's books.

Behind another gateway (picker mode, router/picker_protocol.py) the body may arrive in full
duplex chunks: the headers answer is then held until the body is in, and the body sent back.

Errors become ImmediateResponses with an OpenAI-style JSON body.
"""

from __future__ import annotations

from typing import AsyncIterator

import grpc
import structlog
from envoy.config.core.v3 import base_pb2 as core
from envoy.extensions.filters.http.ext_proc.v3 import processing_mode_pb2 as pm
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as pb_grpc
from envoy.type.v3 import http_status_pb2
from google.protobuf import duration_pb2, struct_pb2

from .director import Director, Observer, RequestInfo, Route
from .errors import GatewayError, internal
from .fallbacks import CLUSTER_HEADER
from .picker_protocol import (
    TEST_SERVED_HEADER, full_duplex_answer, is_full_duplex, served_endpoint, subset_hint,
)
from .stream_end import await_peer_reset
from .table import MODEL_HEADER, OBJECTIVE_HEADER, TEST_SELECTION_HEADER

log = structlog.get_logger("router")

DESTINATION_HEADER = "x-gateway-destination-endpoint"
# Prefill/decode: the prefill pod, to which Envoy mirrors the request (see translate/envoy.py).
PREFILL_HEADER = "x-gateway-prefill-endpoint"
POOLS_METADATA_KEY = "x-igw-pools"
LISTENER_METADATA_KEY = "x-igw-listener"
EXT_PROC_FILTER = "envoy.filters.http.ext_proc"  # the key of the attributes Envoy sends
QUEUE_MESSAGE_MARGIN = 5.0  # seconds of Envoy message timeout beyond the longest queue wait
ROUTE_CACHE_SIZE = 65536  # prebuilt answers per (endpoint, model) and metadata; cleared whole when full


def _header(key: str, value: str) -> core.HeaderValueOption:
    return core.HeaderValueOption(header=core.HeaderValue(key=key, raw_value=value.encode()))


def _immediate(err: GatewayError) -> pb.ProcessingResponse:
    return pb.ProcessingResponse(immediate_response=pb.ImmediateResponse(
        status=http_status_pb2.HttpStatus(code=err.status),
        headers=pb.HeaderMutation(set_headers=[_header("content-type", "application/json")]),
        body=err.body(),
        details=err.type,
    ))


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


def _value(h: core.HeaderValue) -> str:
    return h.raw_value.decode("latin-1") if h.raw_value else h.value


class ExtProcService(pb_grpc.ExternalProcessorServicer):
    def __init__(self, director: Director, test_selection: bool = False) -> None:
        self.director = director
        # Conformance only: honour `test-epp-endpoint-selection` (see picker_protocol.py).
        self.test_selection = test_selection
        self._metadata_cache: dict[tuple[str, str | None], struct_pb2.Struct] = {}
        self._route_cache: dict[tuple[str, str | None, bool, str | None, str | None], pb.ProcessingResponse] = {}

    @property
    def observers(self) -> list[Observer]:
        return self.director.observers

    async def Process(self, request_iterator: AsyncIterator[pb.ProcessingRequest],
                      context: grpc.aio.ServicerContext) -> None:
        # context.read()/write() rather than the request iterator and a response generator:
        # the same messages for less grpc.aio machinery per message (measured with
        # bench/overhead.py).
        pools = listener = path = request_id = objective = ""
        allowed: tuple[str, ...] | None = None
        full_duplex = answered = False
        parts: list[bytes] = []
        for key, value in context.invocation_metadata() or ():
            if key == POOLS_METADATA_KEY:
                pools = value
            elif key == LISTENER_METADATA_KEY:
                listener = value
        director = self.director
        info = RequestInfo(pools, listener)
        route: Route | None = None
        read, write = context.read, context.write

        async def extend_timeout(max_wait: float) -> None:
            # Envoy's per-message timeout (10 s) would cut an admission wait short: extend it once.
            await write(pb.ProcessingResponse(override_message_timeout=duration_pb2.Duration(
                seconds=int(max_wait + QUEUE_MESSAGE_MARGIN))))

        try:
            while True:
                message = await read()
                if message is grpc.aio.EOF:
                    await await_peer_reset()  # Envoy resets right after: end there (router/stream_end.py)
                    break
                kind = message.WhichOneof("request")
                try:
                    if kind == "request_body":
                        if full_duplex:
                            parts.append(message.request_body.body)
                            if message.request_body.end_of_stream and not answered:
                                answered = True
                                route = await self._full_duplex(info, b"".join(parts), extend_timeout, write)
                            continue
                        # BUFFERED mode delivers the whole body in one message. Without a headers
                        # message before it (a one-message route), the path and the request id
                        # come with it as attributes.
                        if route is None and not path and message.attributes:
                            path, request_id = _attributes(message)
                            info = RequestInfo(pools, listener, path, request_id)
                        decided = await director.decide(info, message.request_body.body, extend_timeout)
                        route = decided if isinstance(decided, Route) else None
                        await write(self._answer(decided, True))
                    elif kind == "request_headers":
                        full_duplex = is_full_duplex(message)
                        for h in message.request_headers.headers.headers:
                            key = h.key
                            if key == ":path":
                                path = _value(h)
                            elif key == "x-request-id":
                                request_id = _value(h)
                            elif key == OBJECTIVE_HEADER:
                                objective = _value(h)
                            elif key == TEST_SELECTION_HEADER and self.test_selection:
                                allowed = tuple(v.strip() for v in _value(h).split(",") if v.strip())
                        if allowed is None and message.HasField("metadata_context"):
                            hint = subset_hint(message)
                            allowed = tuple(hint) if hint is not None else None
                        info = RequestInfo(pools, listener, path, request_id, objective, allowed)
                        if message.request_headers.end_of_stream:
                            answered = True
                            decided = await director.decide(info, None, extend_timeout)
                            route = decided if isinstance(decided, Route) else None
                            await write(self._answer(decided, False))
                        elif full_duplex:
                            continue  # the headers answer waits for the body
                        elif director.wants_response(info):
                            await write(_CONTINUE_WANT_RESPONSE)
                        else:
                            await write(_CONTINUE_HEADERS)
                    elif kind == "request_trailers" and full_duplex:
                        if not answered:
                            answered = True
                            route = await self._full_duplex(info, b"".join(parts), extend_timeout, write)
                        await write(pb.ProcessingResponse(request_trailers=pb.TrailersResponse()))
                    elif kind == "response_headers":
                        if route is not None and message.HasField("metadata_context"):
                            director.served(route, served_endpoint(message))
                        response = self._on_response_headers(route, message.response_headers, full_duplex)
                        if self.test_selection and route is not None:
                            response = pb.ProcessingResponse(response_headers=pb.HeadersResponse(
                                response=pb.CommonResponse(header_mutation=pb.HeaderMutation(
                                    set_headers=[_header(TEST_SERVED_HEADER, route.address)]))))
                        await write(response)
                    elif kind == "response_body":
                        await write(self._on_response_body(route, message.response_body))
                    else:
                        # A phase we did not ask for (another filter's mode override): let it pass.
                        await write(_passthrough(kind))
                except Exception:  # a bug costs this request a JSON error, never the stream
                    log.exception("ext_proc message failed", kind=kind, path=path, request_id=request_id)
                    await write(_failed(kind))
        finally:
            if route is not None:
                director.finish(route)

    # -- request ---------------------------------------------------------------------------

    async def _full_duplex(self, info: RequestInfo, raw: bytes, extend_timeout, write) -> Route | None:
        """Full duplex: the decision goes out as the held headers answer, then the body."""
        decided = await self.director.decide(info, raw, extend_timeout)
        if isinstance(decided, GatewayError):
            await write(_immediate(decided))
            return None
        for message in full_duplex_answer(self._answer(decided, True), raw):
            await write(message)
        return decided

    def _answer(self, decided: Route | GatewayError, has_body: bool) -> pb.ProcessingResponse:
        if isinstance(decided, GatewayError):
            return _immediate(decided)
        if decided.body is not None:
            return self._build_route(decided.destination, decided.model, decided.body, has_body,
                                     decided.prefill_address, decided.cluster)
        # Without a body rewrite the answer depends on few values: built once, then reused
        # (messages are never mutated after they are built).
        key = (decided.destination, decided.model, has_body, decided.prefill_address, decided.cluster)
        response = self._route_cache.get(key)
        if response is None:
            response = self._build_route(decided.destination, decided.model, None, has_body,
                                         decided.prefill_address, decided.cluster)
            if len(self._route_cache) > ROUTE_CACHE_SIZE:
                self._route_cache.clear()
            self._route_cache[key] = response
        return response

    def _build_route(self, address: str, model: str | None, body: bytes | None, has_body: bool,
                     prefill_address: str | None, cluster: str | None = None) -> pb.ProcessingResponse:
        set_headers = [_header(DESTINATION_HEADER, address)]
        if cluster is not None:
            set_headers.append(_header(CLUSTER_HEADER, cluster))
        if prefill_address:
            set_headers.append(_header(PREFILL_HEADER, prefill_address))
        body_mutation = None
        if model is not None:
            set_headers.append(_header(MODEL_HEADER, model))
            if body is not None:
                body_mutation = pb.BodyMutation(body=body)
                set_headers.append(_header("content-length", str(len(body))))
        common = pb.CommonResponse(header_mutation=pb.HeaderMutation(set_headers=set_headers),
                                   body_mutation=body_mutation, clear_route_cache=True)
        metadata = self._lb_metadata(address, cluster)
        if has_body:
            return pb.ProcessingResponse(request_body=pb.BodyResponse(response=common), dynamic_metadata=metadata)
        return pb.ProcessingResponse(request_headers=pb.HeadersResponse(response=common), dynamic_metadata=metadata)

    def _lb_metadata(self, address: str, cluster: str | None) -> struct_pb2.Struct:
        # The pool's cluster is in the metadata too: one-message routes, whose headers ext_proc
        # cannot change, route by it (operator/translate/one_message.py).
        metadata = self._metadata_cache.get((address, cluster))
        if metadata is None:
            metadata = struct_pb2.Struct()
            lb = {DESTINATION_HEADER: address}
            if cluster is not None:
                lb[CLUSTER_HEADER] = cluster
            metadata.update({"envoy.lb": lb})
            if len(self._metadata_cache) > ROUTE_CACHE_SIZE:
                self._metadata_cache.clear()
            self._metadata_cache[(address, cluster)] = metadata
        return metadata

    # -- response --------------------------------------------------------------------------

    def _on_response_headers(self, route: Route | None, headers: pb.HttpHeaders,
                             full_duplex: bool = False) -> pb.ProcessingResponse:
        content_type = ""
        status = 0
        for h in headers.headers.headers:
            if h.key == ":status":
                status = int(h.raw_value or h.value or 0)
            elif h.key == "content-type":
                content_type = _value(h)
        if route is None:
            return _RESPONSE_HEADERS_PLAIN
        self.director.response_status(route, status)
        p = route.processor
        if p is None or headers.end_of_stream or full_duplex:
            # Full duplex: the gateway chose the modes; changing the body's mode is not ours.
            return _RESPONSE_HEADERS_PLAIN
        if content_type.startswith("text/event-stream"):
            return _RESPONSE_STREAMED
        if "json" in content_type:
            return _RESPONSE_BUFFERED
        return _RESPONSE_HEADERS_PLAIN

    def _on_response_body(self, route: Route | None, body: pb.HttpBody) -> pb.ProcessingResponse:
        p = route.processor if route is not None else None
        if p is None:
            return _RESPONSE_BODY_PLAIN
        if route.stream and route.status < 400:
            new = p.sse_chunk(body.body, body.end_of_stream)
            response = _RESPONSE_BODY_PLAIN if new is None else pb.ProcessingResponse(response_body=pb.BodyResponse(
                response=pb.CommonResponse(body_mutation=pb.BodyMutation(body=new))))
        else:
            new = p.json_body(body.body)
            if new is None:
                response = _RESPONSE_BODY_PLAIN
            else:
                response = pb.ProcessingResponse(response_body=pb.BodyResponse(response=pb.CommonResponse(
                    header_mutation=pb.HeaderMutation(set_headers=[_header("content-length", str(len(new)))]),
                    body_mutation=pb.BodyMutation(body=new))))
        if body.end_of_stream and p.usage is not None:
            self.director.usage(route, p.usage)
            p.usage = None
        return response


def _attributes(message: pb.ProcessingRequest) -> tuple[str, str]:
    """`request.path` and `request.id` as Envoy sends them on one-message routes
    (operator/translate/one_message.py asks for them)."""
    attributes = message.attributes.get(EXT_PROC_FILTER)
    if attributes is None:
        return "", ""
    fields = attributes.fields
    path = fields.get("request.path")
    request_id = fields.get("request.id")
    return (path.string_value if path is not None else "",
            request_id.string_value if request_id is not None else "")


def _failed(kind: str | None) -> pb.ProcessingResponse:
    """The answer to a message whose handling failed: before the request is routed, a 500 in
    the OpenAI shape; once a response flows, that response unchanged."""
    if kind in ("request_headers", "request_body"):
        return _immediate(internal("the router failed on this request"))
    return _passthrough(kind)


def _passthrough(kind: str | None) -> pb.ProcessingResponse:
    if kind == "response_headers":
        return pb.ProcessingResponse(response_headers=pb.HeadersResponse())
    if kind == "response_body":
        return pb.ProcessingResponse(response_body=pb.BodyResponse())
    if kind == "request_trailers":
        return pb.ProcessingResponse(request_trailers=pb.TrailersResponse())
    return pb.ProcessingResponse(response_trailers=pb.TrailersResponse())
