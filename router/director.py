"""The routing decision for one request: parse → resolve pool and model → admit → schedule →
mutate. It knows nothing of Envoy's wire protocol: it is handed the request's route metadata
and body and returns a plain `Route` (or a `GatewayError`), which the stream layer
(extproc.py) turns into ext_proc messages. As the Inference Extension's picker splits
`handlers/` (the stream) from `requestcontrol/` (the director).

It also keeps the books of a routed request: in-flight counts on the chosen pods and the
request metrics, from the decision until `finish`.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
import uuid
from dataclasses import dataclass
from typing import Awaitable, Callable

import structlog

from .admission import Admission
from .endpoint_state import EndpointState
from .errors import GatewayError, internal, unavailable
from .fallbacks import destination_list, pool_cluster
from .openai import InferenceRequest, parse_request
from .picker_protocol import restrict
from .prefill_sender import PrefillSender
from .responses import ResponseProcessor, Usage
from .scheduler.scheduler import Scheduler
from .scheduler.types import SchedulingRequest
from .table import Criticality, Pool, RoutingTable, TableHolder
from .telemetry import Telemetry
from .token_usage import TokenAccounting

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


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """What the stream layer learned before the body: the route's metadata and two headers."""

    pools: str = ""        # `ns/a=70,ns/b=30`, set by Envoy per route (x-igw-pools)
    listener: str = ""     # the listener whose model-header rules apply (x-igw-listener)
    path: str = ""
    request_id: str = ""
    objective: str = ""    # x-gateway-inference-objective: an InferenceObjective of the pool
    # Only these endpoints may be chosen (`ip` or `ip:port`): the gateway's subset hint, or the
    # conformance test selection. None: the whole pool.
    allowed: tuple[str, ...] | None = None


@dataclass(slots=True)
class Route:
    """A routed request: where it goes and how it is changed (the stream layer's input), and
    what its response needs (read by the response phases)."""

    decision: Decision
    model: str | None            # the model header to set; None: the request had no body
    body: bytes | None           # the rewritten body; None: unchanged
    prefill_address: str | None  # for Envoy's prefill mirror; None: no mirror
    stream: bool = False
    processor: ResponseProcessor | None = None  # None: the response is never read
    started: float = 0.0
    status: int = 0
    # For Envoy: the chosen pool's cluster and `pod,fallback,…` (fallbacks.py).
    cluster: str | None = None
    destination: str = ""
    kv_tokens: float = 0.0  # KV promised to the pod by its end (EndpointState.committed)

    @property
    def address(self) -> str:
        return self.decision.address


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


def not_found(message: str) -> GatewayError:
    return GatewayError(404, message, "not_found_error")


def rewrite_body(request: InferenceRequest, changes: dict[str, object]) -> bytes:
    """The request body with some fields set (re-encoded only when something changes)."""
    body = {**request.body, **changes}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


