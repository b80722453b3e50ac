"""Envoy bootstraps: the ADS one our Envoys start from, and a static one holding a whole
translation (what `envoy --mode validate` checks in tests)."""

from __future__ import annotations

from typing import Any

from .envoy import XDS_CLUSTER, EnvoyResources, EnvoySettings, load_assignment, static_cluster
from .features import FEATURES


def _finished(bootstrap: dict[str, Any], settings: EnvoySettings) -> dict[str, Any]:
    for feature in FEATURES:  # hook point: process-wide settings (e.g. the overload manager)
        feature.bootstrap(bootstrap, settings)
    return bootstrap


def _admin(admin_port: int, settings: EnvoySettings) -> dict[str, Any]:
    return {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}}


def ads_bootstrap(node_id: str, xds_address: tuple[str, int], admin_port: int,
                  settings: EnvoySettings = EnvoySettings()) -> dict[str, Any]:
    """A bootstrap that takes everything but the xDS cluster from our ADS server."""
    ads = {"ads": {}, "resource_api_version": "V3"}
    return _finished({
        "node": {"id": node_id, "cluster": "inference-gateway"},
        "admin": _admin(admin_port, settings),
        "dynamic_resources": {
            "ads_config": {"api_type": "GRPC", "transport_api_version": "V3", "set_node_on_first_message_only": True,
                           "grpc_services": [{"envoy_grpc": {"cluster_name": XDS_CLUSTER}}]},
            "cds_config": ads,
            "lds_config": ads,
        },
        "static_resources": {"clusters": [static_cluster(XDS_CLUSTER, *xds_address, settings, http2=True)]},
    }, settings)


def static_bootstrap(resources: EnvoyResources, admin_port: int,
                     settings: EnvoySettings = EnvoySettings()) -> dict[str, Any]:
    """The same resources as a static bootstrap: EDS clusters get their endpoints inline."""
    endpoints = {e["cluster_name"]: e for e in resources.endpoints}
    clusters = []
    for cluster in resources.clusters:
        if cluster.get("type") == "EDS":
            cluster = {k: v for k, v in cluster.items() if k != "eds_cluster_config"}
            cluster["type"] = "STATIC"
            cluster["load_assignment"] = endpoints.get(cluster["name"], load_assignment(cluster["name"], []))
        clusters.append(cluster)
    return _finished({
        "node": {"id": "validate", "cluster": "inference-gateway"},
        "admin": _admin(admin_port, settings),
        "static_resources": {"listeners": resources.listeners, "clusters": clusters},
    }, settings)
