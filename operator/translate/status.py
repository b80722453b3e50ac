"""Objects (through the attachment decided once) → the status each object should have. Pure.

These are the statuses as the objects alone decide them. What only the running system knows
(whether each Gateway's Envoy is provisioned, ready and accepted its configuration, its
addresses), other controllers' entries and the timestamps are added when the statuses are
written (stamping.py).

Reasons follow the Gateway API and the Inference Extension (v1alpha2):
- GatewayClass (our controllerName only): Accepted.
- Gateway: Accepted (Accepted / ListenersNotValid), `listeners[]` (attachedRoutes counts the
  routes attached to the listener); Programmed and `addresses` come from the proxy.
- HTTPRoute `parents[]` (our Gateways only): Accepted (Accepted / NoMatchingParent /
  NotAllowedByListeners), ResolvedRefs (ResolvedRefs / BackendNotFound / InvalidKind).
- InferencePool `parent[]` per parent Gateway: Accepted (Accepted / NotSupportedByGateway /
  HTTPRouteNotAccepted; Pending under the `Status/default` parent while no Gateway of ours
  references it), ResolvedRefs (ResolvedRefs / InvalidExtensionRef); an annotation value the
  gateway does not know adds `inference.networking.x-k8s.io/Annotations` False / UnknownValue.
- InferenceModel: Accepted (Accepted / ModelNameInUse: the oldest InferenceModel wins /
  PoolNotFound: its poolRef names no InferencePool).
- v1 InferencePool (inference.networking.k8s.io): `parents[]` with `controllerName`, empty when
  no Gateway of ours routes to it (no placeholder); Accepted reasons Accepted /
  NotSupportedByParent / HTTPRouteNotAccepted. Its status key's kind is
  `InferencePool.inference.networking.k8s.io` (a v1alpha2 pool may have the same name).
- InferenceObjective, InferenceModelRewrite: Accepted once their pool exists (else Pending).
- InferenceTrafficPolicy: Accepted (Accepted / Conflicted: an older policy governs the pool /
  Pending: no pool to govern), ResolvedRefs (ResolvedRefs / PoolNotFound).
"""

from __future__ import annotations

from typing import Any

from ..api import INFERENCE_V1_GROUP, AnyPool, pool_view
from ..api.gateway import GATEWAY_GROUP
from ..problems import Problem
from .attachment import Attachment, is_http
from .objects import ObjectSet
from .parameters import class_parameters
from .policy import PolicyVerdict
from .routing import model_winners

ObjectKey = tuple[str, str, str]  # (kind, namespace, name); namespace "" for cluster-scoped
Status = dict[str, Any]

ANNOTATIONS_CONDITION = "inference.networking.x-k8s.io/Annotations"
PENDING_PARENT = {"kind": "Status", "name": "default"}


def object_key(kind: str, namespace: str, name: str) -> ObjectKey:
    return (kind, "" if kind == "GatewayClass" else namespace, name)


def condition(type_: str, ok: bool | None, reason: str, message: str, generation: int) -> dict[str, Any]:
    status = "Unknown" if ok is None else "True" if ok else "False"
    return {"type": type_, "status": status, "reason": reason, "message": message,
            "observedGeneration": generation}


def _gateway_class_status(objects: ObjectSet, controller: str) -> dict[ObjectKey, Status]:
    def accepted(gc: Any) -> dict[str, Any]:
        problem = class_parameters(objects, gc).problem  # its GatewayParameters (parameters.py)
        if problem is not None:
            return condition("Accepted", False, "InvalidParameters", problem, gc.metadata.generation)
        return condition("Accepted", True, "Accepted", "Handled by the inference gateway", gc.metadata.generation)
    return {object_key("GatewayClass", "", gc.metadata.name): {"conditions": [accepted(gc)]}
            for gc in objects.gateway_classes if gc.spec.controller_name == controller}


