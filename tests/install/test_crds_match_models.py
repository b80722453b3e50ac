"""The CRDs in crds/ and the pydantic API models in operator/api/ say the same thing about
every spec field: the same names, the same required fields, the same enum values and the same
limits. Neither can drift from the other unnoticed."""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

import annotated_types
import pytest
from pydantic import BaseModel

from inference_gateway.operator import crd_validation as cv
from inference_gateway.operator.api import model_for

CRDS = sorted(cv.load_crds().items())
LIMITS = {  # CRD keyword → (annotated_types constraint, its attribute)
    "minimum": (annotated_types.Ge, "ge"), "maximum": (annotated_types.Le, "le"),
    "minLength": (annotated_types.MinLen, "min_length"), "maxLength": (annotated_types.MaxLen, "max_length"),
    "minItems": (annotated_types.MinLen, "min_length"), "maxItems": (annotated_types.MaxLen, "max_length"),
    "minProperties": (annotated_types.MinLen, "min_length"), "maxProperties": (annotated_types.MaxLen, "max_length"),
}


def _unwrap(annotation: Any) -> Any:
    """X | None → X."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _limits(metadata: list[Any]) -> dict[str, Any]:
    out = {}
    for constraint in metadata:
        for keyword, (kind, attr) in LIMITS.items():
            if isinstance(constraint, kind):
                out.setdefault(attr, getattr(constraint, attr))
    return out


def _compare(node: dict[str, Any], annotation: Any, metadata: list[Any], where: str) -> list[str]:
    wrong: list[str] = []
    annotation = _unwrap(annotation)
    crd_limits = {LIMITS[k][1]: v for k, v in node.items() if k in LIMITS}
    if crd_limits != _limits(metadata):
        wrong.append(f"{where}: limits CRD {crd_limits} != model {_limits(metadata)}")
    if "enum" in node:
        values = typing.get_args(annotation) if typing.get_origin(annotation) is Literal else ()
        if set(node["enum"]) != set(values):
            wrong.append(f"{where}: enum CRD {node['enum']} != model {list(values)}")
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        fields = {(f.validation_alias or name): (name, f) for name, f in annotation.model_fields.items()}
        props = node.get("properties", {})
        if set(props) != set(fields):
            wrong.append(f"{where}: fields CRD {sorted(props)} != model {sorted(fields)}")
        required = {alias for alias, (_, f) in fields.items() if f.is_required()}
        if set(node.get("required", [])) != required:
            wrong.append(f"{where}: required CRD {sorted(node.get('required', []))} != model {sorted(required)}")
        for alias in set(props) & set(fields):
            _, f = fields[alias]
            wrong += _compare(props[alias], f.annotation, list(f.metadata), f"{where}.{alias}")
    elif typing.get_origin(annotation) is list and "items" in node:
        wrong += _compare(node["items"], typing.get_args(annotation)[0], [], f"{where}[]")
    return wrong


@pytest.mark.parametrize("resource", [r for _, r in CRDS], ids=lambda r: f"{r.kind}-{r.version}")
def test_crd_spec_matches_the_api_model(resource):
    model = model_for({"apiVersion": f"{resource.group}/{resource.version}", "kind": resource.kind})
    assert model is not None, f"no API model reads {resource.kind} {resource.version}"
    spec = model.model_fields["spec"]
    assert _compare(resource.schema["properties"]["spec"], spec.annotation, list(spec.metadata), "spec") == []


def test_the_comparison_can_fail():
    """A drifted field is caught (guards the test above against comparing nothing)."""
    resource = next(r for _, r in CRDS if r.kind == "InferencePool" and r.version == "v1alpha2")
    node = {**resource.schema["properties"]["spec"]}
    node["properties"] = {**node["properties"], "targetPorts": {"type": "array"}}
    node["required"] = [*node["required"], "targetPorts"]
    model = model_for({"apiVersion": f"{resource.group}/{resource.version}", "kind": "InferencePool"})
    wrong = _compare(node, model.model_fields["spec"].annotation, [], "spec")
    assert any("fields" in w for w in wrong) and any("required" in w for w in wrong)
