"""InferencePools, InferenceModels and Pods → the router's `RoutingTable`."""

from __future__ import annotations

from datetime import datetime, timezone

from inference_gateway.router.table import (
    MODEL_HEADER, Criticality, Endpoint, ModelRoute, ModelRule, Pool, RoutingTable, Runtime, Strategy,
    TargetModel, pool_key,
)

from ..api import INFERENCE_V1_GROUP, AnyPool, InferenceModel, InferenceTrafficPolicy, Pod, PoolView, pool_view
from ..api.inference import RUNTIME_ANNOTATION, STRATEGY_ANNOTATION
from ..problems import Problem
from .attachment import Attachment
from .gateway import GatewayIR
from .objectives import objectives_of, with_rewrites
from .objects import ObjectSet
from .policy import apply_policy

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


def _unknown(pool: AnyPool, annotation: str, value: str, known: list[str], fallback: str, why: str = "") -> Problem:
    return Problem("", "InferencePool", pool.metadata.name, f"metadata.annotations[{annotation}]",
                   f"unknown value {value!r}{why}; known: {', '.join(known)}; using {fallback}",
                   pool.metadata.namespace)


def pool_runtime(pool: AnyPool) -> tuple[Runtime, Problem | None]:
    """The runtime annotation's value; vllm when absent, or unknown (with a problem)."""
    value = pool.metadata.annotations.get(RUNTIME_ANNOTATION)
    runtime = Runtime.parse(value) if value is not None else Runtime.VLLM
    if runtime is None:
        return Runtime.VLLM, _unknown(pool, RUNTIME_ANNOTATION, value or "", [r.value for r in Runtime], Runtime.VLLM)
    return runtime, None


def pool_strategy(pool: AnyPool) -> tuple[Strategy, Problem | None]:
    """The strategy annotation's value; load-aware when absent, or unknown (with a problem)."""
    value = pool.metadata.annotations.get(STRATEGY_ANNOTATION)
    strategy = Strategy.parse(value) if value is not None else Strategy.DEFAULT
    if strategy is None or strategy is Strategy.PRECISE_PREFIX_CACHE:
        why = (" (precise mode needs the pods' KV-event port: set it with an InferenceTrafficPolicy, "
               "prefixCache.mode: precise)") if strategy else ""
        known = [Strategy.DEFAULT.value, Strategy.PREFIX_CACHE.value]
        return Strategy.DEFAULT, _unknown(pool, STRATEGY_ANNOTATION, value or "", known, Strategy.DEFAULT, why)
    return strategy, None


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


def pool_problems(objects: ObjectSet, attachment: Attachment) -> list[Problem]:
    """What of a pool the gateway cannot use as written: a picker reference that does not resolve."""
    out = []
    for pool in objects.pools:
        picker = attachment.picker(pool)
        if not picker.ok:
            field = "spec.endpointPickerRef" if pool_view(pool).group == INFERENCE_V1_GROUP else "spec.extensionRef"
            out.append(Problem("", "InferencePool", pool.metadata.name, field,
                               f"InvalidExtensionRef: {picker.message}; its routes answer 503"
                               + (" (round robin: FailOpen)" if picker.fail_open else ""), pool.metadata.namespace))
    return out


def _model_problems(objects: ObjectSet, winners: dict[tuple[str, str], InferenceModel]) -> list[Problem]:
    out = []
    for model in objects.models:
        ns, ref = model.metadata.namespace, model.spec.pool_ref
        winner = winners[(ns, model.spec.model_name)]
        if winner.key != model.key:
            out.append(Problem("", "InferenceModel", model.metadata.name, "spec.modelName",
                               f"ModelNameInUse: {model.spec.model_name!r} is already served by InferenceModel "
                               f"{winner.metadata.name} (the oldest wins); this one is not used", ns))
        elif ref.kind != "InferencePool" or objects.pool(ns, ref.name, ref.group) is None:
            out.append(Problem("", "InferenceModel", model.metadata.name, "spec.poolRef",
                               f"PoolNotFound: InferencePool {ns}/{ref.name} not found; the model is not served", ns))
    return out


def build_routing_table(objects: ObjectSet, ir: GatewayIR, policies: dict[tuple[str, str], InferenceTrafficPolicy],
                        version: int = 0) -> tuple[RoutingTable, list[Problem], list[str]]:
    """The router's table, the problems found on the way, and notes (choices worth logging)."""
    winners = model_winners(objects.models)
    notes: list[str] = []
    problems: list[Problem] = []
    pools: dict[str, Pool] = {}
    for pool in objects.pools:
        ns, name = pool.key
        runtime, bad_runtime = pool_runtime(pool)
        strategy, bad_strategy = pool_strategy(pool)
        problems += [p for p in (bad_runtime, bad_strategy) if p is not None]
        view = pool_view(pool)
        rules = {
            m.spec.model_name: model_rule(m)
            for (m_ns, _), m in winners.items()
            if m_ns == ns and m.spec.pool_ref.name == name and m.spec.pool_ref.kind == "InferencePool"
        }
        routed = Pool(
            namespace=ns,
            name=name,
            target_port=view.target_ports[0],
            runtime=runtime,
            strategy=strategy,
            fail_open=bool(view.picker and view.picker.fail_open),
            endpoints=pool_endpoints(view, objects.pods),
            models=with_rewrites(rules, objects.rewrites, view),
            objectives=objectives_of(objects.objectives, view),
        )
        routed, said = apply_policy(routed, pool, policies.get((ns, name)))
        notes.extend(said)
        pools[pool_key(ns, name)] = routed
    table = RoutingTable(pools=pools, version=version, model_routes=model_routes(ir))
    return table, problems + _model_problems(objects, winners), notes


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
