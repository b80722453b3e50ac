"""An indexed set of objects: what the providers hand to translation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from ..api import (
    AnyObject, Gateway, GatewayClass, GatewayParameters, HTTPRoute, InferenceModel, InferencePool,
    InferenceTrafficPolicy, Pod,
)


@dataclass(frozen=True)
class ObjectSet:
    pools: tuple[InferencePool, ...] = ()
    models: tuple[InferenceModel, ...] = ()
    policies: tuple[InferenceTrafficPolicy, ...] = ()
    gateway_classes: tuple[GatewayClass, ...] = ()
    gateways: tuple[Gateway, ...] = ()
    routes: tuple[HTTPRoute, ...] = ()
    pods: tuple[Pod, ...] = ()
    gateway_parameters: tuple[GatewayParameters, ...] = ()
    by_key: dict[tuple[str, str, str], AnyObject] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, objects: Iterable[AnyObject]) -> "ObjectSet":
        """Index objects by kind; a later object with the same kind/namespace/name replaces an
        earlier one, as a second `kubectl apply` would."""
        latest: dict[tuple[str, str, str], AnyObject] = {}
        for obj in objects:
            latest[(obj.kind, obj.metadata.namespace, obj.metadata.name)] = obj
        by_kind: dict[str, list[AnyObject]] = {}
        for obj in latest.values():
            by_kind.setdefault(obj.kind, []).append(obj)

        def of_kind(kind: str) -> tuple:
            return tuple(sorted(by_kind.get(kind, []), key=lambda o: o.key))

        return cls(
            pools=of_kind("InferencePool"),
            models=of_kind("InferenceModel"),
            policies=of_kind("InferenceTrafficPolicy"),
            gateway_classes=of_kind("GatewayClass"),
            gateways=of_kind("Gateway"),
            routes=of_kind("HTTPRoute"),
            pods=of_kind("Pod"),
            gateway_parameters=of_kind("GatewayParameters"),
            by_key=latest,
        )

    def pool(self, namespace: str, name: str) -> InferencePool | None:
        obj = self.by_key.get(("InferencePool", namespace, name))
        return obj if isinstance(obj, InferencePool) else None