def _gateway_status(attachment: Attachment) -> dict[ObjectKey, Status]:
    out: dict[ObjectKey, Status] = {}
    for gw in attachment.gateways:
        gen = gw.metadata.generation
        http = any(is_http(li) for li in gw.spec.listeners)
        accepted = condition("Accepted", True, "Accepted", "Gateway is accepted", gen) if http else \
            condition("Accepted", False, "ListenersNotValid", "no listener has a supported protocol (HTTP)", gen)
        listeners = []
        for li in gw.spec.listeners:
            ok = is_http(li)
            conditions = [
                condition("Accepted", ok, "Accepted" if ok else "UnsupportedProtocol",
                          "Listener is accepted" if ok else f"protocol {li.protocol} is not supported", gen),
                condition("ResolvedRefs", True, "ResolvedRefs", "References are resolved", gen),
            ]
            if not ok:  # an accepted listener is Programmed when its proxy is (stamping.py)
                conditions.append(condition("Programmed", False, "Invalid", f"protocol {li.protocol} is not supported", gen))
            listeners.append({
                "name": li.name,
                "supportedKinds": [{"group": GATEWAY_GROUP, "kind": "HTTPRoute"}] if ok else [],
                "attachedRoutes": len(attachment.routes_on(gw, li.name)),
                "conditions": conditions,
            })
        out[object_key("Gateway", gw.metadata.namespace, gw.metadata.name)] = {
            "conditions": [accepted], "listeners": listeners}
    return out


def _route_status(objects: ObjectSet, attachment: Attachment, controller: str) -> dict[ObjectKey, Status]:
    out: dict[ObjectKey, Status] = {}
    for route in objects.routes:
        gen = route.metadata.generation
        verdicts = attachment.backends_of(route)
        missing = [f"InferencePool {v.ref.namespace or route.metadata.namespace}/{v.ref.name}"
                   for v in verdicts if v.reason == "BackendNotFound"]
        wrong_kind = [f"{v.ref.kind}/{v.ref.name}" for v in verdicts if v.reason == "InvalidKind"]
        if missing:
            resolved = condition("ResolvedRefs", False, "BackendNotFound", f"{', '.join(missing)} not found", gen)
        elif wrong_kind:
            resolved = condition("ResolvedRefs", False, "InvalidKind",
                                 f"only InferencePool backends are supported: {', '.join(wrong_kind)}", gen)
        else:
            resolved = condition("ResolvedRefs", True, "ResolvedRefs", "All references are resolved", gen)
        parents = []
        for p in attachment.of_route(route):
            parent_ref: dict[str, Any] = {"group": GATEWAY_GROUP, "kind": "Gateway",
                                          "namespace": p.gateway.metadata.namespace, "name": p.ref.name}
            if p.ref.section_name is not None:
                parent_ref["sectionName"] = p.ref.section_name
            if p.ref.port is not None:
                parent_ref["port"] = p.ref.port
            parents.append({"parentRef": parent_ref, "controllerName": controller,
                            "conditions": [condition("Accepted", p.accepted, p.reason, p.message, gen), resolved]})
        out[object_key("HTTPRoute", route.metadata.namespace, route.metadata.name)] = {"parents": parents}
    return out


def _extension_ref(pool: AnyPool, attachment: Attachment) -> tuple[bool, str, str]:
    picker = attachment.picker(pool)
    return picker.ok, "ResolvedRefs" if picker.ok else "InvalidExtensionRef", picker.message


def pool_status_kind(pool: AnyPool) -> str:
    """Status keys of v1 pools carry their group: a v1alpha2 pool may have the same name."""
    return f"InferencePool.{INFERENCE_V1_GROUP}" if pool_view(pool).group == INFERENCE_V1_GROUP else "InferencePool"


def _pool_status(objects: ObjectSet, attachment: Attachment, problems: list[Problem],
                 controller: str) -> dict[ObjectKey, Status]:
    out: dict[ObjectKey, Status] = {}
    for pool in objects.pools:
        gen = pool.metadata.generation
        v1 = pool_view(pool).group == INFERENCE_V1_GROUP
        verdicts: dict[tuple[str, str], tuple[bool, str, str]] = {}
        routes = {r.key for r in attachment.routes_to(pool)}
        for p in attachment.parents:
            if p.route.key not in routes:
                continue
            if not any(is_http(li) for li in p.gateway.spec.listeners):
                verdict = (False, "NotSupportedByParent" if v1 else "NotSupportedByGateway",
                           "the Gateway has no HTTP listener")
            elif p.accepted:
                verdict = (True, "Accepted", "InferencePool is accepted by the Gateway")
            else:
                verdict = (False, "HTTPRouteNotAccepted", f"HTTPRoute {p.route.metadata.namespace}/"
                           f"{p.route.metadata.name} is not accepted: {p.message}")
            key = p.gateway.key
            if key not in verdicts or (verdict[0] and not verdicts[key][0]):
                verdicts[key] = verdict
        conditions = [condition("ResolvedRefs", *_extension_ref(pool, attachment), gen)]
        unknown = [f"{p.field}: {p.message}" for p in problems
                   if (p.kind, p.namespace, p.name) == ("InferencePool", *pool.key) and p.field.startswith("metadata.")]
        if unknown:
            conditions.append(condition(ANNOTATIONS_CONDITION, False, "UnknownValue", "; ".join(unknown), gen))
        parents = [{"parentRef": {"group": GATEWAY_GROUP, "kind": "Gateway", "namespace": ns, "name": n},
                    **({"controllerName": controller} if v1 else {}),
                    "conditions": [condition("Accepted", ok, reason, message, gen), *conditions]}
                   for (ns, n), (ok, reason, message) in sorted(verdicts.items())]
        if v1:
            # v1: no parent is an empty list ("not associated with any parents"), no placeholder.
            out[object_key(pool_status_kind(pool), *pool.key)] = {"parents": parents}
            continue
        if not parents:
            parents = [{"parentRef": dict(PENDING_PARENT), "conditions": [
                condition("Accepted", None, "Pending", "Waiting for controller: no Gateway of ours routes to it", gen),
                *conditions]}]
        out[object_key("InferencePool", *pool.key)] = {"parent": parents}
    return out