class Director:
    def __init__(self, holder: TableHolder, scheduler: Scheduler, state: EndpointState, telemetry: Telemetry,
                 rng: random.Random | None = None, admission: Admission | None = None,
                 accounting: TokenAccounting | None = None, log_requests: bool = True,
                 prefill_sender: PrefillSender | None = None, default_pool: str = "") -> None:
        self.holder = holder
        # Picker mode (`igw run --pool NS/NAME`): a request whose gateway names no pool (any
        # conformant gateway sends only the standard ext_proc stream) goes to this pool.
        self.default_pool = default_pool
        # None: Envoy mirrors prefill requests (the default); else the router posts them itself.
        self.prefill_sender = prefill_sender
        self.scheduler = scheduler
        self.state = state
        self.telemetry = telemetry
        self.rng = rng or random.Random()
        self.admission = admission or Admission(state)
        # Token metrics come from the pods (token_usage.py); None: no token metrics at all.
        self.accounting = accounting
        self.log_requests = log_requests
        self.observers: list[Observer] = []
        self._pools_cache: dict[str, list[tuple[str, int]]] = {}
        self._wants_response_cache: dict[tuple[int, str, str], bool] = {}
        self._log: structlog.typing.FilteringBoundLogger | None = None

    def _request_log(self) -> structlog.typing.FilteringBoundLogger:
        """The logger of the per-request lines, bound once. structlog's module-level proxy builds
        a new logger on every call; bound at the first request (logging is configured by then),
        the router spent ~10% less CPU per request (bench/overhead.py, A/B back to back)."""
        if self._log is None:
            self._log = log.bind()
        return self._log

    # -- before the body -----------------------------------------------------------------------

    def wants_response(self, info: RequestInfo) -> bool:
        """Whether requests on this route may need their response read: only when a model they
        may name is rewritten to another target (the name is turned back). Token usage never
        needs it (token_usage.py), so other responses never pass through the router."""
        table = self.holder.current
        key = (table.version, info.pools, info.listener)
        wants = self._wants_response_cache.get(key)
        if wants is None:
            wants = table.renames((k for k, _ in self._pools(info.pools)), info.listener)
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

    def _resolve_pool(self, table: RoutingTable, info: RequestInfo, model: str) -> Pool:
        choices = None
        if model and info.listener and table.model_routes:
            rule = table.model_route(info.listener, info.path, model)
            if rule is not None:
                choices = rule.pools
        if choices is None:
            choices = self._pools(info.pools)
        if not choices and self.default_pool:
            choices = [(self.default_pool, 1)]
        if not choices:
            if info.listener:
                raise not_found(f"no route on this listener serves model {model!r}" if model
                                else "no route matches this request")
            raise internal("route carries no pool (x-igw-pools): the Envoy configuration is not ours")
        key = weighted_choice(choices, self.rng)
        pool = table.pools.get(key)
        if pool is None:
            raise unavailable(f"pool {key} is not known to this router yet")
        return pool

    # -- the decision --------------------------------------------------------------------------

    async def decide(self, info: RequestInfo, raw: bytes | None,
                     on_wait: Callable[[float], Awaitable[None]]) -> Route | GatewayError:
        """Route one request (`raw`: its body; None when it has none). `on_wait(seconds)` is
        awaited once before the request waits in admission, so the stream layer can extend
        Envoy's message timeout. Errors come back as values; a bug costs this request only."""
        started = time.perf_counter()
        request_id = info.request_id or uuid.uuid4().hex
        model = target = ""
        queued = 0.0
        t = self.telemetry
        pool: Pool | None = None
        criticality = Criticality.STANDARD
        try:
            table = self.holder.current
            request = parse_request(raw) if raw is not None else None
            model = request.model if request else ""
            pool = self._resolve_pool(table, info, model)
            if info.allowed is not None:
                pool = restrict(pool, list(info.allowed))
                if not pool.endpoints:
                    raise unavailable(f"no endpoint of pool {pool.key} is among those the gateway allowed")
            rule = pool.model_rule(model) if request else None
            target = weighted_choice([(x.name, x.weight) for x in rule.targets], self.rng) if rule else model
            criticality = rule.criticality if rule else Criticality.STANDARD
            if info.objective:
                criticality = pool.objectives.get(info.objective, criticality)
            if self.admission.must_wait(pool, criticality):
                await on_wait(self.admission.settings.max_wait)
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
            self._request_log().info("Request Rejected", request_id=request_id, status=err.status,
                                     reason=err.message, model=model, path=info.path)
            return err
        except Exception as err:  # a bug must cost one request, never the stream or the server
            log.exception("routing failed", request_id=request_id)
            return internal(f"routing failed: {type(err).__name__}")

        now = time.perf_counter()
        decision = Decision(
            request_id=request_id, pool=pool.key, pod=endpoint.name, address=endpoint.address,
            model=model, target_model=target, strategy=pool.strategy.value,
            decision_ms=round((now - started - queued) * 1000, 3), criticality=criticality.value,
            queued_ms=round(queued * 1000, 1), prefill_pod=prefill.name if prefill else "",
            prefill_address=prefill.address if prefill else "")
        route = Route(decision, model=request.model if request is not None else None, body=None,
                      prefill_address=None, started=now)
        self._record_start(route, sreq)
        if request is not None:
            route.stream = request.stream
            if target != model:  # the only case whose response passes through the router
                route.processor = ResponseProcessor(target, model)
        if self.log_requests:
            extra = {"prefill_pod": prefill.name, "prefill_address": prefill.address} if prefill else {}
            self._request_log().info(
                "Request Handled", request_id=request_id, pod=endpoint.name, address=endpoint.address,
                pool=pool.key, model=model, target_model=target, strategy=decision.strategy,
                criticality=decision.criticality, decision_ms=decision.decision_ms,
                queued_ms=decision.queued_ms, **extra)
        for observer in self.observers:
            observer(decision)

        # Mutate: the body only when a field changes; the prefill copy by mirror or by post.
        changes: dict[str, object] = {}
        if prefill is not None and pool.pd is not None:
            # SGLang's disaggregation protocol: the decode pod fetches the KV of this room from
            # the prefill pod's bootstrap server.
            changes = {"bootstrap_host": prefill.ip, "bootstrap_port": pool.pd.bootstrap_port,
                       "bootstrap_room": self.rng.getrandbits(63)}
        if request is not None and (target != model or changes):
            route.body = rewrite_body(request, {**changes, "model": target})
        route.prefill_address = prefill.address if prefill else None
        if prefill is not None and self.prefill_sender is not None:
            self.prefill_sender.send(prefill.address, info.path, route.body or raw or b"")
            route.prefill_address = None
        # Envoy retries a pod that fails before answering on the fallbacks; the prefill
        # mirror's route (ORIGINAL_DST) takes exactly one address.
        route.cluster = pool_cluster(pool.key)
        route.destination = endpoint.address if route.prefill_address else destination_list(
            pool.pd.decode if pool.pd is not None else pool, endpoint, self.state, self.rng)
        return route

    # -- the books of a routed request ---------------------------------------------------------

    def _record_start(self, route: Route, sreq: SchedulingRequest) -> None:
        d, t = route.decision, self.telemetry
        kv = sreq.extras.get("kv_tokens")
        route.kv_tokens = kv if isinstance(kv, float) else 0.0
        self.state.started(d.address, route.kv_tokens)
        if d.prefill_address:
            # Prefill/decode: the prefill pod works on this request too; both count it until the
            # HTTP request ends (the prefill part ends earlier, but nothing tells us when).
            self.state.started(d.prefill_address)
        t.child(t.requests, d.model, d.target_model).inc()
        t.child(t.running, d.model).inc()
        t.scheduler_latency.observe(d.decision_ms / 1000)
        if sreq.prefix_hit_ratio is not None:
            t.prefix_hit_ratio.observe(sreq.prefix_hit_ratio)

    def served(self, route: Route, address: str) -> None:
        """The gateway reports the endpoint that served (a fallback of the list, after a retry):
        the in-flight count follows it."""
        d = route.decision
        if not address or address == d.address:
            return
        self.state.finished(d.address, route.kv_tokens)
        self.state.started(address, route.kv_tokens)
        route.decision = dataclasses.replace(d, address=address)

    def response_status(self, route: Route, status: int) -> None:
        route.status = status
        if status >= 400:
            d, t = route.decision, self.telemetry
            t.child(t.errors, d.model, d.target_model, str(status)).inc()

    def usage(self, route: Route, usage: Usage) -> None:
        """A renamed request's usage, read from its response (the router is in its path anyway):
        recorded under the model the client asked for, and claimed from the pod's own count."""
        if self.accounting is None:
            return
        d, t = route.decision, self.telemetry
        t.input_tokens.observe((d.model, d.target_model), usage.prompt_tokens)
        t.output_tokens.observe((d.model, d.target_model), usage.completion_tokens)
        self.accounting.claim(d.address, usage.prompt_tokens, usage.completion_tokens)

    def finish(self, route: Route) -> None:
        """The HTTP request is over (Envoy ended the stream): the pod has one fewer."""
        d, t = route.decision, self.telemetry
        self.state.finished(d.address, route.kv_tokens)
        if d.prefill_address:
            self.state.finished(d.prefill_address)
        t.child(t.running, d.model).dec()
        t.child(t.duration, d.model, d.target_model).observe(time.perf_counter() - route.started)
