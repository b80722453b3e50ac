"""A Gateway of our class → the Envoy proxy that serves it: ConfigMap (bootstrap), Deployment,
Service, and a HorizontalPodAutoscaler when asked for, each owned by the Gateway (deleting the
Gateway garbage-collects them). Replicas, resources, autoscaling, placement and the Service's
type and annotations come from the class's GatewayParameters over the operator's defaults
(parameters.py); what neither says keeps the built-in values below.

The bootstrap holds only the way to our xDS server (the operator's Service, port 18000);
listeners, routes and clusters come over ADS. Each proxy's `node.cluster` is its Gateway
(`namespace/name`), so the xDS server gives it that Gateway's listeners only; `node.id` is the
pod name (`--service-node`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from ..api import Gateway
from ..api.parameters import GatewayParametersSpec
from .access_log import FLUSH_ARGS
from .bootstrap import ads_bootstrap
from .edge_limits import EdgeLimits
from .envoy import EnvoySettings
from .parameters import overlay

MANAGED_BY = "inference-gateway"
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
BOOTSTRAP_KEY = "envoy.json"
BOOTSTRAP_HASH_ANNOTATION = "inference.networking.x-k8s.io/bootstrap-hash"
BOOTSTRAP_PATH = "/etc/envoy"


@dataclass(frozen=True)
class ProvisioningSettings:
    envoy_image: str = "docker.io/envoyproxy/envoy:distroless-v1.40.0"
    xds_address: tuple[str, int] = ("inference-gateway-ext-proc.envoy-gateway-system.svc.cluster.local", 18000)
    admin_port: int = 19000          # bound on 127.0.0.1 inside the pod only
    service_type: str = "LoadBalancer"
    replicas: int = 1
    log_level: str = "warning"
    # The overload manager's heap limit (in the bootstrap) must stay under the container's
    # memory limit (`resources`, 1Gi by default), so Envoy sheds load before the kernel kills it.
    edge: EdgeLimits = EdgeLimits()
    resources: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
        ("requests", (("cpu", "100m"), ("memory", "128Mi"))), ("limits", (("memory", "1Gi"),)))
    # The chart's proxyDefaults (`igw run --proxy-defaults`): under every class's parameters.
    defaults: GatewayParametersSpec | None = None


def group_name(gateway: Gateway) -> str:
    """The xDS node group (Envoy `node.cluster`) of a Gateway's proxies."""
    return f"{gateway.metadata.namespace}/{gateway.metadata.name}"


def proxy_name(gateway: Gateway) -> str:
    """Name of the Gateway's Deployment, Service and ConfigMap (its namespace)."""
    return _dns_label(f"{gateway.metadata.name}-envoy")


def _dns_label(text: str, limit: int = 63) -> str:
    text = re.sub(r"[^a-z0-9-]", "-", text.lower())[:limit]
    return text.strip("-") or "x"


def proxy_labels(gateway: Gateway) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "envoy",
        "app.kubernetes.io/component": "proxy",
        "app.kubernetes.io/managed-by": MANAGED_BY,
        GATEWAY_NAME_LABEL: _dns_label(gateway.metadata.name),
    }


def owner_reference(gateway: Gateway) -> dict[str, Any]:
    return {"apiVersion": gateway.api_version, "kind": "Gateway", "name": gateway.metadata.name,
            "uid": gateway.metadata.uid, "controller": True, "blockOwnerDeletion": True}


def envoy_bootstrap(gateway: Gateway, settings: ProvisioningSettings) -> dict[str, Any]:
    bootstrap = ads_bootstrap("envoy", settings.xds_address, settings.admin_port, EnvoySettings(edge=settings.edge))
    bootstrap["node"]["cluster"] = group_name(gateway)
    return bootstrap


def _listener_ports(gateway: Gateway) -> list[tuple[str, int]]:
    seen: dict[int, str] = {}
    for listener in gateway.spec.listeners:
        if listener.protocol.upper() == "HTTP":
            seen.setdefault(listener.port, _dns_label(listener.name))
    return [(name, port) for port, name in sorted(seen.items())]


def _metadata(gateway: Gateway) -> dict[str, Any]:
    return {"name": proxy_name(gateway), "namespace": gateway.metadata.namespace,
            "labels": proxy_labels(gateway), "ownerReferences": [owner_reference(gateway)]}


def _autoscaler(gateway: Gateway, params: GatewayParametersSpec) -> dict[str, Any] | None:
    scaling = params.autoscaling
    if scaling is None:
        return None
    metrics = [{"type": "Resource", "resource": {"name": name, "target": {"type": "Utilization",
                                                                          "averageUtilization": target}}}
               for name, target in (("cpu", scaling.target_cpu_utilization_percentage
                                     or (None if scaling.target_memory_utilization_percentage else 80)),
                                    ("memory", scaling.target_memory_utilization_percentage)) if target]
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": _metadata(gateway),
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": proxy_name(gateway)},
                     "minReplicas": scaling.min_replicas, "maxReplicas": scaling.max_replicas, "metrics": metrics}}


