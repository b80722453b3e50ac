"""A GatewayClass's parametersRef resolved (pure), and parameters laid over the defaults."""

from __future__ import annotations

from typing import Any

import pytest

from inference_gateway.operator.api import model_for
from inference_gateway.operator.api.parameters import GatewayParametersSpec
from inference_gateway.operator.translate.objects import ObjectSet
from inference_gateway.operator.translate.parameters import class_parameters, overlay
from inference_gateway.operator.translate.provisioning import ProvisioningSettings, proxy_manifests

GROUP = "inferenceextension.alibabacloud.com"


def obj(doc: dict[str, Any]) -> Any:
    return model_for(doc).model_validate(doc)  # type: ignore[union-attr]


def gateway_class(ref: dict[str, Any] | None) -> Any:
    return obj({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass", "metadata": {"name": "c"},
                "spec": {"controllerName": "inference.networking.x-k8s.io/gateway-controller",
                         **({"parametersRef": ref} if ref else {})}})


PARAMS = obj({"apiVersion": f"{GROUP}/v1alpha1", "kind": "GatewayParameters",
              "metadata": {"name": "p", "namespace": "infra"}, "spec": {"deployment": {"replicas": 3}}})


@pytest.mark.parametrize("ref, problem", [
    (None, None),
    ({"group": GROUP, "kind": "GatewayParameters", "name": "p", "namespace": "infra"}, None),
    ({"group": "", "kind": "ConfigMap", "name": "p", "namespace": "infra"}, "not core/ConfigMap"),
    ({"group": GROUP, "kind": "GatewayParameters", "name": "p"}, "needs a namespace"),
    ({"group": GROUP, "kind": "GatewayParameters", "name": "q", "namespace": "infra"}, "infra/q not found"),
])
def test_class_parameters(ref: dict[str, Any] | None, problem: str | None) -> None:
    resolved = class_parameters(ObjectSet.of([PARAMS]), gateway_class(ref))
    if problem is None:
        assert resolved.problem is None and resolved.spec == (PARAMS.spec if ref else None)
    else:
        assert resolved.spec is None and problem in (resolved.problem or "")


def test_overlay_field_by_field() -> None:
    base = GatewayParametersSpec.model_validate({
        "deployment": {"replicas": 2, "nodeSelector": {"a": "b"}},
        "autoscaling": {"maxReplicas": 4}, "service": {"type": "NodePort", "annotations": {"x": "y"}}})
    top = GatewayParametersSpec.model_validate({"deployment": {"replicas": 5}, "service": {"type": "ClusterIP"}})
    merged = overlay(base, top)
    assert (merged.deployment.replicas, merged.deployment.node_selector) == (5, {"a": "b"})
    assert (merged.service.type, merged.service.annotations) == ("ClusterIP", {"x": "y"})
    assert merged.autoscaling is not None and merged.autoscaling.max_replicas == 4
    # a class may turn the defaults' autoscaling off explicitly
    assert overlay(base, GatewayParametersSpec.model_validate({"autoscaling": None})).autoscaling is None
    assert overlay(None, None) == GatewayParametersSpec()


def test_autoscaling_bounds_and_manifests() -> None:
    with pytest.raises(ValueError, match="below minReplicas"):
        GatewayParametersSpec.model_validate({"autoscaling": {"minReplicas": 5, "maxReplicas": 2}})
    gateway = obj({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "g"},
                   "spec": {"gatewayClassName": "c", "listeners": [{"name": "h", "protocol": "HTTP", "port": 80}]}})
    kinds = [m["kind"] for m in proxy_manifests(gateway, ProvisioningSettings())]
    assert kinds == ["ConfigMap", "Deployment", "Service"]
    spec = GatewayParametersSpec.model_validate({"autoscaling": {"maxReplicas": 3,
                                                                 "targetMemoryUtilizationPercentage": 60}})
    manifests = {m["kind"]: m for m in proxy_manifests(gateway, ProvisioningSettings(), spec)}
    assert "replicas" not in manifests["Deployment"]["spec"]  # the autoscaler owns the count
    assert [m["resource"]["name"] for m in manifests["HorizontalPodAutoscaler"]["spec"]["metrics"]] == ["memory"]
