"""Shared pieces of the Kubernetes object models: metadata, references, conditions."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AliasGenerator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

DEFAULT_NAMESPACE = "default"


class KubeModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields ignored (Gateway API
    objects carry much we do not use)."""

    model_config = ConfigDict(
        alias_generator=AliasGenerator(validation_alias=to_camel, serialization_alias=to_camel),
        populate_by_name=True,
        extra="ignore",
        frozen=True,
    )


class StrictModel(KubeModel):
    """For our own CRDs' specs: a misspelt field is an error, not a silent default."""

    model_config = ConfigDict(extra="forbid")


def weights_on_all_or_none(weights: list[int | None], field: str) -> None:
    """The Inference Extension's rule for weighted targets (InferenceModel, InferenceModelRewrite)."""
    given = [w is not None for w in weights]
    if any(given) and not all(given):
        raise ValueError(f"{field}: weight must be set on all entries or on none")


class ObjectMeta(KubeModel):
    name: str = Field(min_length=1, max_length=253)
    namespace: str = DEFAULT_NAMESPACE
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    generation: int = 0
    uid: str = ""
    resource_version: str = ""
    creation_timestamp: datetime | None = None


class KubeObject(KubeModel):
    api_version: str
    kind: str
    metadata: ObjectMeta

    @property
    def key(self) -> tuple[str, str]:
        return (self.metadata.namespace, self.metadata.name)

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.metadata.namespace}/{self.metadata.name}"

    def internal(self) -> "KubeObject":
        """The object as translation reads it. The internal model of each kind is the first
        version we served; another API version of a kind is a model of its own (listed in
        `KINDS`) whose `internal()` converts to it, so translation never sees versions."""
        return self


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(KubeModel):
    type: str
    status: ConditionStatus
    reason: str
    message: str = ""
    observed_generation: int = 0
    last_transition_time: datetime | None = None
