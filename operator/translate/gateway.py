"""GatewayClass, Gateway and HTTPRoute → listeners and routes (the gateway's IR).

Which route attaches where, and what its backends resolve to, is decided in attachment.py;
this only shapes it for Envoy. A rule none of whose backendRefs resolves becomes a route that
answers 500, as the Gateway API asks of invalid backends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from inference_gateway.router.table import pool_key

from ..api import Gateway, HTTPRoute, InferenceTrafficPolicy, pool_view
from ..api.gateway import RouteMatch
from .attachment import Attachment, BackendVerdict, is_http
from .pickers import PickerResolution, PickerTarget


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


def _backend(verdict: BackendVerdict, policies: dict[tuple[str, str], InferenceTrafficPolicy],
             picker: PickerResolution | None) -> PoolBackend | None:
    pool = verdict.pool
    if pool is None or picker is None:
        return None
    view = pool_view(pool)
    ours = view.picker is not None and picker.target is None
    policy = policies.get(pool.key)
    return PoolBackend(
        pool=pool_key(*pool.key),
        weight=verdict.ref.weight,
        fail_open=picker.fail_open,
        ext_proc_service=view.picker.name if ours else "",
        ext_proc_port=view.picker.port if ours else 9002,
        disaggregated=bool(policy and policy.spec.profile and policy.spec.profile.pd),
        h2c=view.h2c,
        picker=picker.target,
        picker_error=None if picker.ok else picker.message,
    )


def _route(route: HTTPRoute, rule_index: int, match_index: int, match: RouteMatch, verdicts: list[BackendVerdict],
           policies: dict[tuple[str, str], InferenceTrafficPolicy], attachment: Attachment) -> RouteIR:
    resolved = [b for b in (_backend(v, policies, attachment.picker(v.pool) if v.pool is not None else None)
                            for v in verdicts) if b is not None]
    missing = [v.ref.name for v in verdicts if v.pool is None]
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


def gateway_listeners(attachment: Attachment, gateway: Gateway,
                      policies: dict[tuple[str, str], InferenceTrafficPolicy]) -> list[ListenerIR]:
    """One Gateway's HTTP listeners with the routes attached to each."""
    listeners: list[ListenerIR] = []
    for listener in gateway.spec.listeners:
        if not is_http(listener):
            continue
        routes: list[RouteIR] = []
        for route in attachment.routes_on(gateway, listener.name):
            for r_i, rule in enumerate(route.spec.rules):
                verdicts = attachment.backends_of(route, r_i)
                for m_i, match in enumerate(rule.matches):
                    routes.append(_route(route, r_i, m_i, match, verdicts, policies, attachment))
        routes.sort(key=_specificity)
        listeners.append(ListenerIR(
            name=f"{gateway.metadata.namespace}/{gateway.metadata.name}/{listener.name}",
            port=listener.port,
            hostname=listener.hostname,
            routes=tuple(routes),
        ))
    return listeners


def gateway_ir(attachment: Attachment, gateways: Iterable[Gateway],
               policies: dict[tuple[str, str], InferenceTrafficPolicy]) -> GatewayIR:
    """The listeners of these Gateways in one IR: one Gateway's for its own provisioned Envoy
    (in cluster), or every Gateway's when one Envoy serves them all (`igw run --manifests`)."""
    return GatewayIR(listeners=tuple(li for g in gateways for li in gateway_listeners(attachment, g, policies)))
