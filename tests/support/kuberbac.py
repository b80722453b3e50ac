"""RBAC for the emulated API server: who may do what, where; 403 Forbidden otherwise.

A client is known by its bearer token (`Cluster.config(token=...)`). Rules come from real
RBAC objects, typically the chart's rendered Roles, ClusterRoles and bindings (`rules_for`),
so a test exercises the very permissions a cluster would grant. A request without a token is
the cluster admin (the test itself, like `kubectl` with admin credentials).

Semantics kept from kube-apiserver: a ClusterRole bound by a ClusterRoleBinding applies
everywhere; a Role, or a ClusterRole bound by a RoleBinding, applies only in the binding's
namespace; a list or watch across all namespaces needs a cluster-wide grant; subresources
are their own resources (`httproutes/status`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from .kubepatch import ApiError


@dataclass(frozen=True)
class Rule:
    api_groups: frozenset[str]
    resources: frozenset[str]
    verbs: frozenset[str]
    namespace: str | None = None  # None: every namespace and the cluster scope

    def allows(self, verb: str, group: str, resource: str, namespace: str | None) -> bool:
        return (self.namespace is None or self.namespace == namespace) \
            and group in self.api_groups and resource in self.resources and verb in self.verbs


@dataclass
class Authorizer:
    subjects: dict[str, tuple[str, list[Rule]]] = field(default_factory=dict)  # token → (user, rules)
    denied: list[tuple[str, str, str, str | None]] = field(default_factory=list)  # (verb, group, resource, ns)

    def grant(self, token: str, user: str, rules: Iterable[Rule]) -> None:
        self.subjects[token] = (user, list(rules))

    def check(self, authorization: str | None, verb: str, group: str, resource: str, namespace: str | None) -> None:
        """Raises ApiError 401/403 unless the caller may; no token at all is the admin."""
        if not authorization:
            return
        token = authorization.partition(" ")[2] if " " in authorization else authorization
        if token not in self.subjects:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        user, rules = self.subjects[token]
        if any(rule.allows(verb, group, resource, namespace) for rule in rules):
            return
        self.denied.append((verb, group, resource, namespace))
        where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        raise ApiError(403, "Forbidden", f'{resource} is forbidden: User "{user}" cannot {verb} resource '
                                         f'"{resource}" in API group "{group}" {where}')


def _rules(role: dict[str, Any], namespace: str | None) -> list[Rule]:
    return [Rule(frozenset(r.get("apiGroups") or []), frozenset(r.get("resources") or []),
                 frozenset(r.get("verbs") or []), namespace) for r in role.get("rules") or []]


def rules_for(objects: Iterable[dict[str, Any]], account: str, account_namespace: str) -> list[Rule]:
    """Every rule the ServiceAccount gets from these RBAC objects (e.g. `helm template` output)."""
    objects = [o for o in objects if o]
    roles = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o
             for o in objects if o.get("kind") in ("Role", "ClusterRole")}
    out: list[Rule] = []
    for binding in objects:
        if binding.get("kind") not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if not any(s.get("kind") == "ServiceAccount" and s.get("name") == account
                   and s.get("namespace", binding["metadata"].get("namespace")) == account_namespace
                   for s in binding.get("subjects") or []):
            continue
        ref = binding["roleRef"]
        scope = binding["metadata"].get("namespace") if binding["kind"] == "RoleBinding" else None
        role = roles.get((ref["kind"], scope if ref["kind"] == "Role" else None, ref["name"]))
        if role is not None:
            out += _rules(role, scope)
    return out
