"""InferencePools, InferenceModels and Pods → the router's `RoutingTable`."""

from __future__ import annotations

from datetime import datetime, timezone

from inference_gateway.router.table import (
    MODEL_HEADER, Criticality, Endpoint, ModelRoute, ModelRule, Pool, RoutingTable, Runtime, Strategy,
    TargetModel, pool_key,
)

from ..api import AnyPool, InferenceModel, Pod, PoolView, pool_view
from ..api.inference import RUNTIME_ANNOTATION, STRATEGY_ANNOTATION
from .gateway import GatewayIR, build_gateway_ir
from .objects import ObjectSet
from .objectives import objectives_of, with_rewrites
from .policy import apply_policy, policies_by_pool

_EPOCH = datetime.min.replace(tzinfo=timezone.utc)


def selects(selector: dict[str, str], pod: Pod) -> bool:
    labels = pod.metadata.labels
    return all(labels.get(k) == v for k, v in selector.items())


def pool_endpoints(pool: AnyPool | PoolView, pods: tuple[Pod, ...]) -> tuple[Endpoint, ...]:
    """Ready pods of the pool's namespace that its selector picks, one endpoint per target port.

    With several target ports (v1: data-parallel ranks, each its own server) every port of a
    pod is its own endpoint, named `POD-rank-N` as the Inference Extension names them.
    """
    view = pool if isinstance(pool, PoolView) else pool_view(pool)
    ranks = len(view.target_ports) > 1
    return tuple(
        Endpoint(
            name=f"{pod.metadata.name}-rank-{rank}" if ranks else pod.metadata.name,
            namespace=pod.metadata.namespace,
            ip=pod.status.pod_ip or "",
            port=port,
            labels=dict(pod.metadata.labels),
        )
        for pod in pods
        if pod.metadata.namespace == view.namespace
        and selects(view.selector, pod)
        and pod.ready
        for rank, port in enumerate(view.target_ports)
    )


def pool_runtime(pool: AnyPool) -> Runtime:
    value = pool.metadata.annotations.get(RUNTIME_ANNOTATION, "").strip().lower()
    return Runtime.SGLANG if value == Runtime.SGLANG else Runtime.VLLM


def pool_strategy(pool: AnyPool) -> Strategy:
    value = pool.metadata.annotations.get(STRATEGY_ANNOTATION, "").strip().upper()
    return Strategy.PREFIX_CACHE if value == Strategy.PREFIX_CACHE else Strategy.DEFAULT


def _age_key(model: InferenceModel) -> tuple[datetime, str]:
    return (model.metadata.creation_timestamp or _EPOCH, model.metadata.name)


def model_winners(models: tuple[InferenceModel, ...]) -> dict[tuple[str, str], InferenceModel]:
    """For each (namespace, modelName) the InferenceModel that owns it: the oldest, as the
    Inference Extension resolves conflicts (name breaks ties for objects without a timestamp)."""
    winners: dict[tuple[str, str], InferenceModel] = {}
    for model in sorted(models, key=_age_key):
        winners.setdefault((model.metadata.namespace, model.spec.model_name), model)
    return winners


def model_rule(model: InferenceModel) -> ModelRule:
    spec = model.spec
    targets = tuple(TargetModel(t.name, t.weight or 1) for t in spec.target_models)
    return ModelRule(
        model_name=spec.model_name,
        criticality=Criticality(spec.criticality or Criticality.STANDARD),
        targets=targets or (TargetModel(spec.model_name, 1),),
    )


def build_routing_table(objects: ObjectSet, version: int = 0) -> RoutingTable:
    winners = model_winners(objects.models)
    policies = policies_by_pool(objects.policies)
    notes: list[str] = []
    pools: dict[str, Pool] = {}
    for pool in objects.pools:
        ns, name = pool.key
        view = pool_view(pool)
        rules = {
            m.spec.model_name: model_rule(m)
            for (m_ns, _), m in winners.items()
            if m_ns == ns and m.spec.pool_ref.name == name and m.spec.pool_ref.kind == "InferencePool"
        }
        rules = with_rewrites(rules, objects.rewrites, view)
        routed = Pool(
            namespace=ns,
            name=name,
            target_port=view.target_ports[0],
            runtime=pool_runtime(pool),
            strategy=pool_strategy(pool),
            fail_open=bool(view.picker and view.picker.fail_open),
            endpoints=pool_endpoints(view, objects.pods),
            models=rules,
            objectives=objectives_of(objects.objectives, view),
        )
        routed, said = apply_policy(routed, pool, policies.get((ns, name)))
        notes.extend(said)
        pools[pool_key(ns, name)] = routed
    return RoutingTable(pools=pools, version=version, model_routes=model_routes(build_gateway_ir(objects)),
                        notes=tuple(notes))


def model_routes(ir: GatewayIR) -> dict[str, tuple[ModelRoute, ...]]:
    """Per listener, the HTTPRoute matches on the model header, in Envoy's precedence order.

    Only matches whose sole header condition is the model header are resolvable by the router
    (it does not see other headers); a match with more header conditions is left to Envoy.
    """
    out: dict[str, tuple[ModelRoute, ...]] = {}
    for listener in ir.listeners:
        rules = []
        for route in listener.routes:
            if not route.backends or len(route.headers) != 1 or route.headers[0][0] != MODEL_HEADER:
                continue
            _, kind, value = route.headers[0]
            rules.append(ModelRoute(
                model=value, regex=kind != "Exact",
                pools=tuple((b.pool, b.weight) for b in route.backends),
                path_type=route.path_type, path_value=route.path_value))
        if rules:
            out[listener.name] = tuple(rules)
    return out
