"""InferencePool `inference.networking.k8s.io/v1` (the Inference Extension's GA API), and one
read view of a pool that both API versions answer to, so translation reads pools one way.

v1 differs from v1alpha2 (api/inference.py) in shape, not meaning:

| v1alpha2                       | v1                                          |
|--------------------------------|---------------------------------------------|
| `selector: {k: v}`             | `selector.matchLabels: {k: v}`              |
| `targetPortNumber: N`          | `targetPorts: [{number: N}, …]` (≤ 8 ranks) |
| —                              | `appProtocol: http | kubernetes.io/h2c`     |
| `extensionRef{portNumber=9002}`| `endpointPickerRef{port{number}}` (no default port) |
| `status.parent[]`              | `status.parents[]` (+ `controllerName`)     |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

from pydantic import Field, model_validator

from .base import KubeObject, StrictModel
from .inference import INFERENCE_GROUP, InferencePool

INFERENCE_V1_GROUP = "inference.networking.k8s.io"
H2C = "kubernetes.io/h2c"


class LabelSelector(StrictModel):
    match_labels: dict[str, str] = Field(min_length=1, max_length=64)


class PortV1(StrictModel):
    number: int = Field(ge=1, le=65535)


class EndpointPickerRef(StrictModel):
    group: str = Field(default="", max_length=253)
    kind: str = Field(default="Service", max_length=63)
    name: str = Field(min_length=1, max_length=253)
    port: PortV1 | None = None
    failure_mode: Literal["FailOpen", "FailClose"] = "FailClose"

    @model_validator(mode="after")
    def _service_needs_port(self) -> "EndpointPickerRef":
        # Upstream's CEL rule: a Service has no implicit port in v1.
        if self.kind == "Service" and self.port is None:
            raise ValueError("endpointPickerRef.port is required when kind is Service")
        return self


class InferencePoolV1Spec(StrictModel):
    selector: LabelSelector
    target_ports: list[PortV1] = Field(min_length=1, max_length=8)
    app_protocol: Literal["http", "kubernetes.io/h2c"] = "http"
    endpoint_picker_ref: EndpointPickerRef | None = None

    @model_validator(mode="after")
    def _unique_ports(self) -> "InferencePoolV1Spec":
        numbers = [p.number for p in self.target_ports]
        if len(set(numbers)) != len(numbers):
            raise ValueError("targetPorts: port number must be unique")
        return self


class InferencePoolV1(KubeObject):
    kind: Literal["InferencePool"]
    spec: InferencePoolV1Spec


AnyPool = Union[InferencePool, InferencePoolV1]


@dataclass(frozen=True, slots=True)
class PickerRef:
    """A pool's endpoint picker, whichever version named it."""

    group: str
    kind: str
    name: str
    port: int
    fail_open: bool


@dataclass(frozen=True, slots=True)
class PoolView:
    """What translation reads of a pool, the same for v1alpha2 and v1."""

    group: str
    namespace: str
    name: str
    selector: dict[str, str]
    target_ports: tuple[int, ...]
    h2c: bool
    picker: PickerRef | None
    annotations: dict[str, str]
    generation: int


def pool_group(pool: AnyPool) -> str:
    return pool.api_version.rpartition("/")[0]


def pool_view(pool: AnyPool) -> PoolView:
    meta = pool.metadata
    if isinstance(pool, InferencePoolV1):
        s = pool.spec
        ref = s.endpoint_picker_ref
        picker = None if ref is None else PickerRef(
            ref.group, ref.kind, ref.name, ref.port.number if ref.port else 0, ref.failure_mode == "FailOpen")
        return PoolView(INFERENCE_V1_GROUP, meta.namespace, meta.name, dict(s.selector.match_labels),
                        tuple(p.number for p in s.target_ports), s.app_protocol == H2C, picker,
                        dict(meta.annotations), meta.generation)
    a = pool.spec
    ext = a.extension_ref
    picker = None if ext is None else PickerRef(
        ext.group, ext.kind, ext.name, ext.port_number, ext.failure_mode == "FailOpen")
    return PoolView(INFERENCE_GROUP, meta.namespace, meta.name, dict(a.selector), (a.target_port_number,),
                    False, picker, dict(meta.annotations), meta.generation)
