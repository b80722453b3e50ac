"""GatewayClass, Gateway and HTTPRoute → listeners and routes (the gateway's IR).

Only Gateways whose class names our controller are ours; HTTPRoutes attach to them by
parentRefs. A backendRef to an InferencePool that does not exist becomes a route that answers
500, as the Gateway API asks of invalid backends.
"""

from __future__ import annotations

from dataclasses import dataclass

from inference_gateway.router.table import pool_key

from ..api import CONTROLLER_NAME, Gateway, HTTPRoute
from ..api.gateway import BackendRef, RouteMatch
from ..api import INFERENCE_V1_GROUP, pool_view
from ..api.inference import INFERENCE_GROUP
from .objects import ObjectSet
from .pickers import PickerTarget, resolve_picker
from .policy import policies_by_pool

POOL_GROUPS = (INFERENCE_GROUP, INFERENCE_V1_GROUP)  # a backendRef may name either version


@dataclass(frozen=True, slots=True)
class PoolBackend:
    pool: str            # pool key, namespace/name
    weight: int
    fail_open: bool
    ext_proc_service: str  # extensionRef: Service name (namespace of the pool)
    ext_proc_port: int
    # An InferenceTrafficPolicy with profile.pd: requests also go to a prefill pod (mirror).
    disaggregated: bool = False
    h2c: bool = False                    # v1 appProtocol kubernetes.io/h2c: Envoy speaks h2c to the pods
    picker: PickerTarget | None = None   # another endpoint picker decides (None: our router)
    picker_error: str | None = None      # the picker reference does not resolve


@dataclass(frozen=True, slots=True)
class RouteIR:
    name: str
    path_type: str
    path_value: str
    headers: tuple[tuple[str, str, str], ...]  # (name, match type, value)
    method: str | None
    backends: tuple[PoolBackend, ...]
    error: str | None = None  # set when no backend resolves: answer 500 with this message


@dataclass(frozen=True, slots=True)
class ListenerIR:
    name: str          # namespace/gateway/listener
    port: int
    hostname: str | None
    routes: tuple[RouteIR, ...]


@dataclass(frozen=True, slots=True)
class GatewayIR:
    listeners: tuple[ListenerIR, ...]


def our_gateways(objects: ObjectSet) -> list[Gateway]:
    classes = {c.metadata.name for c in objects.gateway_classes if c.spec.controller_name == CONTROLLER_NAME}
    return [g for g in objects.gateways if g.spec.gateway_class_name in classes]


def _attaches(route: HTTPRoute, gateway: Gateway, listener_name: str) -> bool:
    for ref in route.spec.parent_refs:
        ns = ref.namespace or route.metadata.namespace
        if ref.kind == "Gateway" and ref.name == gateway.metadata.name and ns == gateway.metadata.namespace:
            if ref.section_name in (None, listener_name):
                return True
    return False


def _backend(ref: BackendRef, route: HTTPRoute, objects: ObjectSet) -> PoolBackend | None:
    if ref.kind != "InferencePool" or ref.group not in POOL_GROUPS:
        return None
    ns = ref.namespace or route.metadata.namespace
    pool = objects.pool(ns, ref.name, ref.group)
    if pool is None:
        return None
    view = pool_view(pool)
    picker = resolve_picker(pool, objects, objects.services_listed)
    policy = policies_by_pool(objects.policies).get((ns, ref.name))
    return PoolBackend(
        pool=pool_key(ns, ref.name),
        weight=ref.weight,
        fail_open=picker.fail_open,
        ext_proc_service=view.picker.name if view.picker and picker.target is None else "",
        ext_proc_port=view.picker.port if view.picker and picker.target is None else 9002,
        disaggregated=bool(policy and policy.spec.profile and policy.spec.profile.pd),
        h2c=view.h2c,
        picker=picker.target,
        picker_error=None if picker.ok else picker.message,
    )


def _route(route: HTTPRoute, rule_index: int, match_index: int, match: RouteMatch,
           backend_refs: list[BackendRef], objects: ObjectSet) -> RouteIR:
    resolved = [b for b in (_backend(r, route, objects) for r in backend_refs) if b is not None]
    missing = [r.name for r in backend_refs if _backend(r, route, objects) is None]
    error = None
    if not resolved:
        error = (f"HTTPRoute {route.metadata.namespace}/{route.metadata.name}: backend "
                 f"{', '.join(missing) or '(none)'} not found")
    return RouteIR(
        name=f"{route.metadata.namespace}/{route.metadata.name}/rule{rule_index}/match{match_index}",
        path_type=match.path.type,
        path_value=match.path.value,
        headers=tuple((h.name.lower(), h.type, h.value) for h in match.headers),
        method=match.method,
        backends=tuple(b for b in resolved if b.weight > 0),
        error=error,
    )


def _specificity(route: RouteIR) -> tuple[int, int, int]:
    """Gateway API precedence: Exact before prefix, longer paths first, more header matches first."""
    return (0 if route.path_type == "Exact" else 1, -len(route.path_value), -len(route.headers))


def gateway_listeners(objects: ObjectSet, gateway: Gateway) -> list[ListenerIR]:
    """One Gateway's HTTP listeners with the routes attached to each."""
    listeners: list[ListenerIR] = []
    for listener in gateway.spec.listeners:
        if listener.protocol.upper() != "HTTP":
            continue
        routes: list[RouteIR] = []
        for route in objects.routes:
            if not _attaches(route, gateway, listener.name):
                continue
            for r_i, rule in enumerate(route.spec.rules):
                for m_i, match in enumerate(rule.matches):
                    routes.append(_route(route, r_i, m_i, match, rule.backend_refs, objects))
        routes.sort(key=_specificity)
        listeners.append(ListenerIR(
            name=f"{gateway.metadata.namespace}/{gateway.metadata.name}/{listener.name}",
            port=listener.port,
            hostname=listener.hostname,
            routes=tuple(routes),
        ))
    return listeners


def build_gateway_ir(objects: ObjectSet) -> GatewayIR:
    """Every Gateway of our class in one IR (one Envoy serves them all: the standalone path)."""
    return GatewayIR(listeners=tuple(li for g in our_gateways(objects) for li in gateway_listeners(objects, g)))


def gateway_ir(objects: ObjectSet, gateway: Gateway) -> GatewayIR:
    """One Gateway's IR: what its own provisioned Envoy serves (the in-cluster path)."""
    return GatewayIR(listeners=tuple(gateway_listeners(objects, gateway)))
