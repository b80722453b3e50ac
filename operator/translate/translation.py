"""`translate(objects, settings) -> Translation`: the one entry point of translation.

References and attachment are resolved once (attachment.py); everything derived from the
objects comes out together, so no provider recomputes a fact translation already decided:

    objects ─▶ attach ─┬─▶ gateway IR per proxy ─▶ Envoy resources per proxy
                       ├─▶ RoutingTable (pools, models, model-header routes)
                       ├─▶ desired statuses
                       └─▶ problems (object, field, reason), notes

A second API version of a kind (e.g. InferencePool v1) needs only its model and a conversion
to the internal model (api/), done before objects reach `translate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

from inference_gateway.router.table import RoutingTable

from ..api import CONTROLLER_NAME, AnyObject, Gateway
from ..problems import Problem
from .attachment import attach
from .envoy import EnvoyResources, EnvoySettings, envoy_resources
from .gateway import GatewayIR, gateway_ir
from .objects import ObjectSet
from .parameters import ClassParameters, gateway_parameters, parameters_problems
from .policy import policies_by_pool, policy_problems, policy_verdicts
from .provisioning import group_name
from .routing import build_routing_table, pool_problems
from .status import ObjectKey, Status, desired_statuses

SHARED_PROXY = ""  # the proxy group of an Envoy that serves every Gateway (the ADS default group)


@dataclass(frozen=True)
class TranslateSettings:
    envoy: EnvoySettings = field(default_factory=EnvoySettings)
    # True: one Envoy serves every Gateway (`igw run --manifests`); False: each Gateway has its
    # own provisioned Envoy (in cluster), named by its proxy group `namespace/name`.
    shared_proxy: bool = True
    version: int = 0
    controller: str = CONTROLLER_NAME


@dataclass(frozen=True)
class Translation:
    table: RoutingTable
    gateways: tuple[Gateway, ...]                 # ours (their class names our controller)
    ir: Mapping[str, GatewayIR]                   # per proxy group
    envoy: Mapping[str, EnvoyResources]           # per proxy group
    statuses: Mapping[ObjectKey, Status]          # as the objects decide them (stamping.py adds the rest)
    problems: tuple[Problem, ...] = ()            # what translation could not use, and why
    notes: tuple[str, ...] = ()                   # choices worth a log line (a policy overriding an annotation)
    parameters: Mapping[str, ClassParameters] = field(default_factory=dict)  # per Gateway's group: its class's

    @property
    def listeners(self) -> list[tuple[str, int]]:
        """(listener name, port) of every proxy, in order."""
        return [(li.name, li.port) for ir in self.ir.values() for li in ir.listeners]


def translate(objects: ObjectSet | Iterable[AnyObject], settings: TranslateSettings = TranslateSettings()) -> Translation:
    objs = objects if isinstance(objects, ObjectSet) else ObjectSet.of(objects)
    attachment = attach(objs)
    policies = policies_by_pool(objs.policies)
    every = gateway_ir(attachment, attachment.gateways, policies)
    table, model_problems, notes = build_routing_table(objs, every, policies, settings.version)
    if settings.shared_proxy:
        irs = {SHARED_PROXY: every}
        envoy = {SHARED_PROXY: envoy_resources(every, table, settings.envoy)}
    else:
        irs = {group_name(g): gateway_ir(attachment, (g,), policies) for g in attachment.gateways}
        envoy = {group_name(g): envoy_resources(irs[group_name(g)], table, settings.envoy,
                                                 namespace=g.metadata.namespace) for g in attachment.gateways}
    verdicts = policy_verdicts(objs)
    problems = [*attachment.problems(), *model_problems, *pool_problems(objs, attachment), *policy_problems(verdicts),
                *parameters_problems(objs, settings.controller)]
    statuses = desired_statuses(objs, attachment, verdicts, problems, settings.controller)
    parameters = {group_name(g): gateway_parameters(objs, g) for g in attachment.gateways}
    return Translation(table=table, gateways=attachment.gateways, ir=irs, envoy=envoy, statuses=statuses,
                       problems=tuple(problems), notes=tuple(notes), parameters=parameters)
