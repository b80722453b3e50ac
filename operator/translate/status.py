"""Objects (+ what the proxies report) → the status each object should have. Pure.

`desired_statuses` returns, for every object whose status we own, the status fields we write
(merge-patched onto `/status`; the lists we write are ours whole, with other controllers'
entries kept). `changed` keeps only those that differ from what the object has, so an
unchanged world writes nothing. `lastTransitionTime` moves only when a condition's status
moves (as `meta.SetStatusCondition` does).

Reasons follow the Gateway API and the Inference Extension (v1alpha2):
- GatewayClass (our controllerName only): Accepted.
- Gateway: Accepted (Accepted / ListenersNotValid), Programmed (Programmed / Invalid when Envoy
  rejected its configuration / AddressNotAssigned / Pending), `addresses`, `listeners[]`.
- HTTPRoute `parents[]` (our Gateways only): Accepted (Accepted / NoMatchingParent /
  NotAllowedByListeners), ResolvedRefs (ResolvedRefs / BackendNotFound / InvalidKind).
- InferencePool `parent[]` per parent Gateway: Accepted (Accepted / NotSupportedByGateway /
  HTTPRouteNotAccepted; Pending under the `Status/default` parent while no Gateway of ours
  references it), ResolvedRefs (ResolvedRefs / InvalidExtensionRef).
- InferenceModel: Accepted (Accepted / ModelNameInUse: the oldest InferenceModel wins).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from ..api import CONTROLLER_NAME, INFERENCE_V1_GROUP, AnyPool, Gateway, HTTPRoute, pool_view
from ..api.gateway import GATEWAY_GROUP, ParentRef
from .gateway import POOL_GROUPS, our_gateways
from .objects import ObjectSet
from .pickers import resolve_picker
from .routing import model_winners

ObjectKey = tuple[str, str, str]  # (kind, namespace, name); namespace "" for cluster-scoped
Status = dict[str, Any]

PENDING_PARENT = {"kind": "Status", "name": "default"}
EPOCH = "1970-01-01T00:00:00Z"


@dataclass(frozen=True)
class ProxyState:
    """What the operator knows of one Gateway's provisioned Envoy."""

    provisioned: bool = False            # Deployment, Service and ConfigMap exist
    ready_replicas: int = 0
    addresses: tuple[tuple[str, str], ...] = ()  # (type, value)
    rejections: tuple[str, ...] = ()     # Envoy NACK messages: it keeps its last good config


def timestamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def object_key(kind: str, namespace: str, name: str) -> ObjectKey:
    return (kind, "" if kind == "GatewayClass" else namespace, name)


def _condition(type_: str, ok: bool | None, reason: str, message: str, generation: int) -> dict[str, Any]:
    status = "Unknown" if ok is None else "True" if ok else "False"
    return {"type": type_, "status": status, "reason": reason, "message": message,
            "observedGeneration": generation}


def _stamp(new: list[dict[str, Any]], old: list[dict[str, Any]] | None, now: str) -> list[dict[str, Any]]:
    previous = {c.get("type"): c for c in old or []}
    out = []
    for cond in new:
        before = previous.get(cond["type"])
        same = before is not None and before.get("status") == cond["status"] and before.get("lastTransitionTime")
        out.append({**cond, "lastTransitionTime": before["lastTransitionTime"] if same else now})
    return out


def _parent_key(ref: Mapping[str, Any]) -> tuple[str, str, str, str]:
    return (ref.get("group", GATEWAY_GROUP), ref.get("kind", "Gateway"), ref.get("namespace", ""), ref.get("name", ""))


# ---------------------------------------------------------------- attachment facts

def _gateway_for(ref: ParentRef, route: HTTPRoute, gateways: dict[tuple[str, str], Gateway]) -> Gateway | None:
    if ref.kind != "Gateway" or ref.group != GATEWAY_GROUP:
        return None
    return gateways.get((ref.namespace or route.metadata.namespace, ref.name))


def _acceptance(ref: ParentRef, gateway: Gateway) -> tuple[bool, str, str]:
    """Does the route attach to this Gateway through this parentRef? (ok, reason, message)"""
    listeners = [li for li in gateway.spec.listeners if ref.section_name in (None, li.name)]
    if ref.port is not None:
        listeners = [li for li in listeners if li.port == ref.port]
    if not listeners:
        return False, "NoMatchingParent", f"Gateway {gateway.metadata.name} has no listener " \
                                          f"{ref.section_name or ''}{'' if ref.port is None else f' on port {ref.port}'}".rstrip()
    if not any(li.protocol.upper() == "HTTP" for li in listeners):
        return False, "NotAllowedByListeners", "no HTTP listener of the Gateway allows this HTTPRoute"
    return True, "Accepted", "Route is accepted"


