"""InferenceObjective and InferenceModelRewrite (`inference.networking.x-k8s.io/v1alpha2`, the
Inference Extension's successors of InferenceModel, served upstream from v1.0 to v1.5).

- InferenceObjective: a request's importance. The client names one per request in the header
  `x-gateway-inference-objective`; `priority` (default 0) is higher-is-more-important and may
  be negative. This gateway's admission has three bands: priority > 0 is served as Critical,
  0 as Standard, < 0 as Sheddable (shed with 429 while the pool is saturated).
- InferenceModelRewrite: rules that match the body's `model` (Exact) and send it to weighted
  `targets[].modelRewrite` names; a rule without matches matches every model.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import KubeObject, StrictModel, weights_on_all_or_none
from .v1_pool import INFERENCE_V1_GROUP

OBJECTIVE_HEADER = "x-gateway-inference-objective"


class PoolObjectReference(StrictModel):
    group: str = INFERENCE_V1_GROUP
    kind: str = "InferencePool"
    name: str = Field(min_length=1, max_length=253)


class InferenceObjectiveSpec(StrictModel):
    priority: int | None = None
    pool_ref: PoolObjectReference


class InferenceObjective(KubeObject):
    kind: Literal["InferenceObjective"]
    spec: InferenceObjectiveSpec


class ModelMatch(StrictModel):
    type: Literal["Exact"] = "Exact"
    value: str = Field(min_length=1)


class RewriteMatch(StrictModel):
    model: ModelMatch


class RewriteTarget(StrictModel):
    weight: int | None = Field(default=None, ge=1, le=1_000_000)
    model_rewrite: str = Field(min_length=1)


class RewriteRule(StrictModel):
    matches: list[RewriteMatch] = Field(default_factory=list)
    targets: list[RewriteTarget] = Field(min_length=1)

    @model_validator(mode="after")
    def _weights_on_all_or_none(self) -> "RewriteRule":
        weights_on_all_or_none([t.weight for t in self.targets], "targets")
        return self


class InferenceModelRewriteSpec(StrictModel):
    pool_ref: PoolObjectReference
    rules: list[RewriteRule] = Field(min_length=1)


class InferenceModelRewrite(KubeObject):
    kind: Literal["InferenceModelRewrite"]
    spec: InferenceModelRewriteSpec