def _model_status(objects: ObjectSet) -> dict[ObjectKey, Status]:
    winners = model_winners(objects.models)
    out: dict[ObjectKey, Status] = {}
    for model in objects.models:
        gen = model.metadata.generation
        winner = winners[(model.metadata.namespace, model.spec.model_name)]
        ref = model.spec.pool_ref
        if winner.key != model.key:
            cond = condition("Accepted", False, "ModelNameInUse",
                             f"modelName {model.spec.model_name!r} is already in use by InferenceModel "
                             f"{winner.metadata.name} (the oldest wins)", gen)
        elif ref.kind != "InferencePool" or objects.pool(model.metadata.namespace, ref.name, ref.group) is None:
            cond = condition("Accepted", False, "PoolNotFound",
                             f"poolRef: InferencePool {model.metadata.namespace}/{ref.name} not found", gen)
        else:
            cond = condition("Accepted", True, "Accepted", "InferenceModel is accepted", gen)
        out[object_key("InferenceModel", model.metadata.namespace, model.metadata.name)] = {"conditions": [cond]}
    return out


def _policy_status(verdicts: list[PolicyVerdict]) -> dict[ObjectKey, Status]:
    out: dict[ObjectKey, Status] = {}
    for v in verdicts:
        gen = v.policy.metadata.generation
        accepted = condition("Accepted", True, "Accepted", v.message, gen) if v.in_force else \
            condition("Accepted", False, "Conflicted" if v.pool_found else "Pending", v.message, gen)
        resolved = condition("ResolvedRefs", True, "ResolvedRefs", "poolRef is resolved", gen) if v.pool_found else \
            condition("ResolvedRefs", False, "PoolNotFound", v.message, gen)
        out[object_key("InferenceTrafficPolicy", *v.policy.key)] = {"conditions": [accepted, resolved]}
    return out


def desired_statuses(objects: ObjectSet, attachment: Attachment, policies: list[PolicyVerdict],
                     problems: list[Problem], controller: str) -> dict[ObjectKey, Status]:
    """The status fields we own, for every object whose status we own, as the objects decide them."""
    return (_gateway_class_status(objects, controller) | _gateway_status(attachment)
            | _route_status(objects, attachment, controller) | _pool_status(objects, attachment, problems, controller)
            | _model_status(objects) | _policy_status(policies) | _objective_status(objects))


def _objective_status(objects: ObjectSet) -> dict[ObjectKey, Status]:
    """InferenceObjective and InferenceModelRewrite: Accepted once their pool exists."""
    out: dict[ObjectKey, Status] = {}
    for obj in (*objects.objectives, *objects.rewrites):
        ref, gen = obj.spec.pool_ref, obj.metadata.generation
        if objects.pool(obj.metadata.namespace, ref.name, ref.group) is not None:
            cond = condition("Accepted", True, "Accepted", f"{obj.kind} is accepted", gen)
        else:
            cond = condition("Accepted", None, "Pending",
                             f"InferencePool {obj.metadata.namespace}/{ref.name} ({ref.group}) not found", gen)
        out[object_key(obj.kind, obj.metadata.namespace, obj.metadata.name)] = {"conditions": [cond]}
    return out