def _backend_refs(route: HTTPRoute) -> list[tuple[str, str, str, str]]:
    """(group, kind, namespace, name) of every backendRef of every rule."""
    return [(b.group, b.kind, b.namespace or route.metadata.namespace, b.name)
            for rule in route.spec.rules for b in rule.backend_refs]


# ---------------------------------------------------------------- per kind

def _gateway_class_status(objects: ObjectSet) -> dict[ObjectKey, Status]:
    out: dict[ObjectKey, Status] = {}
    for gc in objects.gateway_classes:
        if gc.spec.controller_name != CONTROLLER_NAME:
            continue  # other controllers' classes are left alone
        out[object_key("GatewayClass", "", gc.metadata.name)] = {"conditions": [
            _condition("Accepted", True, "Accepted", "Handled by the inference gateway", gc.metadata.generation)]}
    return out


def _gateway_status(objects: ObjectSet, gateways: list[Gateway], proxies: Mapping[str, ProxyState]) -> dict[ObjectKey, Status]:
    out: dict[ObjectKey, Status] = {}
    for gw in gateways:
        gen = gw.metadata.generation
        proxy = proxies.get(f"{gw.metadata.namespace}/{gw.metadata.name}", ProxyState())
        http = [li for li in gw.spec.listeners if li.protocol.upper() == "HTTP"]
        accepted = _condition("Accepted", True, "Accepted", "Gateway is accepted", gen) if http else \
            _condition("Accepted", False, "ListenersNotValid", "no listener has a supported protocol (HTTP)", gen)
        if proxy.rejections:
            programmed = _condition("Programmed", False, "Invalid",
                                    "Envoy rejected the configuration and keeps its last good one: "
                                    + "; ".join(proxy.rejections), gen)
        elif not proxy.provisioned:
            programmed = _condition("Programmed", False, "Pending", "Envoy proxy is being provisioned", gen)
        elif not proxy.addresses:
            programmed = _condition("Programmed", False, "AddressNotAssigned",
                                    "the proxy Service has no address yet", gen)
        elif proxy.ready_replicas < 1:
            programmed = _condition("Programmed", False, "Pending", "waiting for a ready Envoy replica", gen)
        else:
            programmed = _condition("Programmed", True, "Programmed", "Envoy is serving the configuration", gen)
        listeners = []
        for li in gw.spec.listeners:
            ok = li.protocol.upper() == "HTTP"
            attached = sum(
                1 for route in objects.routes for ref in route.spec.parent_refs
                if ok and ref.kind == "Gateway" and ref.group == GATEWAY_GROUP and ref.name == gw.metadata.name
                and (ref.namespace or route.metadata.namespace) == gw.metadata.namespace
                and ref.section_name in (None, li.name) and ref.port in (None, li.port))
            listeners.append({
                "name": li.name,
                "supportedKinds": [{"group": GATEWAY_GROUP, "kind": "HTTPRoute"}] if ok else [],
                "attachedRoutes": attached,
                "conditions": [
                    _condition("Accepted", ok, "Accepted" if ok else "UnsupportedProtocol",
                               "Listener is accepted" if ok else f"protocol {li.protocol} is not supported", gen),
                    _condition("ResolvedRefs", True, "ResolvedRefs", "References are resolved", gen),
                    {**programmed, "type": "Programmed"} if ok else
                    _condition("Programmed", False, "Invalid", f"protocol {li.protocol} is not supported", gen),
                ],
            })
        out[object_key("Gateway", gw.metadata.namespace, gw.metadata.name)] = {
            "addresses": [{"type": t, "value": v} for t, v in proxy.addresses],
            "conditions": [accepted, programmed],
            "listeners": listeners,
        }
    return out


