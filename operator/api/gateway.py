"""The subset of the Gateway API (`gateway.networking.k8s.io/v1`) the gateway implements."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import KubeModel, KubeObject
from .parameters import ParametersReference

GATEWAY_GROUP = "gateway.networking.k8s.io"
CONTROLLER_NAME = "inference.networking.x-k8s.io/gateway-controller"


class GatewayClassSpec(KubeModel):
    controller_name: str
    parameters_ref: ParametersReference | None = None  # our GatewayParameters (parameters.py)


class GatewayClass(KubeObject):
    kind: Literal["GatewayClass"]
    spec: GatewayClassSpec


class GatewayListener(KubeModel):
    name: str
    protocol: str
    port: int = Field(ge=1, le=65535)
    hostname: str | None = None


class GatewaySpec(KubeModel):
    gateway_class_name: str
    listeners: list[GatewayListener] = Field(min_length=1, max_length=64)


class Gateway(KubeObject):
    kind: Literal["Gateway"]
    spec: GatewaySpec


class ParentRef(KubeModel):
    group: str = GATEWAY_GROUP
    kind: str = "Gateway"
    name: str
    namespace: str | None = None
    section_name: str | None = None
    port: int | None = None


class PathMatch(KubeModel):
    type: Literal["PathPrefix", "Exact", "RegularExpression"] = "PathPrefix"
    value: str = "/"


class HeaderMatch(KubeModel):
    type: Literal["Exact", "RegularExpression"] = "Exact"
    name: str
    value: str


class RouteMatch(KubeModel):
    path: PathMatch = Field(default_factory=PathMatch)
    headers: list[HeaderMatch] = Field(default_factory=list)
    method: str | None = None


class BackendRef(KubeModel):
    group: str = ""
    kind: str = "Service"
    name: str
    namespace: str | None = None
    port: int | None = None
    weight: int = Field(default=1, ge=0, le=1_000_000)


class RouteRule(KubeModel):
    matches: list[RouteMatch] = Field(default_factory=lambda: [RouteMatch()])
    backend_refs: list[BackendRef] = Field(default_factory=list)


class HTTPRouteSpec(KubeModel):
    parent_refs: list[ParentRef] = Field(default_factory=list)
    hostnames: list[str] = Field(default_factory=list)
    rules: list[RouteRule] = Field(default_factory=lambda: [RouteRule()])


class HTTPRoute(KubeObject):
    kind: Literal["HTTPRoute"]
    spec: HTTPRouteSpec
