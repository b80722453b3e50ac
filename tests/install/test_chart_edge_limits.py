"""The chart's edgeLimits values reach `igw run` as flags the command accepts, and from there
the provisioned Envoy (its bootstrap and memory limit); so does proxyAccessLog."""

from __future__ import annotations

import subprocess

import pytest

from inference_gateway.cli import edge_args
from inference_gateway.operator.api import Gateway
from inference_gateway.cli.main import build_parser
from inference_gateway.cli.cluster import cluster_settings
from inference_gateway.operator.translate.provisioning import proxy_manifests


def test_edge_limits_flow_from_values_to_the_provisioned_envoy(render):
    objects = render("--set", "edgeLimits.max-body-bytes=1048576", "--set", "edgeLimits.request-timeout=30",
                     "--set", "edgeLimits.envoy-max-heap-bytes=536870912")
    (deploy,) = [o for o in objects if o["kind"] == "Deployment"]
    args = deploy["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--max-body-bytes") + 1] == "1048576"
    parsed = build_parser().parse_args(args)
    limits = edge_args.limits(parsed)
    assert (limits.max_body_bytes, limits.request_timeout_s, limits.max_heap_bytes) == (1048576, 30.0, 536870912)

    settings = cluster_settings(parsed)
    assert settings.envoy.edge == limits
    gateway = Gateway.model_validate({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                                      "metadata": {"name": "gw", "namespace": "default", "uid": "u"},
                                      "spec": {"gatewayClassName": "c", "listeners": [
                                          {"name": "http", "protocol": "HTTP", "port": 8080}]}})
    config_map, deployment, _ = proxy_manifests(gateway, settings.provisioning)
    assert '"max_heap_size_bytes": "536870912"' in config_map["data"]["envoy.json"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["memory"] == "1Gi"  # above the 512 MiB heap limit


@pytest.mark.parametrize("bad", ["edgeLimits.max-body-bytes=0", "edgeLimits.no-such-limit=1"])
def test_values_schema_rejects_bad_edge_limits(render, bad):
    with pytest.raises(subprocess.CalledProcessError):
        render("--set", bad)


def test_inconsistent_limits_are_refused_with_a_message():
    args = build_parser().parse_args(["run", "--max-body-bytes", "1000", "--connection-buffer-bytes", "2000"])
    with pytest.raises(SystemExit, match="max_body_bytes must be at least connection_buffer_bytes"):
        edge_args.limits(args)


def test_proxy_access_log_flows_from_values_to_the_operators_envoys(render):
    def args(*values: str) -> list[str]:
        (deploy,) = [o for o in render(*values) if o["kind"] == "Deployment"]
        return deploy["spec"]["template"]["spec"]["containers"][0]["args"]

    assert "--envoy-access-log" not in args()
    on = args("--set", "proxyAccessLog=true")
    assert on[on.index("--envoy-access-log") + 1] == "-"
    assert cluster_settings(build_parser().parse_args(on)).envoy.access_log == "-"
    with pytest.raises(subprocess.CalledProcessError):
        render("--set-string", "proxyAccessLog=yes")