def proxy_manifests(gateway: Gateway, settings: ProvisioningSettings = ProvisioningSettings(),
                    parameters: GatewayParametersSpec | None = None) -> list[dict[str, Any]]:
    """ConfigMap, Deployment, Service (and HorizontalPodAutoscaler) for one Gateway, in the
    order to apply them; `parameters` are its class's GatewayParameters."""
    params = overlay(settings.defaults, parameters)
    deploy, svc = params.deployment, params.service
    bootstrap = json.dumps(envoy_bootstrap(gateway, settings), indent=1, sort_keys=True)
    digest = hashlib.sha256(bootstrap.encode()).hexdigest()[:16]
    ports = _listener_ports(gateway)
    labels = proxy_labels(gateway)
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _metadata(gateway),
                  "data": {BOOTSTRAP_KEY: bootstrap}}
    pod_security: dict[str, Any] = {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532,
                                    "seccompProfile": {"type": "RuntimeDefault"}}
    if any(port < 1024 for _, port in ports):  # a non-root Envoy may bind :80
        pod_security["sysctls"] = [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]
    container: dict[str, Any] = {
        "name": "envoy",
        "image": settings.envoy_image,
        "args": ["-c", f"{BOOTSTRAP_PATH}/{BOOTSTRAP_KEY}", "--service-node", "$(POD_NAME)",
                 "--service-cluster", group_name(gateway), "--log-level", settings.log_level,
                 "--disable-hot-restart", *FLUSH_ARGS],
        "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "ports": [{"containerPort": port, "protocol": "TCP"} for _, port in ports],
        "volumeMounts": [{"name": "bootstrap", "mountPath": BOOTSTRAP_PATH, "readOnly": True}],
        "resources": deploy.resources.model_dump(exclude_defaults=True) if deploy.resources is not None
        else {section: dict(values) for section, values in settings.resources},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
    }
    if ports:  # Ready once xDS has delivered the listeners
        container["readinessProbe"] = {"tcpSocket": {"port": ports[0][1]}, "periodSeconds": 2,
                                       "failureThreshold": 2}
    pod_spec: dict[str, Any] = {
        "securityContext": pod_security,
        "terminationGracePeriodSeconds": 30,
        "containers": [container],
        "volumes": [{"name": "bootstrap", "configMap": {"name": proxy_name(gateway)}}],
    }
    for field, value in (("nodeSelector", deploy.node_selector), ("tolerations", deploy.tolerations),
                         ("affinity", deploy.affinity)):
        if value:
            pod_spec[field] = value
    autoscaler = _autoscaler(gateway, params)
    deployment: dict[str, Any] = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _metadata(gateway),
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, "annotations": {**(deploy.pod_annotations or {}),
                                                               BOOTSTRAP_HASH_ANNOTATION: digest}},
                "spec": pod_spec,
            },
        },
    }
    if autoscaler is None:  # else the autoscaler owns the count
        deployment["spec"]["replicas"] = settings.replicas if deploy.replicas is None else deploy.replicas
    service: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Service", "metadata": _metadata(gateway),
        "spec": {
            "type": svc.type or settings.service_type,
            "selector": labels,
            "ports": [{"name": name, "port": port, "targetPort": port, "protocol": "TCP"} for name, port in ports],
        },
    }
    if svc.annotations:
        service["metadata"]["annotations"] = dict(svc.annotations)
    if svc.external_traffic_policy and service["spec"]["type"] != "ClusterIP":
        service["spec"]["externalTrafficPolicy"] = svc.external_traffic_policy
    return [config_map, deployment, service] + ([autoscaler] if autoscaler else [])


def service_addresses(service: dict[str, Any] | None) -> list[dict[str, str]]:
    """Gateway `status.addresses` from the proxy Service: its LoadBalancer ingress, else its
    ClusterIP (so `kubectl get gateway -o jsonpath='{.status.addresses[0].value}'` works)."""
    if not service:
        return []
    out: list[dict[str, str]] = []
    for ingress in (service.get("status") or {}).get("loadBalancer", {}).get("ingress") or []:
        if ingress.get("ip"):
            out.append({"type": "IPAddress", "value": ingress["ip"]})
        elif ingress.get("hostname"):
            out.append({"type": "Hostname", "value": ingress["hostname"]})
    if not out:
        ip = (service.get("spec") or {}).get("clusterIP")
        if ip and ip != "None":
            out.append({"type": "IPAddress", "value": ip})
    return out
