"""InferencePool and InferenceModel, `inference.networking.x-k8s.io/v1alpha2`, as the
Inference Extension defines them (see crds/ for the full schema with limits)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import KubeObject, StrictModel, weights_on_all_or_none

INFERENCE_GROUP = "inference.networking.x-k8s.io"

# Pool annotations the seed documents.
RUNTIME_ANNOTATION = "inference.networking.x-k8s.io/model-server-runtime"
STRATEGY_ANNOTATION = "inference.networking.x-k8s.io/routing-strategy"


class ExtensionRef(StrictModel):
    group: str = Field(default="", max_length=253)
    kind: str = Field(default="Service", min_length=1, max_length=63)
    name: str = Field(min_length=1, max_length=253)
    port_number: int = Field(default=9002, ge=1, le=65535)
    failure_mode: Literal["FailOpen", "FailClose"] = "FailClose"


class InferencePoolSpec(StrictModel):
    selector: dict[str, str] = Field(min_length=1, max_length=64)
    target_port_number: int = Field(ge=1, le=65535)
    extension_ref: ExtensionRef | None = None


class InferencePool(KubeObject):
    kind: Literal["InferencePool"]
    spec: InferencePoolSpec


class PoolRef(StrictModel):
    group: str = Field(default=INFERENCE_GROUP, max_length=253)
    kind: str = Field(default="InferencePool", min_length=1, max_length=63)
    name: str = Field(min_length=1, max_length=253)


class TargetModelSpec(StrictModel):
    name: str = Field(min_length=1, max_length=253)
    weight: int | None = Field(default=None, ge=1, le=1_000_000)


class InferenceModelSpec(StrictModel):
    model_name: str = Field(min_length=1, max_length=256)
    criticality: Literal["Critical", "Standard", "Sheddable"] | None = None
    target_models: list[TargetModelSpec] = Field(default_factory=list, max_length=10)
    pool_ref: PoolRef

    @model_validator(mode="after")
    def _weights_on_all_or_none(self) -> "InferenceModelSpec":
        weights_on_all_or_none([t.weight for t in self.target_models], "targetModels")
        return self


class InferenceModel(KubeObject):
    kind: Literal["InferenceModel"]
    spec: InferenceModelSpec
