"""GatewayClass `parametersRef` → the GatewayParameters its Gateways' proxies are provisioned
with. Pure.

A class without a reference uses the operator's defaults. A reference that names another
kind, no namespace, or an object that does not exist is invalid: the class reports
`Accepted=False, reason InvalidParameters` (the Gateway API's reason) and its proxies are left
as they are, neither re-provisioned with defaults (a deleted parameters object must not
shrink a production Envoy fleet to one replica) nor deleted.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..api import CONTROLLER_NAME, Gateway, GatewayClass
from ..api.parameters import PARAMETERS_GROUP, PARAMETERS_KIND, GatewayParametersSpec
from ..problems import Problem
from .objects import ObjectSet


@dataclass(frozen=True)
class ClassParameters:
    spec: GatewayParametersSpec | None = None  # None: the operator's defaults
    problem: str | None = None                  # why the reference is invalid


def class_parameters(objects: ObjectSet, gateway_class: GatewayClass) -> ClassParameters:
    ref = gateway_class.spec.parameters_ref
    if ref is None:
        return ClassParameters()
    if (ref.group, ref.kind) != (PARAMETERS_GROUP, PARAMETERS_KIND):
        return ClassParameters(problem=f"parametersRef must name a {PARAMETERS_KIND} ({PARAMETERS_GROUP}), "
                                       f"not {ref.group or 'core'}/{ref.kind}")
    if not ref.namespace:
        return ClassParameters(problem=f"parametersRef to {PARAMETERS_KIND} {ref.name} needs a namespace "
                                       "(the kind is namespaced)")
    for params in objects.gateway_parameters:
        if params.key == (ref.namespace, ref.name):
            return ClassParameters(spec=params.spec)
    return ClassParameters(problem=f"{PARAMETERS_KIND} {ref.namespace}/{ref.name} not found "
                                   "(or it does not validate against its schema)")


def parameters_problems(objects: ObjectSet, controller: str = CONTROLLER_NAME) -> list[Problem]:
    """Our classes whose parametersRef cannot be used (their status says InvalidParameters)."""
    return [Problem("", "GatewayClass", gc.metadata.name, "spec.parametersRef", f"InvalidParameters: {problem}")
            for gc in objects.gateway_classes if gc.spec.controller_name == controller
            for problem in [class_parameters(objects, gc).problem] if problem is not None]


def gateway_parameters(objects: ObjectSet, gateway: Gateway) -> ClassParameters:
    """The parameters of a Gateway's class (its class exists: only our Gateways get here)."""
    for gateway_class in objects.gateway_classes:
        if gateway_class.metadata.name == gateway.spec.gateway_class_name:
            return class_parameters(objects, gateway_class)
    return ClassParameters()


def overlay(base: GatewayParametersSpec | None, top: GatewayParametersSpec | None) -> GatewayParametersSpec:
    """`top` over `base`, field by field within each section; `autoscaling` as a whole."""
    if base is None or top is None:
        return top or base or GatewayParametersSpec()
    merged: dict[str, object] = {}
    for section in ("deployment", "service"):
        merged[section] = {**getattr(base, section).model_dump(exclude_unset=True, by_alias=True),
                           **getattr(top, section).model_dump(exclude_unset=True, by_alias=True)}
    autoscaling = top.autoscaling if "autoscaling" in top.model_fields_set else base.autoscaling
    merged["autoscaling"] = autoscaling.model_dump(by_alias=True) if autoscaling else None
    return GatewayParametersSpec.model_validate(merged)
