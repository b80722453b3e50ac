"""The `igw` options shared by its subcommands, and the settings objects built from them.

One place turns argparse namespaces into each room's settings (router, in-cluster operator),
so the rooms themselves never read command lines.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from pydantic import ValidationError

from inference_gateway.operator.api.parameters import GatewayParametersSpec
from inference_gateway.router.server import RouterSettings


def router_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("router")
    g.add_argument("--ext-proc-port", type=int, default=9002, help="ext_proc gRPC port Envoy calls (default 9002)")
    g.add_argument("--health-port", type=int, default=9003, help="gRPC health port (default 9003; 0 disables)")
    g.add_argument("--metrics-port", type=int, default=9090, help="Prometheus /metrics port (default 9090; 0 disables)")
    g.add_argument("--router-host", default="127.0.0.1", help="address the router's servers bind (default 127.0.0.1)")
    # Defaults from RouterSettings, so `igw run` and the benchmarks that build the settings
    # directly (bench/faults.py) scrape alike.
    g.add_argument("--scrape-interval", type=float, default=RouterSettings.scrape_interval,
                   help="seconds between pod /metrics scrapes (default %(default)s)")
    g.add_argument("--stale-after", type=float, default=RouterSettings.stale_after,
                   help="pod metrics older than this many seconds count as unknown (busy; default %(default)s)")
    g.add_argument("--scheduler-config", type=Path, default=None, metavar="YAML",
                   help="scorer weights per strategy and admission thresholds (see router/scheduler/config.py)")
    g.add_argument("--pd-delivery", choices=["mirror", "router"], default="mirror",
                   help="prefill/decode pools: Envoy mirrors the prefill request (default) or the router sends it")
    g.add_argument("--tokenizer", default=None, metavar="TOKENIZER_JSON",
                   help="precise prefix mode: the model servers' tokenizer.json (default: the simulator's tokenizer)")
    g.add_argument("--no-usage-metrics", action="store_true",
                   help="no token histograms (they come from the pods' own token metrics, not from responses)")
    g.add_argument("--pool", default="", metavar="NAMESPACE/NAME",
                   help="picker mode: serve as the endpoint picker of this InferencePool behind any gateway "
                        "(requests that name no pool go to it; with --manifests, no Envoy is started)")
    g.add_argument("--enable-test-endpoint-selection", action="store_true",
                   help="conformance tests only: honour the test-epp-endpoint-selection request header")
    g.add_argument("--peer-listen", default=None, metavar="ENDPOINT",
                   help="share the prefix index with other router replicas: this replica's ZMQ endpoint "
                        "(e.g. tcp://127.0.0.1:5600; in a cluster, tcp://$POD_IP:5600)")
    g.add_argument("--peers", default="", metavar="ENDPOINT,...",
                   help="the other replicas' --peer-listen endpoints (in a cluster they are discovered)")


def router_settings(args: argparse.Namespace) -> RouterSettings:
    return RouterSettings(host=args.router_host, ext_proc_port=args.ext_proc_port, health_port=args.health_port,
                          metrics_port=args.metrics_port, scrape_interval=args.scrape_interval,
                          stale_after=args.stale_after,
                          scheduler_config=str(args.scheduler_config) if args.scheduler_config else None,
                          read_usage=not args.no_usage_metrics, pd_delivery=args.pd_delivery,
                          tokenizer=args.tokenizer, pool=args.pool,
                          test_endpoint_selection=args.enable_test_endpoint_selection, peer_listen=args.peer_listen,
                          peers=tuple(p.strip() for p in args.peers.split(",") if p.strip()))


def gateway_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("envoy")
    g.add_argument("--listen-address", default="127.0.0.1",
                   help="address Envoy's Gateway listeners bind (default 127.0.0.1)")
    g.add_argument("--xds-port", type=int, default=18000, help="ADS port Envoy takes its configuration from")
    g.add_argument("--admin-port", type=int, default=19000, help="Envoy admin port (always on 127.0.0.1)")
    g.add_argument("--envoy-concurrency", type=int, default=2, help="Envoy worker threads")
    g.add_argument("--envoy-log-level", default="warning", help="Envoy's own log level (default warning)")
    g.add_argument("--envoy-access-log", default=None, metavar="PATH",
                   help="Envoy's access log: one JSON line per request, with the ext_proc time each "
                        "message to the router took (operator/translate/access_log.py); a file, or - "
                        "for Envoy's standard output (a provisioned Envoy's pod log). Default: none")
    g.add_argument("--shutdown-grace", type=float, default=30.0, metavar="SECONDS",
                   help="on SIGTERM, how long requests in flight may take to finish (default 30; keep it "
                        "below the pod's terminationGracePeriodSeconds)")


def replica_arguments(p: argparse.ArgumentParser) -> None:
    """`igw run --manifests` only: the demo and the in-cluster operator run one router each."""
    r = p.add_argument_group("router replicas (with --manifests; they share the prefix index, see --peer-listen)")
    r.add_argument("--router-only", action="store_true",
                   help="run a router replica only (no Envoy): another gateway's Envoy calls it")
    r.add_argument("--ext-proc-endpoint", action="append", default=[], metavar="HOST:PORT",
                   help="router replica(s) Envoy calls instead of this process's router (repeatable)")
    r.add_argument("--router-replicas", type=int, default=1, metavar="N",
                   help="route with N router processes (this one and N-1 children sharing the prefix index; "
                        "Envoy spreads ext_proc streams over them): one core each")


def cluster_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("in cluster (without --manifests)")
    g.add_argument("--namespace", default=None,
                   help="the operator's namespace (default $POD_NAMESPACE, else default)")
    g.add_argument("--watch-namespace", action="append", metavar="NS",
                   help="watch only this namespace (repeatable; default: all namespaces)")
    g.add_argument("--leader-election-namespace", default=None, help="namespace of the leader Lease (default --namespace)")
    g.add_argument("--identity", default=None, help="leader-election identity (default $POD_NAME)")
    g.add_argument("--operator-service", default="inference-gateway-ext-proc",
                   help="the operator's Service: provisioned Envoys reach xDS and ext_proc through it")
    g.add_argument("--xds-address", default=None, metavar="HOST:PORT",
                   help="xDS address written into Envoy bootstraps (default: the operator Service, --xds-port)")
    g.add_argument("--ext-proc-address", default=None, metavar="HOST:PORT",
                   help="ext_proc address Envoys call (default: the operator Service, --ext-proc-port)")
    g.add_argument("--envoy-image", default="docker.io/envoyproxy/envoy:distroless-v1.40.0",
                   help="image of the provisioned Envoy proxies")
    g.add_argument("--envoy-service-type", default="LoadBalancer", choices=["LoadBalancer", "NodePort", "ClusterIP"],
                   help="type of each Gateway's Service (default LoadBalancer)")
    g.add_argument("--proxy-bind-address", default="0.0.0.0",
                   help="address the provisioned Envoys bind their listeners (default 0.0.0.0)")
    g.add_argument("--proxy-defaults", type=proxy_defaults, default=None, metavar="JSON",
                   help="a GatewayParameters spec (JSON) under every GatewayClass's own parameters "
                        "(the chart's proxyDefaults)")


def proxy_defaults(text: str) -> GatewayParametersSpec:
    """`--proxy-defaults`: a GatewayParameters spec, refused with the field named."""
    try:
        return GatewayParametersSpec.model_validate_json(text)
    except ValidationError as err:
        raise argparse.ArgumentTypeError("; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'spec'}: {e['msg']}" for e in err.errors())) from None


def host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"igw: --ext-proc-endpoint {text!r}: expected HOST:PORT")
    return host, int(port)


async def until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
