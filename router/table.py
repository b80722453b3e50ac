"""The routing table: the one immutable snapshot the request path reads.

The operator builds a new `RoutingTable` from Kubernetes objects and hands it to a
`TableHolder`; the router reads `holder.current` once per request and never sees the objects
it came from. Swapping is a single attribute assignment, so a request always works on one
consistent snapshot.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping


def _spelling(text: str) -> str:
    """`PREFIX_CACHE`, `prefixCache`, ` Prefix-Cache ` → `prefix-cache`."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", text.strip()).lower().replace("_", "-")


class Runtime(enum.StrEnum):
    """Which model server a pool runs; decides the metric names we scrape."""

    VLLM = "vllm"
    SGLANG = "sglang"

    @classmethod
    def parse(cls, text: str) -> "Runtime | None":
        return {r.value: r for r in cls}.get(_spelling(text))


class Strategy(enum.StrEnum):
    """How a pool's requests are spread. The values are the one vocabulary annotations,
    policies, the scheduler config, the command line, logs and metrics speak; `parse` also
    accepts the seed's spellings (`DEFAULT`, `PREFIX_CACHE`) and the policy refs (`default`,
    `loadAware`, `prefixCache`) as written."""

    DEFAULT = "load-aware"
    PREFIX_CACHE = "prefix-cache"
    # InferenceTrafficPolicy `prefixCache.mode: precise` (the pods' own KV events tell which
    # blocks they hold); not an annotation value, as it needs the pods' KV-event port.
    PRECISE_PREFIX_CACHE = "precise-prefix-cache"

    @classmethod
    def parse(cls, text: str) -> "Strategy | None":
        return _STRATEGY_SPELLINGS.get(_spelling(text))


_STRATEGY_SPELLINGS = {s.value: s for s in Strategy} | {"default": Strategy.DEFAULT}


class Criticality(enum.StrEnum):
    CRITICAL = "Critical"
    STANDARD = "Standard"
    SHEDDABLE = "Sheddable"

    @property
    def priority(self) -> int:
        """Lower is served first: Critical 0, Standard 1, Sheddable 2."""
        return _PRIORITY[self]


_PRIORITY = {Criticality.CRITICAL: 0, Criticality.STANDARD: 1, Criticality.SHEDDABLE: 2}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One ready model-server pod of a pool, at the pool's target port."""

    name: str
    namespace: str
    ip: str
    port: int
    labels: Mapping[str, str] = field(default_factory=dict)
    # `ip:port`, the form Envoy's ORIGINAL_DST cluster takes; computed once (the scheduler
    # reads it for every candidate of every request).
    address: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", f"{self.ip}:{self.port}")


@dataclass(frozen=True, slots=True)
class TargetModel:
    name: str
    weight: int


@dataclass(frozen=True, slots=True)
class ModelRule:
    """What an InferenceModel says about one client-facing model name."""

    model_name: str
    criticality: Criticality
    targets: tuple[TargetModel, ...] = ()


@dataclass(frozen=True, slots=True)
class Pool:
    """An InferencePool as the router needs it: where its pods are and how to pick one."""

    namespace: str
    name: str
    target_port: int
    runtime: Runtime = Runtime.VLLM
    strategy: Strategy = Strategy.DEFAULT
    fail_open: bool = False
    endpoints: tuple[Endpoint, ...] = ()
    models: Mapping[str, ModelRule] = field(default_factory=dict)
    # Prefill/decode disaggregation (InferenceTrafficPolicy `profile.pd`): each request gets a
    # prefill pod and a decode pod, each picked from its own sub-pool with its own strategy.
    pd: "PrefillDecode | None" = None
    # Precise prefix mode: the port of each pod's KV-event publisher (vLLM's ZMQ PUB).
    kv_events_port: int | None = None
    # Sub-pools say which role they are ("prefill" / "decode"); "" for a whole pool.
    role: str = ""
    # InferenceObjective name → band; a request names its objective in a header.
    objectives: Mapping[str, Criticality] = field(default_factory=dict)

    def model_rule(self, model: str) -> "ModelRule | None":
        """The rule for `model`, else the pool's catch-all rule (an InferenceModelRewrite rule
        without matches), else None."""
        rule = self.models.get(model)
        return rule if rule is not None else self.models.get(ANY_MODEL)

    @property
    def key(self) -> str:
        key = pool_key(self.namespace, self.name)
        return f"{key}#{self.role}" if self.role else key


