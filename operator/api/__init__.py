"""Typed models of the Kubernetes objects the gateway reads, and one entry to parse any of them."""

from __future__ import annotations

from typing import Any, Union

from .base import Condition, KubeObject, ObjectMeta
from .core import Pod
from .gateway import CONTROLLER_NAME, Gateway, GatewayClass, HTTPRoute
from .inference import InferenceModel, InferencePool
from .parameters import GatewayParameters
from .policy import InferenceTrafficPolicy
from .v1_objectives import InferenceModelRewrite, InferenceObjective
from .v1_pool import INFERENCE_V1_GROUP, AnyPool, InferencePoolV1, PoolView, pool_view
from .v1_service import Service

AnyObject = Union[InferencePool, InferencePoolV1, InferenceModel, InferenceObjective, InferenceModelRewrite,
                  InferenceTrafficPolicy, GatewayClass, Gateway, HTTPRoute, Pod, Service, GatewayParameters]

# (group of apiVersion, kind) → model. A kind whose versions differ gets one model per version
# (key the group and version it differs by) and each converts with `internal()`
# (base.KubeObject) to the internal model translation reads. The v1 InferencePool (its own
# group) is read by translation through `pool_view`, beside v1alpha2: data-parallel ports, h2c
# and optional picker references do not fit the v1alpha2 model.
KINDS: dict[tuple[str, str], type[KubeObject]] = {  # key: (group or apiVersion, kind)
    ("inference.networking.x-k8s.io", "InferencePool"): InferencePool,
    (INFERENCE_V1_GROUP, "InferencePool"): InferencePoolV1,
    ("inference.networking.x-k8s.io", "InferenceModel"): InferenceModel,
    ("inference.networking.x-k8s.io", "InferenceObjective"): InferenceObjective,
    ("inference.networking.x-k8s.io", "InferenceModelRewrite"): InferenceModelRewrite,
    ("inferenceextension.alibabacloud.com", "InferenceTrafficPolicy"): InferenceTrafficPolicy,
    ("inferenceextension.alibabacloud.com", "GatewayParameters"): GatewayParameters,
    ("gateway.networking.k8s.io", "GatewayClass"): GatewayClass,
    ("gateway.networking.k8s.io", "Gateway"): Gateway,
    ("gateway.networking.k8s.io", "HTTPRoute"): HTTPRoute,
    ("", "Pod"): Pod,
    ("", "Service"): Service,  # only endpoint-picker Services are read
}


def model_for(doc: dict[str, Any]) -> type[KubeObject] | None:
    """The model class for a raw object, or None for kinds the gateway does not read."""
    api_version = str(doc.get("apiVersion", ""))
    group = api_version.rpartition("/")[0] if "/" in api_version else ""
    kind = str(doc.get("kind", ""))
    return KINDS.get((api_version, kind)) or KINDS.get((group, kind))  # type: ignore[return-value]


def parse_object(doc: dict[str, Any]) -> AnyObject | None:
    """A raw object as translation reads it (validated, converted to the internal model), or
    None for kinds the gateway does not read. Raises pydantic's ValidationError."""
    model = model_for(doc)
    return model.model_validate(doc).internal() if model is not None else None  # type: ignore[return-value]


__all__ = [
    "AnyObject", "AnyPool", "Condition", "INFERENCE_V1_GROUP", "InferenceModelRewrite", "InferenceObjective",
    "InferencePoolV1", "PoolView", "Service", "pool_view", "CONTROLLER_NAME", "Gateway", "GatewayClass",
    "GatewayParameters", "HTTPRoute",
    "InferenceModel", "InferencePool", "InferenceTrafficPolicy", "KINDS", "KubeObject",
    "ObjectMeta", "Pod", "model_for", "parse_object",
]
