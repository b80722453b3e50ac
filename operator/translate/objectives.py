"""InferenceObjective and InferenceModelRewrite → what the router reads per pool. Pure.

Precedence where these and the seed's InferenceModel speak about one model:
- targets: an InferenceModelRewrite rule that matches the model exactly (oldest rewrite first,
  then rule order) → else the InferenceModel's `targetModels` → else a rewrite rule without
  matches (it matches every model) → else the name unchanged;
- importance: the InferenceObjective named by the request's `x-gateway-inference-objective`
  header → else the InferenceModel's `criticality` → else Standard.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Mapping

from inference_gateway.router.table import ANY_MODEL, Criticality, ModelRule, TargetModel

from ..api import InferenceModelRewrite, InferenceObjective, PoolView

_EPOCH = datetime.min.replace(tzinfo=timezone.utc)


def criticality_of(priority: int | None) -> Criticality:
    """Upstream priorities are open integers (higher first, negative sheddable); our admission
    has three bands."""
    value = priority or 0
    if value > 0:
        return Criticality.CRITICAL
    return Criticality.SHEDDABLE if value < 0 else Criticality.STANDARD


def _for_pool(ref_name: str, obj_namespace: str, view: PoolView) -> bool:
    return obj_namespace == view.namespace and ref_name == view.name


def objectives_of(objectives: tuple[InferenceObjective, ...], view: PoolView) -> dict[str, Criticality]:
    """Objective name → the band its requests are admitted in."""
    return {o.metadata.name: criticality_of(o.spec.priority) for o in objectives
            if _for_pool(o.spec.pool_ref.name, o.metadata.namespace, view)}


def _age(rewrite: InferenceModelRewrite) -> tuple[datetime, str]:
    return (rewrite.metadata.creation_timestamp or _EPOCH, rewrite.metadata.name)


def with_rewrites(rules: Mapping[str, ModelRule], rewrites: tuple[InferenceModelRewrite, ...],
                  view: PoolView) -> dict[str, ModelRule]:
    """The InferenceModel rules of a pool with its rewrites laid over them (see the precedence)."""
    out = dict(rules)
    exact: dict[str, tuple[TargetModel, ...]] = {}
    generic: tuple[TargetModel, ...] | None = None
    for rewrite in sorted(rewrites, key=_age):
        if not _for_pool(rewrite.spec.pool_ref.name, rewrite.metadata.namespace, view):
            continue
        for rule in rewrite.spec.rules:
            targets = tuple(TargetModel(t.model_rewrite, t.weight or 1) for t in rule.targets)
            if not rule.matches:
                generic = generic if generic is not None else targets
            for match in rule.matches:
                exact.setdefault(match.model.value, targets)
    for model, targets in exact.items():
        before = out.get(model)
        out[model] = ModelRule(model, before.criticality if before else Criticality.STANDARD, targets)
    if generic is not None:
        out[ANY_MODEL] = ModelRule(ANY_MODEL, Criticality.STANDARD, generic)
    return out
