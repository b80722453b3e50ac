"""`igw`: the one command. Each subcommand names the module that does the work.

  igw run       the gateway: router + Envoy, from a manifests directory (standalone.py)
                or from the Kubernetes API (cluster.py → operator/kube/)
  igw demo      run the seed's verification on simulated pods (demo.py)
  igw sim       one simulated model-server pod (inference_gateway.simulator)
  igw validate  check manifests against our CRDs offline (validate.py)
  igw status    the statuses the operator would write for a manifests directory (operator/status_report.py)
  igw bench     benchmark against Envoy round robin and sglang-router (inference_gateway.bench)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from inference_gateway.router.logs import configure as configure_logs
from inference_gateway.router.table import Strategy

from . import edge_args, event_loop
from .options import (cluster_arguments, gateway_arguments, host_port, replica_arguments, router_arguments,
                      router_settings, until_signalled)


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
    router_arguments(run)
    gateway_arguments(run)
    replica_arguments(run)
    edge_args.add_arguments(run)
    cluster_arguments(run)

    demo = sub.add_parser("demo", help="the seed's verification on simulated vLLM pods and a real Envoy")
    demo.add_argument("--serve", action="store_true", help="keep serving on the Gateway's port until Ctrl-C")
    demo.add_argument("--pods", type=int, default=4, help="simulated pods, at 127.0.0.2 and up (default 4)")
    demo.add_argument("--examples", type=Path, default=None, help="the examples/ directory (default: the repo's)")
    demo.add_argument("--strategy", choices=[Strategy.PREFIX_CACHE.value, Strategy.DEFAULT.value], default="prefix-cache",
                      help="which of the seed's vLLM manifests to load (default prefix-cache)")
    router_arguments(demo)
    gateway_arguments(demo)

    sim = sub.add_parser("sim", help="one simulated model-server pod (vLLM or SGLang)", add_help=False)
    sim.add_argument("sim_args", nargs=argparse.REMAINDER)

    from . import validate  # noqa: PLC0415

    validate.add_arguments(sub.add_parser("validate", help="check manifests against the CRDs, offline"))
    status_help = "print the statuses the operator would write for these manifests"
    status = sub.add_parser("status", help=status_help, description=status_help + " (`igw run --status-dir` "
                            "keeps them in files while it serves)")
    status.add_argument("--manifests", type=Path, action="append", required=True, metavar="PATH",
                        help="a manifest file or directory, as for igw run (repeatable)")
    status.add_argument("--listen-address", default="127.0.0.1", help="the Gateway address to report")
    bench = sub.add_parser("bench", help="benchmark vs Envoy round robin and sglang-router (bench/README.md)",
                           add_help=False)
    bench.add_argument("bench_args", nargs=argparse.REMAINDER)
    return parser


def _status(args: argparse.Namespace) -> int:
    import yaml  # noqa: PLC0415

    from inference_gateway.operator.manifests import load_paths  # noqa: PLC0415
    from inference_gateway.operator.status_report import standalone_statuses, status_documents  # noqa: PLC0415
    from inference_gateway.operator.translate.objects import ObjectSet  # noqa: PLC0415

    objects, problems = load_paths(args.manifests)
    for problem in problems:
        print(f"# refused: {problem}", file=sys.stderr)
    print(yaml.safe_dump_all(status_documents(standalone_statuses(ObjectSet.of(objects), args.listen_address)),
                             sort_keys=False), end="")
    return 1 if problems else 0


async def _run(args: argparse.Namespace) -> int:
    if not args.manifests:
        from .cluster import run_in_cluster  # noqa: PLC0415  (Kopf is heavy; only in-cluster needs it)

        return await run_in_cluster(args)
    from .router_replicas import ext_proc_endpoints, start_children, stop_replicas, with_replicas  # noqa: PLC0415
    from .standalone import Standalone, StandaloneSettings  # noqa: PLC0415

    # this router and N-1 children behind one Envoy, sharing the index
    router, children = with_replicas(router_settings(args), args.router_replicas, args.manifests, args.log_level)
    endpoints = ext_proc_endpoints(router, children) + tuple(host_port(e) for e in args.ext_proc_endpoint)
    gateway = Standalone(StandaloneSettings(
        manifests=args.manifests, listen_address=args.listen_address, router=router,
        xds_port=args.xds_port, admin_port=args.admin_port, envoy_concurrency=args.envoy_concurrency,
        envoy_log_level=args.envoy_log_level, shutdown_grace=args.shutdown_grace, router_only=args.router_only,
        ext_proc_endpoints=endpoints, status_dir=args.status_dir,
        edge=edge_args.limits(args), access_log=args.envoy_access_log))
    try:
        await start_children(router, children)
        await gateway.start()
        return await gateway.serve(asyncio.ensure_future(until_signalled()))
    finally:
        await gateway.stop()
        await stop_replicas(children)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["sim"]:  # the simulator owns its arguments
        from inference_gateway.simulator import cli as sim_cli  # noqa: PLC0415

        return sim_cli.main(argv[1:], prog="igw sim")
    if argv[:1] == ["bench"]:  # the benchmark owns its arguments
        from inference_gateway.bench import cli as bench_cli  # noqa: PLC0415

        return bench_cli.main(argv[1:])
    args = build_parser().parse_args(argv)
    configure_logs(args.log_level)
    if args.command == "validate":
        from . import validate  # noqa: PLC0415

        return validate.run(args)
    if args.command == "status":
        return _status(args)
    if args.command == "demo":
        from .demo import run_demo  # noqa: PLC0415

        return asyncio.run(run_demo(args))
    try:
        return event_loop.run(_run(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
