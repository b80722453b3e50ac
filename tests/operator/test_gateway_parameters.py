"""The data plane follows its parameters object: a GatewayClass's parametersRef names a
GatewayParameters, and each Gateway's Envoy Deployment, Service and autoscaler follow it as it
changes; an invalid reference is reported on the class and leaves the proxies as they are."""

from __future__ import annotations

import asyncio
from typing import Any

from inference_gateway.operator.api.parameters import GatewayParametersSpec
from inference_gateway.operator.translate.provisioning import ProvisioningSettings

from support.env import EXAMPLES, free_port
from support.incluster import GW, conditions, start_gateway
from support.kubeapi import Cluster, eventually

PARAMS = "inferenceextension.alibabacloud.com/v1alpha1"
NAME = "inference-gateway-envoy"
SPEC: dict[str, Any] = {
    "deployment": {
        "replicas": 3,
        "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"memory": "2Gi"}},
        "nodeSelector": {"pool": "edge", "zone": "a"},
        "tolerations": [{"key": "edge", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "arch", "operator": "In", "values": ["amd64"]}]}]}}},
    },
    "service": {"type": "NodePort", "annotations": {"lb.example.com/scheme": "internal"}},
}


async def objects(cluster: Cluster) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
    return (await cluster.get("apps/v1", "Deployment", "default", NAME) or {},
            await cluster.get("v1", "Service", "default", NAME) or {},
            await cluster.get("autoscaling/v2", "HorizontalPodAutoscaler", "default", NAME))


def pod_spec(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment.get("spec", {}).get("template", {}).get("spec", {})


async def test_envoy_deployment_follows_its_parameters(cluster: Cluster) -> None:
    await cluster.create({"apiVersion": PARAMS, "kind": "GatewayParameters",
                          "metadata": {"name": "edge-proxies", "namespace": "igw-system"}, "spec": SPEC})
    gateway_yaml = (EXAMPLES / "gateway.yaml").read_text().replace("port: 8080", f"port: {free_port()}")
    gateway_yaml = gateway_yaml.replace("  controllerName: inference.networking.x-k8s.io/gateway-controller", """\
  controllerName: inference.networking.x-k8s.io/gateway-controller
  parametersRef: {group: inferenceextension.alibabacloud.com, kind: GatewayParameters, name: edge-proxies,
                  namespace: igw-system}""")
    await cluster.apply_yaml(gateway_yaml)
    # The chart's proxyDefaults sit under the class's parameters: what the class leaves out.
    defaults = GatewayParametersSpec.model_validate({"deployment": {"podAnnotations": {"scrape": "true"}},
                                                     "service": {"externalTrafficPolicy": "Local"}})
    gateway = await start_gateway(cluster, provisioning=ProvisioningSettings(defaults=defaults))
    try:
        async def first() -> Any:
            deployment, service, _ = await objects(cluster)
            return (deployment, service) if deployment and service else None
        deployment, service = await eventually(first, what="proxy provisioned")
        pod = pod_spec(deployment)
        assert deployment["spec"]["replicas"] == 3
        assert pod["containers"][0]["resources"] == SPEC["deployment"]["resources"]
        assert (pod["nodeSelector"], pod["tolerations"], pod["affinity"]) == (
            SPEC["deployment"]["nodeSelector"], SPEC["deployment"]["tolerations"], SPEC["deployment"]["affinity"])
        assert deployment["spec"]["template"]["metadata"]["annotations"]["scrape"] == "true"  # from the defaults
        assert service["spec"]["type"] == "NodePort" and service["spec"]["externalTrafficPolicy"] == "Local"
        assert service["metadata"]["annotations"]["lb.example.com/scheme"] == "internal"

        async def class_accepted() -> bool:
            gc = await cluster.get(GW, "GatewayClass", None, "inference-gateway-class")
            return conditions(gc).get("Accepted", {}).get("status") == "True"
        await eventually(class_accepted, what="class Accepted")

        # Change it: autoscaling takes over the count, one node label and the annotation go.
        params = await cluster.get(PARAMS, "GatewayParameters", "igw-system", "edge-proxies")
        await cluster.patch(params, {"spec": {
            "deployment": {"nodeSelector": {"pool": "edge", "zone": None}, "replicas": None},
            "autoscaling": {"minReplicas": 2, "maxReplicas": 6, "targetCPUUtilizationPercentage": 70},
            "service": {"annotations": {"lb.example.com/scheme": None, "lb.example.com/idle": "300"}}}})

        async def followed() -> Any:
            deployment, service, hpa = await objects(cluster)
            return (deployment, service, hpa) if hpa and pod_spec(deployment).get("nodeSelector") == {"pool": "edge"} \
                and "lb.example.com/scheme" not in service["metadata"].get("annotations", {}) else None
        deployment, service, hpa = await eventually(followed, what="Deployment, Service and HPA updated")
        assert deployment["spec"]["replicas"] == 3  # left to the autoscaler, not reset
        assert service["metadata"]["annotations"]["lb.example.com/idle"] == "300"
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": NAME}
        assert hpa["spec"]["metrics"][0]["resource"] == {"name": "cpu", "target": {"type": "Utilization",
                                                                                   "averageUtilization": 70}}
        assert hpa["metadata"]["ownerReferences"][0]["kind"] == "Gateway"

        # An invalid reference: reported on the class; the proxies stay exactly as they are.
        gc = await cluster.get(GW, "GatewayClass", None, "inference-gateway-class")
        await cluster.patch(gc, {"spec": {"parametersRef": {"name": "no-such-params"}}})

        async def invalid() -> Any:
            gc = await cluster.get(GW, "GatewayClass", None, "inference-gateway-class")
            accepted = conditions(gc).get("Accepted", {})
            return accepted if accepted.get("reason") == "InvalidParameters" else None
        accepted = await eventually(invalid, what="InvalidParameters")
        assert accepted["status"] == "False" and "igw-system/no-such-params not found" in accepted["message"]
        before = await objects(cluster)
        await asyncio.sleep(0.7)  # a couple of reconcile passes
        assert await objects(cluster) == before

        # Fixed, and autoscaling dropped: the HPA goes and a fixed count comes back.
        await cluster.patch(gc, {"spec": {"parametersRef": {"name": "edge-proxies"}}})
        params = await cluster.get(PARAMS, "GatewayParameters", "igw-system", "edge-proxies")
        await cluster.patch(params, {"spec": {"autoscaling": None, "deployment": {"replicas": 4}}})

        async def fixed() -> Any:
            deployment, _, hpa = await objects(cluster)
            return deployment if hpa is None and deployment["spec"]["replicas"] == 4 else None
        await eventually(fixed, what="HPA removed, 4 replicas")
        await eventually(class_accepted, what="class Accepted again")
    finally:
        await gateway.stop()
