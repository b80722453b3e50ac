"""Which HTTPRoute attaches to which listener of which Gateway of ours, and what each of its
backendRefs resolves to: decided once here, then read by the Envoy IR, the routing table and
the statuses alike (when each decided it for itself, a parentRef whose port matched no
listener was reported `NoMatchingParent` yet still carried traffic).

Rules (Gateway API): a parentRef names a Gateway (namespace defaults to the route's); with
`sectionName` it names one listener, with `port` only listeners on that port, with both, the
listener must match both. A parentRef matching no listener is `NoMatchingParent`; matching
only non-HTTP listeners, `NotAllowedByListeners`. Only an accepted parentRef carries traffic,
and only on the HTTP listeners it matched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from inference_gateway.router.table import pool_key

from ..api import CONTROLLER_NAME, INFERENCE_V1_GROUP, AnyPool, Gateway, HTTPRoute
from ..api.gateway import GATEWAY_GROUP, BackendRef, GatewayListener, ParentRef
from ..api.inference import INFERENCE_GROUP
from ..api.v1_pool import pool_group
from ..problems import Problem
from .objects import ObjectSet
from .pickers import PickerResolution, resolve_picker

POOL_GROUPS = (INFERENCE_GROUP, INFERENCE_V1_GROUP)  # a backendRef may name either version


@dataclass(frozen=True, slots=True)
class ParentVerdict:
    """One parentRef of one HTTPRoute that names a Gateway of ours."""

    route: HTTPRoute
    index: int                  # position in spec.parentRefs (problems name the field)
    ref: ParentRef
    gateway: Gateway
    listeners: tuple[str, ...]  # the HTTP listeners it attaches to (empty unless accepted)
    accepted: bool
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class BackendVerdict:
    """One backendRef of one rule: the pool it names, or why it names none."""

    route: HTTPRoute
    rule: int
    index: int
    ref: BackendRef
    pool: AnyPool | None
    reason: str                 # ResolvedRefs | BackendNotFound | InvalidKind
    message: str

    @property
    def field(self) -> str:
        return f"spec.rules[{self.rule}].backendRefs[{self.index}]"


@dataclass(frozen=True)
class Attachment:
    gateways: tuple[Gateway, ...]           # ours (class names our controller), in key order
    parents: tuple[ParentVerdict, ...]      # every parentRef to a Gateway of ours
    backends: tuple[BackendVerdict, ...]    # every backendRef of every route
    # Which endpoint picker serves each pool, resolved once ((group, namespace, name) → resolution).
    pickers: dict[tuple[str, str, str], PickerResolution] = field(default_factory=dict)

    def picker(self, pool: AnyPool) -> PickerResolution:
        return self.pickers[(pool_group(pool), *pool.key)]

    def routes_on(self, gateway: Gateway, listener: str) -> list[HTTPRoute]:
        """The accepted routes on one listener, each once, in key order."""
        seen: dict[tuple[str, str], HTTPRoute] = {}
        for p in self.parents:
            if p.gateway.key == gateway.key and listener in p.listeners:
                seen.setdefault(p.route.key, p.route)
        return [seen[k] for k in sorted(seen)]

    def of_route(self, route: HTTPRoute) -> list[ParentVerdict]:
        return [p for p in self.parents if p.route is route]

    def backends_of(self, route: HTTPRoute, rule: int | None = None) -> list[BackendVerdict]:
        return [b for b in self.backends if b.route is route and rule in (None, b.rule)]

    def routes_to(self, pool: AnyPool) -> list[HTTPRoute]:
        out: dict[tuple[str, str], HTTPRoute] = {}
        for b in self.backends:
            if b.pool is pool:  # a v1 and a v1alpha2 pool may share namespace and name
                out.setdefault(b.route.key, b.route)
        return [out[k] for k in sorted(out)]

    def problems(self) -> list[Problem]:
        out = [Problem("", "HTTPRoute", p.route.metadata.name, f"spec.parentRefs[{p.index}]",
                       f"{p.reason}: {p.message}; the route carries no traffic through this parent",
                       p.route.metadata.namespace)
               for p in self.parents if not p.accepted]
        out += [Problem("", "HTTPRoute", b.route.metadata.name, b.field, f"{b.reason}: {b.message}",
                        b.route.metadata.namespace)
                for b in self.backends if b.pool is None]
        return out


def our_gateways(objects: ObjectSet) -> tuple[Gateway, ...]:
    classes = {c.metadata.name for c in objects.gateway_classes if c.spec.controller_name == CONTROLLER_NAME}
    return tuple(g for g in objects.gateways if g.spec.gateway_class_name in classes)


def is_http(listener: GatewayListener) -> bool:
    return listener.protocol.upper() == "HTTP"


def _verdict(route: HTTPRoute, index: int, ref: ParentRef, gateway: Gateway) -> ParentVerdict:
    matched = [li for li in gateway.spec.listeners
               if ref.section_name in (None, li.name) and ref.port in (None, li.port)]
    http = tuple(li.name for li in matched if is_http(li))
    if not matched:
        where = " ".join(x for x in (ref.section_name or "", "" if ref.port is None else f"on port {ref.port}") if x)
        return ParentVerdict(route, index, ref, gateway, (), False, "NoMatchingParent",
                             f"Gateway {gateway.metadata.name} has no listener {where}".rstrip())
    if not http:
        return ParentVerdict(route, index, ref, gateway, (), False, "NotAllowedByListeners",
                             "no HTTP listener of the Gateway allows this HTTPRoute")
    return ParentVerdict(route, index, ref, gateway, http, True, "Accepted", "Route is accepted")


def _backend(route: HTTPRoute, rule: int, index: int, ref: BackendRef, objects: ObjectSet) -> BackendVerdict:
    ns = ref.namespace or route.metadata.namespace
    if ref.kind != "InferencePool" or ref.group not in POOL_GROUPS:
        return BackendVerdict(route, rule, index, ref, None, "InvalidKind",
                              f"only InferencePool backends are supported, not {ref.kind}/{ref.name}")
    pool = objects.pool(ns, ref.name, ref.group)
    if pool is None:
        return BackendVerdict(route, rule, index, ref, None, "BackendNotFound", f"InferencePool {ns}/{ref.name} not found")
    return BackendVerdict(route, rule, index, ref, pool, "ResolvedRefs", f"InferencePool {pool_key(ns, ref.name)}")


def attach(objects: ObjectSet) -> Attachment:
    gateways = our_gateways(objects)
    by_key = {g.key: g for g in gateways}
    parents = []
    backends = []
    for route in objects.routes:
        for i, ref in enumerate(route.spec.parent_refs):
            if ref.kind != "Gateway" or ref.group != GATEWAY_GROUP:
                continue
            gateway = by_key.get((ref.namespace or route.metadata.namespace, ref.name))
            if gateway is not None:  # not ours: another controller's to judge
                parents.append(_verdict(route, i, ref, gateway))
        for r, rule in enumerate(route.spec.rules):
            backends += [_backend(route, r, j, ref, objects) for j, ref in enumerate(rule.backend_refs)]
    pickers = {(pool_group(p), *p.key): resolve_picker(p, objects, objects.services_listed) for p in objects.pools}
    return Attachment(gateways=gateways, parents=tuple(parents), backends=tuple(backends), pickers=pickers)
