"""Which endpoint picker serves each InferencePool, and where it is. Pure.

A pool's picker reference (`extensionRef` in v1alpha2, `endpointPickerRef` in v1) decides:
- no reference, or one naming our own router's Service (`OWN_PICKER_SERVICE`): our router
  decides, as it always has;
- another core Service: that Service's picker decides. Envoy gets one ext_proc cluster per
  picker; locally the Service's selector finds the picker's pods among the Pod manifests,
  in a cluster Envoy reaches the Service by its DNS name;
- a Service that does not exist (among objects that list Services), or a reference that is
  not a core Service: `ResolvedRefs=False, InvalidExtensionRef`, and the pool's routes answer
  503 (or round robin when the pool is FailOpen), as the Inference Extension's conformance asks.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..api import INFERENCE_V1_GROUP, AnyPool, Pod
from ..api.v1_pool import PickerRef, pool_view
from .objects import ObjectSet

OWN_PICKER_SERVICE = "inference-gateway-ext-proc"  # the chart's router Service (the seed's extensionRef)


@dataclass(frozen=True, slots=True)
class PickerTarget:
    """An external endpoint picker: its Envoy cluster and addresses."""

    cluster: str
    service: str                  # namespace/name
    port: int                     # the Service port
    addresses: tuple[tuple[str, int], ...]  # ready picker pods (local), or () with dns set
    dns: str | None = None        # in a cluster: name.namespace.svc.cluster.local


@dataclass(frozen=True, slots=True)
class PickerResolution:
    ok: bool
    message: str
    target: PickerTarget | None = None   # None: our router decides (when ok)
    fail_open: bool = False


def picker_cluster_name(namespace: str, service: str, port: int) -> str:
    return f"igw-picker/{namespace}/{service}:{port}"


def _selected_pods(selector: dict[str, str], namespace: str, pods: tuple[Pod, ...]) -> list[Pod]:
    return [p for p in pods if p.metadata.namespace == namespace and p.ready and selector
            and all(p.metadata.labels.get(k) == v for k, v in selector.items())]


def resolve_picker(pool: AnyPool, objects: ObjectSet, services_listed: bool = True,
                   own_service: str = OWN_PICKER_SERVICE) -> PickerResolution:
    """`services_listed`: the objects include every Service (a manifests directory does); when
    not (an operator that does not watch Services), a named Service is trusted to exist."""
    view = pool_view(pool)
    ref: PickerRef | None = view.picker
    if ref is None:
        return PickerResolution(True, "no endpoint picker reference: the gateway's own endpoint picker serves the pool")
    fail_open = ref.fail_open
    what = "endpointPickerRef" if view.group == INFERENCE_V1_GROUP else "extensionRef"
    if ref.kind != "Service" or ref.group not in ("", "core"):
        return PickerResolution(False, f"{what} must be a core Service, not {ref.group or 'core'}/{ref.kind}",
                                fail_open=fail_open)
    if ref.name == own_service:
        return PickerResolution(True, f"{what} Service {ref.name}:{ref.port} (this gateway's own endpoint picker)",
                                fail_open=fail_open)
    ns = view.namespace
    cluster = picker_cluster_name(ns, ref.name, ref.port)
    service = objects.service(ns, ref.name)
    if service is None:
        if services_listed:
            return PickerResolution(False, f"{what} Service {ns}/{ref.name} not found", fail_open=fail_open)
        return PickerResolution(True, f"{what} Service {ref.name}:{ref.port}", PickerTarget(
            cluster, f"{ns}/{ref.name}", ref.port, (), dns=f"{ref.name}.{ns}.svc.cluster.local"), fail_open)
    target_port = service.target_port(ref.port)
    if target_port is None:
        return PickerResolution(False, f"{what} Service {ns}/{ref.name} has no port {ref.port}", fail_open=fail_open)
    pods = _selected_pods(service.spec.selector, ns, objects.pods)
    addresses = tuple(sorted((p.status.pod_ip or "", target_port) for p in pods))
    return PickerResolution(True, f"{what} Service {ref.name}:{ref.port}", PickerTarget(
        cluster, f"{ns}/{ref.name}", ref.port, addresses), fail_open)
