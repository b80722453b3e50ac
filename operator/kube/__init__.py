"""In-cluster mode (`igw run` without `--manifests`): the Kopf operator.

- store.py     watch events → an in-memory ObjectSet (raw + parsed objects)
- pods.py      Pods, one server-side-filtered watch per pool selector
- operator.py  wiring: Kopf handlers, debounced translation → router table + xDS snapshots
- leader.py    Lease-based leader election (kubernetes-asyncio)
- reconcile.py the leader's work: Envoy provisioning and status writes
"""

from __future__ import annotations

from kubernetes_asyncio import client, config

from .operator import ClusterGateway, ClusterSettings

__all__ = ["ClusterGateway", "ClusterSettings", "load_api_config"]


async def load_api_config() -> client.Configuration:
    """In a pod: its service account; elsewhere: $KUBECONFIG / ~/.kube/config."""
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException:
        await config.load_kube_config(client_configuration=configuration)
    return configuration
