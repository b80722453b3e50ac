"""GatewayParameters, `inferenceextension.alibabacloud.com/v1alpha1`: how each Gateway's Envoy is
run (replicas, resources, autoscaling, placement, Service), named by a GatewayClass's
`parametersRef` as Envoy Gateway's GatewayClass names an EnvoyProxy. crds/ documents each
field. Every field is optional: what is left out keeps the operator's default."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from .base import KubeModel, KubeObject, StrictModel
from .policy import POLICY_GROUP

PARAMETERS_GROUP = POLICY_GROUP
PARAMETERS_KIND = "GatewayParameters"

Quantity = str  # "100m", "128Mi", "2": the API server validates the pattern (crds/)


class ParametersReference(KubeModel):
    """GatewayClass `spec.parametersRef` (Gateway API v1)."""

    group: str
    kind: str
    name: str
    namespace: str | None = None


class ProxyResources(StrictModel):
    requests: dict[str, Quantity] = Field(default_factory=dict)
    limits: dict[str, Quantity] = Field(default_factory=dict)


class ProxyDeployment(StrictModel):
    replicas: int | None = Field(default=None, ge=0)
    resources: ProxyResources | None = None
    node_selector: dict[str, str] | None = None
    tolerations: list[dict[str, Any]] | None = None
    affinity: dict[str, Any] | None = None
    pod_annotations: dict[str, str] | None = None


class ProxyAutoscaling(StrictModel):
    min_replicas: int = Field(default=1, ge=1)
    max_replicas: int = Field(ge=1)
    target_cpu_utilization_percentage: int | None = Field(default=None, ge=1, le=100,
                                                          alias="targetCPUUtilizationPercentage")
    target_memory_utilization_percentage: int | None = Field(default=None, ge=1, le=100)

    @model_validator(mode="after")
    def _bounds(self) -> "ProxyAutoscaling":
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"maxReplicas ({self.max_replicas}) is below minReplicas ({self.min_replicas})")
        return self


class ProxyService(StrictModel):
    type: Literal["LoadBalancer", "NodePort", "ClusterIP"] | None = None
    annotations: dict[str, str] | None = None
    external_traffic_policy: Literal["Cluster", "Local"] | None = None


class GatewayParametersSpec(StrictModel):
    deployment: ProxyDeployment = Field(default_factory=ProxyDeployment)
    autoscaling: ProxyAutoscaling | None = None
    service: ProxyService = Field(default_factory=ProxyService)


class GatewayParameters(KubeObject):
    kind: Literal["GatewayParameters"]
    spec: GatewayParametersSpec = Field(default_factory=GatewayParametersSpec)
