"""`igw`: the one command. Each subcommand names the module that does the work.

  igw run       the gateway: router + Envoy, from a manifests directory (standalone.py)
                or from the Kubernetes API (in-cluster operator)
  igw demo      run the seed's verification on simulated pods (demo.py)
  igw sim       one simulated model-server pod (inference_gateway.simulator)
  igw validate  check manifests against our CRDs offline (crd_validation.py)
  igw status    the statuses the operator would write for a manifests directory (status_report.py)
  igw bench     benchmark against Envoy round robin and sglang-router (inference_gateway.bench)
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

import structlog

from inference_gateway.router.logs import configure as configure_logs
from inference_gateway.router.server import RouterSettings

log = structlog.get_logger("igw")


def _router_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("router")
    g.add_argument("--ext-proc-port", type=int, default=9002, help="ext_proc gRPC port Envoy calls (default 9002)")
    g.add_argument("--health-port", type=int, default=9003, help="gRPC health port (default 9003; 0 disables)")
    g.add_argument("--metrics-port", type=int, default=9090, help="Prometheus /metrics port (default 9090; 0 disables)")
    g.add_argument("--router-host", default="127.0.0.1", help="address the router's servers bind (default 127.0.0.1)")
    g.add_argument("--scrape-interval", type=float, default=0.1, help="seconds between pod /metrics scrapes")
    g.add_argument("--stale-after", type=float, default=1.0,
                   help="pod metrics older than this many seconds count as unknown (busy)")
    g.add_argument("--scheduler-config", type=Path, default=None, metavar="YAML",
                   help="scorer weights per strategy and admission thresholds (see router/scheduler/config.py)")
    g.add_argument("--pd-delivery", choices=["mirror", "router"], default="mirror",
                   help="prefill/decode pools: Envoy mirrors the prefill request (default) or the router sends it")
    g.add_argument("--tokenizer", default=None, metavar="TOKENIZER_JSON",
                   help="precise prefix mode: the model servers' tokenizer.json (default: the simulator's tokenizer)")
    g.add_argument("--no-usage-metrics", action="store_true",
                   help="do not read token usage from responses (saves ext_proc messages per request)")
    g.add_argument("--pool", default="", metavar="NAMESPACE/NAME",
                   help="picker mode: serve as the endpoint picker of this InferencePool behind any gateway "
                        "(requests that name no pool go to it; with --manifests, no Envoy is started)")
    g.add_argument("--enable-test-endpoint-selection", action="store_true",
                   help="conformance tests only: honour the test-epp-endpoint-selection request header")


def router_settings(args: argparse.Namespace) -> RouterSettings:
    return RouterSettings(host=args.router_host, ext_proc_port=args.ext_proc_port, health_port=args.health_port,
                          metrics_port=args.metrics_port, scrape_interval=args.scrape_interval,
                          stale_after=args.stale_after,
                          scheduler_config=str(args.scheduler_config) if args.scheduler_config else None,
                          read_usage=not args.no_usage_metrics, pd_delivery=args.pd_delivery,
                          tokenizer=args.tokenizer, pool=args.pool,
                          test_endpoint_selection=args.enable_test_endpoint_selection)


def _gateway_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("envoy")
    g.add_argument("--listen-address", default="127.0.0.1",
                   help="address Envoy's Gateway listeners bind (default 127.0.0.1)")
    g.add_argument("--xds-port", type=int, default=18000, help="ADS port Envoy takes its configuration from")
    g.add_argument("--admin-port", type=int, default=19000, help="Envoy admin port (always on 127.0.0.1)")
    g.add_argument("--envoy-concurrency", type=int, default=2, help="Envoy worker threads")
    g.add_argument("--envoy-log-level", default="warning")


def _cluster_arguments(p: argparse.ArgumentParser) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="igw", description="Inference gateway for Kubernetes.")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the gateway (router + Envoy)")
    run.add_argument("--manifests", type=Path, action="append", metavar="PATH",
                     help="read objects from this file or directory instead of the Kubernetes API "
                          "(repeatable; reloaded when files change)")
    run.add_argument("--status-dir", type=Path, default=None, metavar="DIR",
                     help="with --manifests: write the statuses the operator would write, one YAML file per object")
    _router_arguments(run)
    _gateway_arguments(run)
    _cluster_arguments(run)

    demo = sub.add_parser("demo", help="the seed's verification on simulated vLLM pods and a real Envoy")
    demo.add_argument("--serve", action="store_true", help="keep serving on the Gateway's port until Ctrl-C")
    demo.add_argument("--pods", type=int, default=4, help="simulated pods, at 127.0.0.2 and up (default 4)")
    demo.add_argument("--examples", type=Path, default=None, help="the examples/ directory (default: the repo's)")
    demo.add_argument("--strategy", choices=["prefix-cache", "load-aware"], default="prefix-cache",
                      help="which of the seed's vLLM manifests to load (default prefix-cache)")
    _router_arguments(demo)
    _gateway_arguments(demo)

    sim = sub.add_parser("sim", help="one simulated model-server pod (vLLM or SGLang)", add_help=False)
    sim.add_argument("sim_args", nargs=argparse.REMAINDER)

    from . import crd_validation  # noqa: PLC0415

    crd_validation.add_arguments(sub.add_parser("validate", help="check manifests against the CRDs, offline"))
    status = sub.add_parser("status", help="print the statuses the operator would write for these manifests")
    status.add_argument("--manifests", type=Path, action="append", required=True, metavar="PATH")
    status.add_argument("--listen-address", default="127.0.0.1", help="the Gateway address to report")
    bench = sub.add_parser("bench", help="benchmark vs Envoy round robin and sglang-router (bench/README.md)",
                           add_help=False)
    bench.add_argument("bench_args", nargs=argparse.REMAINDER)
    return parser


async def until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def _run(args: argparse.Namespace) -> int:
    if not args.manifests:
        from .kube import run_in_cluster  # noqa: PLC0415  (Kopf is heavy; only in-cluster needs it)

        return await run_in_cluster(args)
    from .standalone import Standalone, StandaloneSettings

    gateway = Standalone(StandaloneSettings(
        manifests=args.manifests, listen_address=args.listen_address, router=router_settings(args),
        xds_port=args.xds_port, admin_port=args.admin_port, envoy_concurrency=args.envoy_concurrency,
        envoy_log_level=args.envoy_log_level, status_dir=args.status_dir))
    try:
        await gateway.start()
        await until_signalled()
    finally:
        await gateway.stop()
    return 0


def _status(args: argparse.Namespace) -> int:
    import yaml  # noqa: PLC0415

    from .manifests import load_paths  # noqa: PLC0415
    from .status_report import standalone_statuses, status_documents  # noqa: PLC0415
    from .translate.objects import ObjectSet  # noqa: PLC0415

    objects, problems = load_paths(args.manifests)
    for problem in problems:
        print(f"# refused: {problem}", file=sys.stderr)
    print(yaml.safe_dump_all(status_documents(standalone_statuses(ObjectSet.of(objects), args.listen_address)),
                             sort_keys=False), end="")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["sim"]:  # the simulator owns its arguments
        from inference_gateway.simulator import cli as sim_cli  # noqa: PLC0415

        return sim_cli.main(argv[1:])
    if argv[:1] == ["bench"]:  # the benchmark owns its arguments
        from inference_gateway.bench import cli as bench_cli  # noqa: PLC0415

        return bench_cli.main(argv[1:])
    args = build_parser().parse_args(argv)
    configure_logs(args.log_level)
    if args.command == "validate":
        from . import crd_validation  # noqa: PLC0415

        return crd_validation.run(args)
    if args.command == "status":
        return _status(args)
    if args.command == "demo":
        from .demo import run_demo  # noqa: PLC0415

        return asyncio.run(run_demo(args))
    try:
        return asyncio.run(_run(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
