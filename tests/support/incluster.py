"""Running the in-cluster gateway (Kopf + router + xDS) in-process against the API emulator."""

from __future__ import annotations

import dataclasses
from typing import Any

from inference_gateway.operator.kube import ClusterGateway, ClusterSettings
from inference_gateway.operator.kube.leader import LeaseSettings
from inference_gateway.operator.ports import free_port
from inference_gateway.operator.translate.envoy import EnvoySettings
from inference_gateway.operator.translate.provisioning import ProvisioningSettings
from inference_gateway.router.server import RouterSettings

from .cluster import Cluster

GW = "gateway.networking.k8s.io/v1"
INF = "inference.networking.x-k8s.io/v1alpha2"


def conditions(obj: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    status = (obj or {}).get("status") or {}
    return {c["type"]: c for c in status.get("conditions") or []}


def settings(identity: str = "replica-a", **overrides: Any) -> ClusterSettings:
    """Every port free-picked; short lease timings; a fast reconcile tick."""
    router = RouterSettings(ext_proc_port=free_port(), health_port=0, metrics_port=0, scrape_interval=0.05)
    base = ClusterSettings(
        router=router, xds_host="127.0.0.1", xds_port=free_port(),
        envoy=EnvoySettings(bind_address="127.0.0.1", ext_proc_address=("127.0.0.1", router.ext_proc_port),
                            rds=True, not_found_route=True),
        provisioning=ProvisioningSettings(),
        lease=LeaseSettings(namespace="igw-system", lease_duration=3, renew_deadline=2, retry_period=0.3),
        identity=identity, reconcile_interval=0.3)
    return dataclasses.replace(base, **overrides)


async def start_gateway(cluster: Cluster, identity: str = "replica-a", token: str | None = None,
                        **overrides: Any) -> ClusterGateway:
    gateway = ClusterGateway(settings(identity, **overrides), cluster.config(token))
    await gateway.start()
    await gateway.wait_ready(10)
    return gateway
