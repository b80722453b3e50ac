"""InferenceTrafficPolicy → how a pool is routed: strategy, runtime, prefill/decode roles.

A policy names its pool (same namespace). Where it and the pool's annotations both speak, the
policy wins and a note says so (the caller logs it). With `profile.pd`, the pool's endpoints
are split by the role label into a prefill and a decode sub-pool, each with the strategy its
policy ref names.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone

from inference_gateway.router.table import PrefillDecode, Pool, Runtime, Strategy

from ..api import InferencePool, InferenceTrafficPolicy
from ..api.inference import RUNTIME_ANNOTATION, STRATEGY_ANNOTATION
from ..api.policy import TrafficPolicy
from ..problems import Problem
from .objects import ObjectSet

_EPOCH = datetime.min.replace(tzinfo=timezone.utc)


def policies_by_pool(policies: tuple[InferenceTrafficPolicy, ...]) -> dict[tuple[str, str], InferenceTrafficPolicy]:
    """The policy in force per (namespace, pool): the oldest, if several name one pool."""
    out: dict[tuple[str, str], InferenceTrafficPolicy] = {}
    for p in sorted(policies, key=lambda p: (p.metadata.creation_timestamp or _EPOCH, p.metadata.name)):
        out.setdefault((p.metadata.namespace, p.spec.pool_ref.name), p)
    return out


@dataclass(frozen=True, slots=True)
class PolicyVerdict:
    policy: InferenceTrafficPolicy
    pool_found: bool
    in_force: bool     # the oldest policy naming its pool
    message: str


def policy_verdicts(objects: ObjectSet) -> list[PolicyVerdict]:
    """For each policy: does its pool exist, and does it govern it (the oldest wins)?"""
    in_force = policies_by_pool(objects.policies)
    out = []
    for p in objects.policies:
        ns, pool = p.metadata.namespace, p.spec.pool_ref.name
        if objects.pool(ns, pool) is None:
            out.append(PolicyVerdict(p, False, False, f"InferencePool {ns}/{pool} not found; the policy has no effect"))
        elif in_force[(ns, pool)].key != p.key:
            out.append(PolicyVerdict(p, True, False, f"InferenceTrafficPolicy {in_force[(ns, pool)].metadata.name} "
                                     f"already governs InferencePool {ns}/{pool} (the oldest wins); this one has no effect"))
        else:
            out.append(PolicyVerdict(p, True, True, f"governs InferencePool {ns}/{pool}"))
    return out


def policy_problems(verdicts: list[PolicyVerdict]) -> list[Problem]:
    """Policies that name no pool, or a pool an older policy already governs."""
    return [Problem("", "InferenceTrafficPolicy", v.policy.metadata.name, "spec.poolRef",
                    f"{'Conflicted' if v.pool_found else 'PoolNotFound'}: {v.message}", v.policy.metadata.namespace)
            for v in verdicts if not v.in_force]


def _strategy(policy: TrafficPolicy | None, ref: str = "prefixCache") -> Strategy:
    """The strategy a policy ref names (router/table.py's vocabulary): `prefixCache` (estimate
    or precise mode) when the policy has that entry, else load-aware."""
    if Strategy.parse(ref) is Strategy.PREFIX_CACHE and policy is not None and policy.prefix_cache is not None:
        precise = policy.prefix_cache.mode == "precise"
        return Strategy.PRECISE_PREFIX_CACHE if precise else Strategy.PREFIX_CACHE
    return Strategy.DEFAULT


def _kv_events_port(*policies: TrafficPolicy | None) -> int | None:
    for p in policies:
        if p is not None and p.prefix_cache is not None and p.prefix_cache.mode == "precise":
            return p.prefix_cache.kv_events_port
    return None


def apply_policy(pool: Pool, source: InferencePool, policy: InferenceTrafficPolicy | None) -> tuple[Pool, list[str]]:
    if policy is None:
        return pool, []
    spec, notes = policy.spec, []
    name = f"InferenceTrafficPolicy {policy.metadata.namespace}/{policy.metadata.name}"
    annotations = source.metadata.annotations
    changes: dict = {}
    if spec.model_server_runtime:
        changes["runtime"] = Runtime(spec.model_server_runtime)
        if RUNTIME_ANNOTATION in annotations:
            notes.append(f"{name} sets the runtime of pool {pool.key}; annotation {RUNTIME_ANNOTATION} ignored")
    pd = spec.profile.pd if spec.profile else None
    if spec.traffic_policy is not None and pd is None:
        changes["strategy"] = _strategy(spec.traffic_policy)
        if STRATEGY_ANNOTATION in annotations:
            notes.append(f"{name} sets the strategy of pool {pool.key}; annotation {STRATEGY_ANNOTATION} ignored")
    changes["kv_events_port"] = _kv_events_port(spec.traffic_policy, pd.traffic_policy if pd else None)
    pool = replace(pool, **changes)
    if pd is not None:
        def role(value: str, ref: str, role_name: str) -> Pool:
            endpoints = tuple(ep for ep in pool.endpoints if ep.labels.get(pd.pd_role_label_name) == value)
            return replace(pool, endpoints=endpoints, strategy=_strategy(pd.traffic_policy, ref), role=role_name)

        pool = replace(pool, pd=PrefillDecode(
            prefill=role(pd.prefill_role_value, pd.prefill_policy_ref, "prefill"),
            decode=role(pd.decode_role_value, pd.decode_policy_ref, "decode"),
            bootstrap_port=pd.kv_transfer.bootstrap_port if pd.kv_transfer else 8998))
        if STRATEGY_ANNOTATION in annotations:
            notes.append(f"{name} sets prefill/decode strategies of pool {pool.key}; "
                         f"annotation {STRATEGY_ANNOTATION} ignored")
    return pool, notes
