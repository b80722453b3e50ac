"""The director alone (no gRPC, no protobuf): the decision and the books it keeps."""

import json
import random
import time

from inference_gateway.router.director import Director, RequestInfo, Route
from inference_gateway.router.endpoint_state import EndpointMetrics, EndpointState
from inference_gateway.router.errors import GatewayError
from inference_gateway.router.prefix_index import PrefixIndex
from inference_gateway.router.scheduler.scheduler import Scheduler
from inference_gateway.router.table import (
    Criticality, Endpoint, ModelRule, Pool, PrefillDecode, RoutingTable, TableHolder, TargetModel,
)
from inference_gateway.router.telemetry import Telemetry


def director() -> Director:
    a = Pool("default", "a", 8000, endpoints=(Endpoint("a-0", "default", "10.0.0.1", 8000),),
             models={"chat": ModelRule("chat", Criticality.CRITICAL, (TargetModel("chat-v2", 1),))})
    state = EndpointState()
    state.update("10.0.0.1:8000", EndpointMetrics(updated_at=time.monotonic() + 3600))
    return Director(TableHolder(RoutingTable(pools={a.key: a})), Scheduler(state, PrefixIndex()), state,
                    Telemetry(), rng=random.Random(1), log_requests=False)


async def never_waits(seconds: float) -> None:
    raise AssertionError("the pool is not saturated")


def body(model: str, **extra) -> bytes:
    return json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}).encode()


async def test_a_canary_target_rewrites_the_body_and_is_read_back():
    d = director()
    route = await d.decide(RequestInfo("default/a=1", path="/v1/chat/completions", request_id="r1"),
                           body("chat", stream=True, stream_options={"include_usage": True}), never_waits)
    assert isinstance(route, Route)
    assert (route.address, route.model, route.decision.target_model) == ("10.0.0.1:8000", "chat", "chat-v2")
    assert json.loads(route.body)["model"] == "chat-v2"
    assert route.stream and route.processor.rewrites
    assert d.state.in_flight == {"10.0.0.1:8000": 1}
    d.finish(route)
    assert d.state.in_flight == {}


async def test_an_unchanged_model_keeps_the_body_and_errors_are_values():
    d = director()
    route = await d.decide(RequestInfo("default/a=1"), body("other"), never_waits)
    assert route.body is None and route.decision.criticality == "Standard"
    assert isinstance(await d.decide(RequestInfo("default/a=1"), b"{", never_waits), GatewayError)
    missing = await d.decide(RequestInfo("default/nope=1"), body("other"), never_waits)
    assert isinstance(missing, GatewayError) and missing.status == 503


async def test_prefill_decode_counts_the_request_on_both_pods_until_it_finishes():
    prefill = Pool("default", "p", 8000, endpoints=(Endpoint("p-0", "default", "10.0.1.1", 8000),))
    decode = Pool("default", "d", 8000, endpoints=(Endpoint("d-0", "default", "10.0.2.1", 8000),))
    pd = Pool("default", "pd", 8000, endpoints=prefill.endpoints + decode.endpoints,
              pd=PrefillDecode(prefill=prefill, decode=decode, bootstrap_port=34000))
    state = EndpointState()
    for addr in ("10.0.1.1:8000", "10.0.2.1:8000"):
        state.update(addr, EndpointMetrics(updated_at=time.monotonic() + 3600))
    d = Director(TableHolder(RoutingTable(pools={pd.key: pd})), Scheduler(state, PrefixIndex()), state,
                 Telemetry(), rng=random.Random(1), log_requests=False)
    route = await d.decide(RequestInfo("default/pd=1"), body("m"), never_waits)
    assert (route.address, route.prefill_address) == ("10.0.2.1:8000", "10.0.1.1:8000")
    assert state.in_flight == {"10.0.1.1:8000": 1, "10.0.2.1:8000": 1}
    d.finish(route)
    assert state.in_flight == {}


async def test_the_kv_a_request_promises_its_pod_is_booked_until_it_ends_and_follows_a_retry():
    d = director()  # default strategy: the cost scorer counts the uncached prompt + output room
    first = await d.decide(RequestInfo("default/a=1"), body("other", max_tokens=100), never_waits)
    second = await d.decide(RequestInfo("default/a=1"), body("other", max_tokens=300), never_waits)
    assert isinstance(first, Route) and isinstance(second, Route)
    assert first.kv_tokens >= 100 and second.kv_tokens >= 300
    assert d.state.committed == {"10.0.0.1:8000": first.kv_tokens + second.kv_tokens}
    d.served(first, "10.0.0.9:8000")  # Envoy retried it on a fallback: the promise moves with it
    assert d.state.committed == {"10.0.0.1:8000": second.kv_tokens, "10.0.0.9:8000": first.kv_tokens}
    d.finish(first)
    d.finish(second)
    assert d.state.committed == {}