@dataclass(frozen=True, slots=True)
class PrefillDecode:
    """The two roles of a disaggregated pool, built once per snapshot by translation."""

    prefill: Pool
    decode: Pool
    bootstrap_port: int


def pool_key(namespace: str, name: str) -> str:
    """The pool's identity on the wire (Envoy tells the router which pool a route targets)."""
    return f"{namespace}/{name}"


MODEL_HEADER = "x-gateway-model-name"
OBJECTIVE_HEADER = "x-gateway-inference-objective"  # names an InferenceObjective of the pool
# Conformance only: restricts the picker to these endpoints (router/picker_protocol.py).
TEST_SELECTION_HEADER = "test-epp-endpoint-selection"
# Every header the router reads (router/extproc.py): of requests, then of responses (renamed
# models only). Our Envoy forwards only these to it (operator/translate/envoy.py,
# `forward_rules`): the rest would be encoded by Envoy and decoded by the router for nothing.
ROUTER_READS_HEADERS = (":path", "x-request-id", OBJECTIVE_HEADER, TEST_SELECTION_HEADER, ":status", "content-type")
ANY_MODEL = "*"  # key of a pool's catch-all model rule (no model is named "*")


@dataclass(frozen=True, slots=True)
class ModelRoute:
    """An HTTPRoute rule that matches on the model header (`x-gateway-model-name`).

    Envoy cannot match it before the router has read the body, so the router resolves it:
    for a request on this rule's listener whose path matches and whose body names `model`, the
    rule's pools are the candidates; the router then sets the header, and Envoy's re-evaluated
    route (header match + destination present) sends the request to the chosen pod.
    """

    model: str                        # header value to match (Exact), or a regex (RegularExpression)
    pools: tuple[tuple[str, int], ...]  # (pool key, weight)
    path_type: str = "PathPrefix"     # PathPrefix | Exact | RegularExpression
    path_value: str = "/"
    regex: bool = False

    def matches(self, path: str, model: str) -> bool:
        if self.regex:
            import re  # noqa: PLC0415  (rare: regex model matches)

            if re.fullmatch(self.model, model) is None:
                return False
        elif model != self.model:
            return False
        path = path.split("?", 1)[0]
        if self.path_type == "Exact":
            return path == self.path_value
        if self.path_type == "RegularExpression":
            import re  # noqa: PLC0415

            return re.fullmatch(self.path_value, path) is not None
        prefix = self.path_value.rstrip("/")
        return not prefix or path == prefix or path.startswith(prefix + "/")


@dataclass(frozen=True, slots=True)
class RoutingTable:
    pools: Mapping[str, Pool] = field(default_factory=dict)
    version: int = 0
    # Gateway listener name (namespace/gateway/listener) → its model-header rules, most
    # specific first. Envoy names the listener in the ext_proc stream's initial metadata.
    model_routes: Mapping[str, tuple[ModelRoute, ...]] = field(default_factory=dict)

    def model_route(self, listener: str, path: str, model: str) -> ModelRoute | None:
        for rule in self.model_routes.get(listener, ()):
            if rule.matches(path, model):
                return rule
        return None

    def renames(self, pool_keys: Iterable[str], listener: str) -> bool:
        """Whether a request on a route to these pools (or to its listener's model-header rules'
        pools) may name a model that is sent to another target (a canary), whose name must be
        turned back in the response. Envoy's configuration (one ext_proc message per request
        only where nothing renames: operator/translate/one_message.py) and the router (response
        phases) both ask this."""
        keys = [*pool_keys, *(k for rule in self.model_routes.get(listener, ()) for k, _ in rule.pools)]
        return any(t.name != rule.model_name for k in keys if k in self.pools
                   for rule in self.pools[k].models.values() for t in rule.targets)

    def endpoints(self) -> list[Endpoint]:
        """Every endpoint of every pool, each once (pools may share pods)."""
        seen: dict[str, Endpoint] = {}
        for pool in self.pools.values():
            for ep in pool.endpoints:
                seen.setdefault(ep.address, ep)
        return list(seen.values())


Listener = Callable[[RoutingTable], None]


class TableHolder:
    """Holds the current snapshot and tells interested parts (metric collectors) of swaps."""

    def __init__(self, table: RoutingTable | None = None) -> None:
        self.current: RoutingTable = table or RoutingTable()
        self._listeners: list[Listener] = []

    def swap(self, table: RoutingTable) -> None:
        self.current = table
        for listener in list(self._listeners):
            listener(table)

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)
        listener(self.current)
