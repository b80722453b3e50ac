"""The Helm chart, checked with the real helm binary (lint, template) and read back as objects."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "inference-gateway"


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o.get("kind") == kind]

METRICS = [
    "inference_model_request_total",
    "inference_model_request_error_total",
    "inference_model_request_duration_seconds",
    "inference_model_input_tokens",
    "inference_model_output_tokens",
    "inference_model_running_requests",
    "inference_pool_average_kv_cache_utilization",
    "inference_pool_average_queue_size",
    "inference_pool_ready_pods",
    "inference_extension_scheduler_e2e_duration_seconds",
]


def test_chart_metadata():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["appVersion"] == "0.1.0" and chart["name"] == "inference-gateway"


def test_helm_lint_strict(run_helm):
    run_helm("lint", "--strict", str(CHART))
    run_helm(
        "lint", "--strict", str(CHART),
        "--set", "podDisruptionBudget.enabled=true,serviceMonitor.enabled=true,grafanaDashboard.enabled=true",
    )
    run_helm("lint", "--strict", str(CHART), "--set", "rbac.scope=namespace", "--set", "watchNamespaces={team-a,team-b}",
             "--set", "proxyDefaults.deployment.replicas=2,proxyDefaults.autoscaling.maxReplicas=4")


def test_chart_crds_are_the_repo_crds():
    """One source of truth: charts/.../crds is a symlink to crds/ (helm follows it and packages the files)."""
    chart_crds = CHART / "crds"
    source = sorted(p.name for p in (REPO / "crds").glob("*.yaml"))
    assert sorted(p.name for p in chart_crds.iterdir()) == source
    for name in source:
        assert (chart_crds / name).read_bytes() == (REPO / "crds" / name).read_bytes(), name


def test_template_includes_crds(default_objects):
    crds = by_kind(default_objects, "CustomResourceDefinition")
    assert sorted(c["metadata"]["name"] for c in crds) == sorted([
        "inferencemodelrewrites.inference.networking.x-k8s.io",
        "inferencemodels.inference.networking.x-k8s.io",
        "inferenceobjectives.inference.networking.x-k8s.io",
        "inferencepools.inference.networking.k8s.io",
        "inferencepools.inference.networking.x-k8s.io",
        "inferencetrafficpolicies.inferenceextension.alibabacloud.com",
        "gatewayparameters.inferenceextension.alibabacloud.com",
    ])


def test_deployment(default_objects):
    (deploy,) = by_kind(default_objects, "Deployment")
    assert deploy["metadata"]["name"] == "inference-gateway-ext-proc"
    assert deploy["metadata"]["namespace"] == "envoy-gateway-system"
    spec = deploy["spec"]
    assert spec["replicas"] == 2
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == [
        # The router's servers must be reachable from the provisioned Envoy pods, not loopback.
        "run", "--router-host", "0.0.0.0",
        "--ext-proc-port", "9002", "--health-port", "9003", "--metrics-port", "9090", "--xds-port", "18000",
        # Replicas share their prefix index; they find each other in this Service's EndpointSlices.
        "--operator-service", "inference-gateway-ext-proc", "--peer-listen", "tcp://$(POD_IP):5600",
    ]
    assert {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}} in container["env"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["grpc"] == {"port": 9003}
    assert container["resources"]["requests"] and container["resources"]["limits"]
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"] and sc["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp"}
    assert pod["serviceAccountName"] == "inference-gateway-ext-proc"
    selector = spec["selector"]["matchLabels"]
    assert selector.items() <= spec["template"]["metadata"]["labels"].items()
    assert "preferredDuringSchedulingIgnoredDuringExecution" in pod["affinity"]["podAntiAffinity"]


def test_a_single_replica_shares_with_no_one(render):
    (deploy,) = by_kind(render("--set", "replicaCount=1"), "Deployment")
    assert "--peer-listen" not in deploy["spec"]["template"]["spec"]["containers"][0]["args"]


def test_args_and_ports_are_configurable(render):
    (deploy,) = by_kind(render("--set", "ports.extProc=9100", "--set", "extraArgs={--log-json}"), "Deployment")
    args = deploy["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[3:5] == ["--ext-proc-port", "9100"] and args[-1] == "--log-json"
    (deploy,) = by_kind(render("--set", "args={run,--demo}", "--set", "podAntiAffinity=hard"), "Deployment")
    pod = deploy["spec"]["template"]["spec"]
    assert pod["containers"][0]["args"] == ["run", "--demo"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" in pod["affinity"]["podAntiAffinity"]
    (deploy,) = by_kind(render("--set", "podAntiAffinity="), "Deployment")
    assert "affinity" not in deploy["spec"]["template"]["spec"]


def test_service_ports(default_objects):
    (service,) = by_kind(default_objects, "Service")
    assert service["metadata"]["name"] == "inference-gateway-ext-proc"
    ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
    assert ports == {"grpc-ext-proc": 9002, "grpc-xds": 18000, "http-metrics": 9090, "grpc-health": 9003}
    (deploy,) = by_kind(default_objects, "Deployment")
    container_ports = {p["name"] for p in deploy["spec"]["template"]["spec"]["containers"][0]["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= container_ports


def _rules(objects):
    for role in by_kind(objects, "ClusterRole") + by_kind(objects, "Role"):
        yield from role["rules"]


def _allowed(objects, group: str, resource: str) -> set[str]:
    verbs: set[str] = set()
    for rule in _rules(objects):
        if group in rule["apiGroups"] and resource in rule["resources"]:
            verbs |= set(rule["verbs"])
    return verbs


def test_rbac_least_privilege(default_objects):
    rules = list(_rules(default_objects))
    assert rules
    for rule in rules:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"]
        assert "secrets" not in rule["resources"]
    inf = "inference.networking.x-k8s.io"
    for resource in ("inferencepools", "inferencemodels"):
        assert {"get", "list", "watch", "patch"} <= _allowed(default_objects, inf, resource)
        assert {"patch", "update"} <= _allowed(default_objects, inf, f"{resource}/status")
    itp = "inferenceextension.alibabacloud.com"
    assert {"get", "list", "watch"} <= _allowed(default_objects, itp, "inferencetrafficpolicies")
    assert "patch" in _allowed(default_objects, itp, "inferencetrafficpolicies/status")
    for resource in ("gatewayclasses", "gateways", "httproutes"):
        assert {"get", "list", "watch"} <= _allowed(default_objects, "gateway.networking.k8s.io", resource)
        assert "patch" in _allowed(default_objects, "gateway.networking.k8s.io", f"{resource}/status")
    assert _allowed(default_objects, "", "pods") == {"get", "list", "watch"}
    assert {"create", "delete"} <= _allowed(default_objects, "apps", "deployments")
    assert {"create", "patch"} <= _allowed(default_objects, "", "events")
    assert {"get", "create", "update"} <= _allowed(default_objects, "coordination.k8s.io", "leases")
    assert _allowed(default_objects, "apiextensions.k8s.io", "customresourcedefinitions") == {"get", "list", "watch"}
    assert {"list", "watch"} <= _allowed(default_objects, "", "namespaces")
    (binding,) = by_kind(default_objects, "ClusterRoleBinding")
    assert binding["subjects"][0]["name"] == "inference-gateway-ext-proc"


def test_optional_objects_off_by_default(default_objects):
    kinds = {o["kind"] for o in default_objects}
    assert not kinds & {"ServiceMonitor", "ConfigMap"}


def test_router_replicas_as_a_unit(default_objects, render):
    """At least two replicas, spread over zones and nodes, and a PodDisruptionBudget keeping one."""
    (deploy,) = by_kind(default_objects, "Deployment")
    labels = deploy["spec"]["selector"]["matchLabels"]
    assert deploy["spec"]["replicas"] >= 2
    spread = deploy["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert [c["topologyKey"] for c in spread] == ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]
    assert all(c["labelSelector"]["matchLabels"] == labels and c["whenUnsatisfiable"] == "ScheduleAnyway"
               for c in spread)
    (pdb,) = by_kind(default_objects, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1 and pdb["spec"]["selector"]["matchLabels"] == labels
    # a single replica gets no PDB (it would block every drain); spreading can be turned off
    single = render("--set", "replicaCount=1,topologySpread.enabled=false")
    assert not by_kind(single, "PodDisruptionBudget")
    assert "topologySpreadConstraints" not in by_kind(single, "Deployment")[0]["spec"]["template"]["spec"]


def test_namespaced_rbac(render):
    """rbac.scope=namespace: a Role per watched namespace, the operator told to watch only those,
    and cluster-wide nothing but GatewayClasses (cluster-scoped by nature) and CRD reads."""
    objects = render("--set", "rbac.scope=namespace", "--set", "watchNamespaces={team-a,team-b}")
    roles = {r["metadata"]["namespace"]: r for r in by_kind(objects, "Role")
             if not r["metadata"]["name"].endswith("leader-election")}
    assert set(roles) == {"team-a", "team-b"}
    bindings = {b["metadata"]["namespace"] for b in by_kind(objects, "RoleBinding")}
    assert {"team-a", "team-b", "envoy-gateway-system"} == bindings
    for role in roles.values():
        resources = {r for rule in role["rules"] for r in rule["resources"]}
        assert {"pods", "deployments", "httproutes/status", "inferencepools", "gatewayparameters"} <= resources
    (cluster_role,) = by_kind(objects, "ClusterRole")
    assert {r for rule in cluster_role["rules"] for r in rule["resources"]} == {
        "gatewayclasses", "gatewayclasses/status", "customresourcedefinitions"}
    args = by_kind(objects, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert [args[i + 1] for i, a in enumerate(args) if a == "--watch-namespace"] == ["team-a", "team-b"]
    # the release namespace by default
    objects = render("--set", "rbac.scope=namespace")
    assert {r["metadata"]["namespace"] for r in by_kind(objects, "Role")} == {"envoy-gateway-system"}


def test_optional_objects(render):
    objects = render(
        "--set", "podDisruptionBudget.enabled=true,serviceMonitor.enabled=true,grafanaDashboard.enabled=true"
    )
    (pdb,) = by_kind(objects, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    (monitor,) = by_kind(objects, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["endpoints"][0]["port"] == "http-metrics"
    (dashboard,) = by_kind(objects, "ConfigMap")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    board = json.loads(dashboard["data"]["inference-gateway.json"])
    exprs = " ".join(t["expr"] for p in board["panels"] for t in p.get("targets", []))
    for metric in METRICS:
        assert metric in exprs, metric


@pytest.mark.parametrize(
    "bad",
    [
        "replicaCount=-1",
        "ports.extProc=70000",
        "unknownKey=1",
        "image.pullPolicy=Sometimes",
        "podAntiAffinity=maybe",
        "serviceMonitor.interval=often",
        "rbac.create=maybe",
        "rbac.scope=tenant",
        "topologySpread.whenUnsatisfiable=Sometimes",
        "watchNamespaces={Not_A_Namespace}",
        "proxyDefaults.deployment.replicas=-1",
        "proxyDefaults.service.type=Public",
        "proxyDefaults.autoscaling.minReplicas=2",
    ],
)
def test_values_schema_rejects(render, bad):
    with pytest.raises(subprocess.CalledProcessError) as info:
        render("--set", bad)
    assert "schema" in info.value.stderr


def test_endpoint_picker_mode(render):
    """The router as one pool's picker behind another gateway, with upstream-style flags and volumes."""
    objects = render("--set", "endpointPicker.pool=llama,endpointPicker.flags.scheduler-config=/config/s.yaml",
                     "--set", "extraVolumes[0].name=config,extraVolumes[0].configMap.name=sched",
                     "--set", "extraVolumeMounts[0].name=config,extraVolumeMounts[0].mountPath=/config")
    (deploy,) = by_kind(objects, "Deployment")
    (container,) = deploy["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert args[args.index("--pool") + 1] == "envoy-gateway-system/llama"
    assert args[args.index("--scheduler-config") + 1] == "/config/s.yaml"
    assert {"name": "config", "mountPath": "/config"} in container["volumeMounts"]
    assert {"name": "config", "configMap": {"name": "sched"}} in deploy["spec"]["template"]["spec"]["volumes"]
def test_proxy_defaults(render, tmp_path):
    """proxyDefaults reach the operator as --proxy-defaults, which the operator itself accepts."""
    from inference_gateway.cli.options import proxy_defaults

    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"proxyDefaults": {
        "deployment": {"replicas": 2, "nodeSelector": {"pool": "edge"}},
        "autoscaling": {"maxReplicas": 10, "targetCPUUtilizationPercentage": 70},
        "service": {"type": "NodePort", "annotations": {"lb.example.com/scheme": "internal"}}}}))
    args = by_kind(render("-f", str(values)), "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["args"]
    spec = proxy_defaults(args[args.index("--proxy-defaults") + 1])
    assert (spec.deployment.replicas, spec.autoscaling.max_replicas, spec.service.type) == (2, 10, "NodePort")
    args = by_kind(render(), "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--proxy-defaults" not in args  # nothing set: the built-in defaults


def test_proxy_defaults_schema_is_the_crds():
    """values.schema.json's proxyDefaults is the GatewayParameters CRD's spec schema, made strict."""
    schema = json.loads((CHART / "values.schema.json").read_text())["properties"]["proxyDefaults"]
    crd = yaml.safe_load((REPO / "crds" / "inferenceextension.alibabacloud.com_gatewayparameters.yaml").read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]

    def fields(node):
        return {k: fields(v) for k, v in node.get("properties", {}).items()}
    assert fields(schema) == fields(spec)