def _route_status(objects: ObjectSet, ours: dict[tuple[str, str], Gateway],
                  current: Mapping[ObjectKey, Status]) -> dict[ObjectKey, Status]:
    out: dict[ObjectKey, Status] = {}
    for route in objects.routes:
        gen = route.metadata.generation
        missing, wrong_kind = [], []
        for group, kind, ns, name in _backend_refs(route):
            if kind != "InferencePool" or group not in POOL_GROUPS:
                wrong_kind.append(f"{kind}/{name}")
            elif objects.pool(ns, name, group) is None:
                missing.append(f"InferencePool {ns}/{name}")
        if missing:
            resolved = _condition("ResolvedRefs", False, "BackendNotFound", f"{', '.join(missing)} not found", gen)
        elif wrong_kind:
            resolved = _condition("ResolvedRefs", False, "InvalidKind",
                                  f"only InferencePool backends are supported: {', '.join(wrong_kind)}", gen)
        else:
            resolved = _condition("ResolvedRefs", True, "ResolvedRefs", "All references are resolved", gen)
        parents = []
        for ref in route.spec.parent_refs:
            gateway = _gateway_for(ref, route, ours)
            if gateway is None:
                continue  # not a Gateway of ours: another controller's to report
            ok, reason, message = _acceptance(ref, gateway)
            parent_ref: dict[str, Any] = {"group": GATEWAY_GROUP, "kind": "Gateway",
                                          "namespace": gateway.metadata.namespace, "name": ref.name}
            if ref.section_name is not None:
                parent_ref["sectionName"] = ref.section_name
            if ref.port is not None:
                parent_ref["port"] = ref.port
            parents.append({"parentRef": parent_ref, "controllerName": CONTROLLER_NAME,
                            "conditions": [_condition("Accepted", ok, reason, message, gen), resolved]})
        key = object_key("HTTPRoute", route.metadata.namespace, route.metadata.name)
        others = [p for p in (current.get(key) or {}).get("parents") or [] if p.get("controllerName") != CONTROLLER_NAME]
        if parents or any(p.get("controllerName") == CONTROLLER_NAME for p in (current.get(key) or {}).get("parents") or []):
            out[key] = {"parents": others + parents}
    return out


def _extension_ref(pool: AnyPool, objects: ObjectSet) -> tuple[bool, str, str]:
    picker = resolve_picker(pool, objects, objects.services_listed)
    return picker.ok, "ResolvedRefs" if picker.ok else "InvalidExtensionRef", picker.message


def _pool_status(objects: ObjectSet, ours: dict[tuple[str, str], Gateway],
                 current: Mapping[ObjectKey, Status]) -> dict[ObjectKey, Status]:
    out: dict[ObjectKey, Status] = {}
    for pool in objects.pools:
        gen = pool.metadata.generation
        p_ns, p_name = pool.key
        group = pool_view(pool).group
        v1 = group == INFERENCE_V1_GROUP
        # parent Gateway → accepted through some route?
        verdicts: dict[tuple[str, str], tuple[bool, str, str]] = {}
        for route in objects.routes:
            if not any(k == "InferencePool" and g == group and (ns, n) == (p_ns, p_name)
                       for g, k, ns, n in _backend_refs(route)):
                continue
            for ref in route.spec.parent_refs:
                gateway = _gateway_for(ref, route, ours)
                if gateway is None:
                    continue
                gw_key = gateway.key
                if not any(li.protocol.upper() == "HTTP" for li in gateway.spec.listeners):
                    verdict = (False, "NotSupportedByParent" if v1 else "NotSupportedByGateway",
                               "the Gateway has no HTTP listener")
                else:
                    ok, reason, message = _acceptance(ref, gateway)
                    verdict = (True, "Accepted", "InferencePool is accepted by the Gateway") if ok else \
                        (False, "HTTPRouteNotAccepted",
                         f"HTTPRoute {route.metadata.namespace}/{route.metadata.name} is not accepted: {message}")
                if gw_key not in verdicts or (verdict[0] and not verdicts[gw_key][0]):
                    verdicts[gw_key] = verdict
        ok_ref, ref_reason, ref_message = _extension_ref(pool, objects)
        resolved = _condition("ResolvedRefs", ok_ref, ref_reason, ref_message, gen)
        ours_keys = {(GATEWAY_GROUP, "Gateway", ns, n) for ns, n in ours}
        key = object_key(_pool_kind(pool), p_ns, p_name)
        field = "parents" if v1 else "parent"
        others = [p for p in (current.get(key) or {}).get(field) or []
                  if _parent_key(p.get("parentRef") or {}) not in ours_keys
                  and (p.get("parentRef") or {}).get("kind") != "Status"]
        parents = [{"parentRef": {"group": GATEWAY_GROUP, "kind": "Gateway", "namespace": ns, "name": n},
                    **({"controllerName": CONTROLLER_NAME} if v1 else {}),
                    "conditions": [_condition("Accepted", ok, reason, message, gen), resolved]}
                   for (ns, n), (ok, reason, message) in sorted(verdicts.items())]
        if v1:
            # v1: no parent is an empty list ("not associated with any parents"), no placeholder.
            out[key] = {"parents": others + parents}
            continue
        if not parents and not others:
            parents = [{"parentRef": dict(PENDING_PARENT), "conditions": [
                _condition("Accepted", None, "Pending", "Waiting for controller: no Gateway of ours routes to it", gen),
                resolved]}]
        out[key] = {"parent": others + parents}
    return out


