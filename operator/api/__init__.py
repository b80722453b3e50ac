"""Typed models of the Kubernetes objects the gateway reads, and one entry to parse any of them."""

from __future__ import annotations

from typing import Any, Union

from .base import Condition, KubeObject, ObjectMeta
from .core import Pod
from .gateway import CONTROLLER_NAME, Gateway, GatewayClass, HTTPRoute
from .inference import InferenceModel, InferencePool
from .parameters import GatewayParameters
from .policy import InferenceTrafficPolicy

AnyObject = Union[InferencePool, InferenceModel, InferenceTrafficPolicy, GatewayClass, Gateway, HTTPRoute, Pod,
                  GatewayParameters]

# (group of apiVersion, kind) → model. Versions are not distinguished: the fields we read are
# the same in every version we accept.
KINDS: dict[tuple[str, str], type[KubeObject]] = {
    ("inference.networking.x-k8s.io", "InferencePool"): InferencePool,
    ("inference.networking.x-k8s.io", "InferenceModel"): InferenceModel,
    ("inferenceextension.alibabacloud.com", "InferenceTrafficPolicy"): InferenceTrafficPolicy,
    ("inferenceextension.alibabacloud.com", "GatewayParameters"): GatewayParameters,
    ("gateway.networking.k8s.io", "GatewayClass"): GatewayClass,
    ("gateway.networking.k8s.io", "Gateway"): Gateway,
    ("gateway.networking.k8s.io", "HTTPRoute"): HTTPRoute,
    ("", "Pod"): Pod,
}


def model_for(doc: dict[str, Any]) -> type[KubeObject] | None:
    """The model class for a raw object, or None for kinds the gateway does not read."""
    api_version = str(doc.get("apiVersion", ""))
    group = api_version.rpartition("/")[0] if "/" in api_version else ""
    return KINDS.get((group, str(doc.get("kind", ""))))


__all__ = [
    "AnyObject", "Condition", "CONTROLLER_NAME", "Gateway", "GatewayClass", "GatewayParameters", "HTTPRoute",
    "InferenceModel", "InferencePool", "InferenceTrafficPolicy", "KINDS", "KubeObject",
    "ObjectMeta", "Pod", "model_for",
]
