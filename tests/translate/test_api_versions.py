"""A second API version of a kind is a model of its own plus `internal()`, its conversion to
the model translation reads; nothing else changes (the seam the v1 InferencePool uses)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from inference_gateway.operator import api
from inference_gateway.operator.api import InferencePool, parse_object
from inference_gateway.operator.api.base import KubeModel, KubeObject
from inference_gateway.operator.translate import translate


class _Port(KubeModel):
    number: int


class _Spec(KubeModel):
    match_labels: dict[str, str]
    target_ports: list[_Port] = Field(min_length=1)


class PoolV9(KubeObject):
    """An imaginary next version that renames and reshapes fields."""

    kind: Literal["InferencePool"]
    spec: _Spec

    def internal(self) -> InferencePool:
        return InferencePool.model_validate({
            "apiVersion": "inference.networking.x-k8s.io/v1alpha2", "kind": "InferencePool",
            "metadata": self.metadata.model_dump(by_alias=True),
            "spec": {"selector": self.spec.match_labels, "targetPortNumber": self.spec.target_ports[0].number}})


def test_a_new_version_is_a_model_and_a_conversion(monkeypatch):
    monkeypatch.setitem(api.KINDS, ("example.com/v9", "InferencePool"), PoolV9)
    pool = parse_object({"apiVersion": "example.com/v9", "kind": "InferencePool", "metadata": {"name": "p"},
                         "spec": {"matchLabels": {"app": "a"}, "targetPorts": [{"number": 8001}]}})
    assert isinstance(pool, InferencePool) and pool.spec.target_port_number == 8001
    assert translate([pool]).table.pools["default/p"].target_port == 8001
