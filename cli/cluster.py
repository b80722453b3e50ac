"""`igw run` without `--manifests`: the in-cluster operator (operator/kube/), from the command line."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal

import structlog

from inference_gateway.operator.kube import ClusterGateway, ClusterSettings, load_api_config
from inference_gateway.operator.kube.leader import LeaseSettings
from inference_gateway.operator.translate.envoy import EnvoySettings
from inference_gateway.operator.translate.provisioning import ProvisioningSettings

from . import edge_args
from .options import router_settings

log = structlog.get_logger("igw")


def _host_port(text: str, default_port: int) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return (host, int(port)) if host and port.isdigit() else (text, default_port)


def cluster_settings(args: argparse.Namespace) -> ClusterSettings:
    namespace = args.namespace or os.environ.get("POD_NAMESPACE") or "default"
    service = f"{args.operator_service}.{namespace}.svc.cluster.local"
    xds = _host_port(args.xds_address, args.xds_port) if args.xds_address else (service, args.xds_port)
    ext_proc = _host_port(args.ext_proc_address, args.ext_proc_port) if args.ext_proc_address \
        else (service, args.ext_proc_port)
    return ClusterSettings(
        router=router_settings(args),
        xds_host=args.router_host,
        xds_port=args.xds_port,
        envoy=EnvoySettings(bind_address=args.proxy_bind_address, ext_proc_address=ext_proc, rds=True, not_found_route=True,
                            edge=edge_args.limits(args), access_log=args.envoy_access_log),
        provisioning=ProvisioningSettings(envoy_image=args.envoy_image, xds_address=xds,
                                          service_type=args.envoy_service_type,
                                          log_level=args.envoy_log_level, defaults=args.proxy_defaults,
                                          edge=edge_args.limits(args)),
        lease=LeaseSettings(namespace=args.leader_election_namespace or namespace),
        identity=args.identity or "",
        watch_namespaces=tuple(args.watch_namespace or ()),
        router_service=(namespace, args.operator_service),
    )


async def run_in_cluster(args: argparse.Namespace) -> int:
    gateway = ClusterGateway(cluster_settings(args), await load_api_config())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await gateway.start()
        await gateway.wait_ready()
        while not stop.is_set() and gateway.kopf_alive:  # until signalled (or Kopf died)
            try:
                async with asyncio.timeout(1.0):  # not wait_for: see operator/kube/leader.py
                    await stop.wait()
            except TimeoutError:
                pass
        if not gateway.kopf_alive and not stop.is_set():
            log.error("kopf stopped; exiting")
            return 1
    finally:
        await gateway.stop()
    return 0
