"""An indexed set of objects: what the providers hand to translation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from ..api import (
    AnyObject, AnyPool, Gateway, GatewayClass, GatewayParameters, HTTPRoute, InferenceModel, InferenceModelRewrite,
    InferenceObjective, InferencePool, InferencePoolV1, InferenceTrafficPolicy, Pod, Service,
)
from ..api.inference import INFERENCE_GROUP
from ..api.v1_pool import pool_group


def _index_kind(obj: AnyObject) -> str:
    """InferencePool exists in two groups (v1alpha2 and v1): same kind, different objects."""
    if isinstance(obj, (InferencePool, InferencePoolV1)):
        return f"InferencePool.{pool_group(obj)}"
    return obj.kind


@dataclass(frozen=True)
class ObjectSet:
    pools: tuple[AnyPool, ...] = ()   # both versions; `pool_view` reads them alike
    models: tuple[InferenceModel, ...] = ()
    objectives: tuple[InferenceObjective, ...] = ()
    rewrites: tuple[InferenceModelRewrite, ...] = ()
    services: tuple[Service, ...] = ()
    policies: tuple[InferenceTrafficPolicy, ...] = ()
    gateway_classes: tuple[GatewayClass, ...] = ()
    gateways: tuple[Gateway, ...] = ()
    routes: tuple[HTTPRoute, ...] = ()
    pods: tuple[Pod, ...] = ()
    gateway_parameters: tuple[GatewayParameters, ...] = ()
    by_key: dict[tuple[str, str, str], AnyObject] = field(default_factory=dict, compare=False)
    # Every Service is among the objects (a manifests directory), so a Service that is not
    # here does not exist. An operator that does not watch Services sets False.
    services_listed: bool = True

    @classmethod
    def of(cls, objects: Iterable[AnyObject], services_listed: bool = True) -> "ObjectSet":
        """Index objects by kind; a later object with the same kind/namespace/name replaces an
        earlier one, as a second `kubectl apply` would."""
        latest: dict[tuple[str, str, str], AnyObject] = {}
        for obj in objects:
            latest[(_index_kind(obj), obj.metadata.namespace, obj.metadata.name)] = obj
        by_kind: dict[str, list[AnyObject]] = {}
        for obj in latest.values():
            by_kind.setdefault(obj.kind, []).append(obj)

        def of_kind(kind: str) -> tuple:
            return tuple(sorted(by_kind.get(kind, []), key=lambda o: o.key))

        return cls(
            pools=of_kind("InferencePool"),
            models=of_kind("InferenceModel"),
            objectives=of_kind("InferenceObjective"),
            rewrites=of_kind("InferenceModelRewrite"),
            services=of_kind("Service"),
            policies=of_kind("InferenceTrafficPolicy"),
            gateway_classes=of_kind("GatewayClass"),
            gateways=of_kind("Gateway"),
            routes=of_kind("HTTPRoute"),
            pods=of_kind("Pod"),
            gateway_parameters=of_kind("GatewayParameters"),
            by_key=latest,
            services_listed=services_listed,
        )

    def pool(self, namespace: str, name: str, group: str = INFERENCE_GROUP) -> AnyPool | None:
        obj = self.by_key.get((f"InferencePool.{group}", namespace, name))
        return obj if isinstance(obj, (InferencePool, InferencePoolV1)) else None

    def service(self, namespace: str, name: str) -> Service | None:
        obj = self.by_key.get(("Service", namespace, name))
        return obj if isinstance(obj, Service) else None