def _pool_kind(pool: AnyPool) -> str:
    """Status keys of v1 pools carry their group: a v1alpha2 pool may have the same name."""
    return "InferencePool" if pool_view(pool).group != INFERENCE_V1_GROUP else f"InferencePool.{INFERENCE_V1_GROUP}"


def _objective_status(objects: ObjectSet) -> dict[ObjectKey, Status]:
    """InferenceObjective and InferenceModelRewrite: Accepted once their pool exists."""
    out: dict[ObjectKey, Status] = {}
    for obj in (*objects.objectives, *objects.rewrites):
        ref = obj.spec.pool_ref
        gen = obj.metadata.generation
        if objects.pool(obj.metadata.namespace, ref.name, ref.group) is not None:
            cond = _condition("Accepted", True, "Accepted", f"{obj.kind} is accepted", gen)
        else:
            cond = _condition("Accepted", None, "Pending",
                              f"InferencePool {obj.metadata.namespace}/{ref.name} ({ref.group}) not found", gen)
        out[object_key(obj.kind, obj.metadata.namespace, obj.metadata.name)] = {"conditions": [cond]}
    return out


def _model_status(objects: ObjectSet) -> dict[ObjectKey, Status]:
    winners = model_winners(objects.models)
    out: dict[ObjectKey, Status] = {}
    for model in objects.models:
        gen = model.metadata.generation
        winner = winners[(model.metadata.namespace, model.spec.model_name)]
        if winner is model or winner.key == model.key:
            cond = _condition("Accepted", True, "Accepted", "InferenceModel is accepted", gen)
        else:
            cond = _condition("Accepted", False, "ModelNameInUse",
                              f"modelName {model.spec.model_name!r} is already in use by InferenceModel "
                              f"{winner.metadata.name} (the oldest wins)", gen)
        out[object_key("InferenceModel", model.metadata.namespace, model.metadata.name)] = {"conditions": [cond]}
    return out


# ---------------------------------------------------------------- entry points

def _stamp_status(desired: Status, current: Status | None, now: str) -> Status:
    current = current or {}
    out = dict(desired)
    if "conditions" in desired:
        out["conditions"] = _stamp(desired["conditions"], current.get("conditions"), now)
    if "listeners" in desired:
        old = {li.get("name"): li for li in current.get("listeners") or []}
        out["listeners"] = [{**li, "conditions": _stamp(li["conditions"], (old.get(li["name"]) or {}).get("conditions"), now)}
                            for li in desired["listeners"]]
    for field, key_of in (("parents", lambda p: _parent_key(p.get("parentRef") or {}) + (p.get("controllerName"),)),
                          ("parent", lambda p: _parent_key(p.get("parentRef") or {}))):
        if field in desired:
            old = {key_of(p): p for p in current.get(field) or []}
            out[field] = [{**p, "conditions": _stamp(p.get("conditions") or [], (old.get(key_of(p)) or {}).get("conditions"),
                                                     EPOCH if (p.get("parentRef") or {}).get("kind") == "Status" else now)}
                          for p in desired[field]]
    return out


def desired_statuses(objects: ObjectSet, current: Mapping[ObjectKey, Status], proxies: Mapping[str, ProxyState],
                     now: datetime) -> dict[ObjectKey, Status]:
    """The status fields we own, for every object we own status of, stamped against `current`."""
    gateways = our_gateways(objects)
    ours = {g.key: g for g in gateways}
    desired: dict[ObjectKey, Status] = {}
    desired |= _gateway_class_status(objects)
    desired |= _gateway_status(objects, gateways, proxies)
    desired |= _route_status(objects, ours, current)
    desired |= _pool_status(objects, ours, current)
    desired |= _model_status(objects)
    desired |= _objective_status(objects)
    stamp = timestamp(now)
    return {key: _stamp_status(status, current.get(key), stamp) for key, status in desired.items()}


def changed(desired: Mapping[ObjectKey, Status], current: Mapping[ObjectKey, Status]) -> dict[ObjectKey, Status]:
    """Only the statuses that differ from what the objects have (fields we own)."""
    out = {}
    for key, status in desired.items():
        have = current.get(key) or {}
        if any(have.get(field) != value for field, value in status.items()):
            out[key] = status
    return out
