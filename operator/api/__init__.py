"""Typed models of the Kubernetes objects the gateway reads, and one entry to parse any of them."""

from __future__ import annotations

from typing import Any, Union

from .base import Condition, KubeObject, ObjectMeta
from .core import Pod
from .gateway import CONTROLLER_NAME, Gateway, GatewayClass, HTTPRoute
from .inference import InferenceModel, InferencePool
from .policy import InferenceTrafficPolicy
from .v1_objectives import InferenceModelRewrite, InferenceObjective
from .v1_pool import INFERENCE_V1_GROUP, AnyPool, InferencePoolV1, PoolView, pool_view
from .v1_service import Service

AnyObject = Union[InferencePool, InferencePoolV1, InferenceModel, InferenceObjective, InferenceModelRewrite,
                  InferenceTrafficPolicy, GatewayClass, Gateway, HTTPRoute, Pod, Service]

# (group of apiVersion, kind) → model. The Inference Extension's two InferencePool versions live
# in two groups (v1alpha2 in x-k8s.io, v1 in k8s.io), so the group tells them apart.
KINDS: dict[tuple[str, str], type[KubeObject]] = {
    ("inference.networking.x-k8s.io", "InferencePool"): InferencePool,
    (INFERENCE_V1_GROUP, "InferencePool"): InferencePoolV1,
    ("inference.networking.x-k8s.io", "InferenceModel"): InferenceModel,
    ("inference.networking.x-k8s.io", "InferenceObjective"): InferenceObjective,
    ("inference.networking.x-k8s.io", "InferenceModelRewrite"): InferenceModelRewrite,
    ("inferenceextension.alibabacloud.com", "InferenceTrafficPolicy"): InferenceTrafficPolicy,
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
    return KINDS.get((group, str(doc.get("kind", ""))))


__all__ = [
    "AnyObject", "AnyPool", "Condition", "INFERENCE_V1_GROUP", "InferenceModelRewrite", "InferenceObjective",
    "InferencePoolV1", "PoolView", "Service", "pool_view", "CONTROLLER_NAME", "Gateway", "GatewayClass", "HTTPRoute",
    "InferenceModel", "InferencePool", "InferenceTrafficPolicy", "KINDS", "KubeObject",
    "ObjectMeta", "Pod", "model_for",
]
