"""The routing table: the one immutable snapshot the request path reads.

The operator builds a new `RoutingTable` from Kubernetes objects and hands it to a
`TableHolder`; the router reads `holder.current` once per request and never sees the objects
it came from. Swapping is a single attribute assignment, so a request always works on one
consistent snapshot.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Callable, Mapping


class Runtime(enum.StrEnum):
    """Which model server a pool runs; decides the metric names we scrape."""

    VLLM = "vllm"
    SGLANG = "sglang"


class Strategy(enum.StrEnum):
    """The pool's routing strategy (annotation `inference.networking.x-k8s.io/routing-strategy`)."""

    DEFAULT = "DEFAULT"
    PREFIX_CACHE = "PREFIX_CACHE"


class Criticality(enum.StrEnum):
    CRITICAL = "Critical"
    STANDARD = "Standard"
    SHEDDABLE = "Sheddable"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One ready model-server pod of a pool, at the pool's target port."""

    name: str
    namespace: str
    ip: str
    port: int
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def address(self) -> str:
        """`ip:port`, the form Envoy's ORIGINAL_DST cluster takes."""
        return f"{self.ip}:{self.port}"


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

    @property
    def key(self) -> str:
        return pool_key(self.namespace, self.name)


def pool_key(namespace: str, name: str) -> str:
    """The pool's identity on the wire (Envoy tells the router which pool a route targets)."""
    return f"{namespace}/{name}"


@dataclass(frozen=True, slots=True)
class RoutingTable:
    pools: Mapping[str, Pool] = field(default_factory=dict)
    version: int = 0

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
