"""Golden pairs for the pure translations of the operator: testdata/KIND/NAME.in.yaml →
NAME.out.yaml. Regenerate with IGW_UPDATE_GOLDEN=1 and read the diff: it is the behaviour."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from inference_gateway.operator.api import model_for
from inference_gateway.operator.translate.objects import ObjectSet
from inference_gateway.operator.translate.provisioning import ProvisioningSettings, proxy_manifests, service_addresses
from inference_gateway.operator.translate.status import ProxyState, changed, desired_statuses

TESTDATA = Path(__file__).parent / "testdata"
NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)
UPDATE = os.environ.get("IGW_UPDATE_GOLDEN") == "1"


def cases(kind: str) -> list[Path]:
    return sorted((TESTDATA / kind).glob("*.in.yaml"))


def check_golden(case: Path, actual: Any) -> None:
    out = case.with_name(case.name.replace(".in.yaml", ".out.yaml"))
    text = yaml.safe_dump(actual, sort_keys=False, width=120, allow_unicode=True)
    if UPDATE or not out.exists():
        out.write_text(text)
        if not UPDATE:
            pytest.fail(f"{out.name} did not exist; written, review it")
    assert yaml.safe_load(out.read_text()) == actual, f"{out.name} differs; IGW_UPDATE_GOLDEN=1 to regenerate"


def _parse_key(text: str) -> tuple[str, str, str]:
    kind, namespace, name = text.split("/")
    return (kind, namespace, name)


@pytest.mark.parametrize("case", cases("status"), ids=lambda p: p.name.removesuffix(".in.yaml"))
def test_status(case: Path) -> None:
    docs = [d for d in yaml.safe_load_all(case.read_text()) if d]
    inputs = next((d for d in docs if d.get("kind") == "TestInput"), {})
    objects = ObjectSet.of(model_for(d).model_validate(d) for d in docs if d.get("kind") != "TestInput")
    proxies = {k: ProxyState(provisioned=v.get("provisioned", False), ready_replicas=v.get("readyReplicas", 0),
                             addresses=tuple(tuple(a) for a in v.get("addresses", [])),
                             rejections=tuple(v.get("rejections", [])))
               for k, v in (inputs.get("proxies") or {}).items()}
    current = {_parse_key(k): v for k, v in (inputs.get("current") or {}).items()}
    desired = desired_statuses(objects, current, proxies, NOW)
    # Computing again from what was written changes nothing: no write storms.
    assert changed(desired_statuses(objects, {**current, **desired}, proxies, NOW), {**current, **desired}) == {}
    check_golden(case, {"/".join(k): v for k, v in sorted(desired.items())}
                 | {"changed": sorted("/".join(k) for k in changed(desired, current))})


@pytest.mark.parametrize("case", cases("provisioning"), ids=lambda p: p.name.removesuffix(".in.yaml"))
def test_provisioning(case: Path) -> None:
    gateway = model_for(yaml.safe_load(case.read_text())).model_validate(yaml.safe_load(case.read_text()))
    manifests = proxy_manifests(gateway, ProvisioningSettings(
        xds_address=("inference-gateway-ext-proc.envoy-gateway-system.svc.cluster.local", 18000)))
    assert [m["kind"] for m in manifests] == ["ConfigMap", "Deployment", "Service"]
    for m in manifests:
        ref = m["metadata"]["ownerReferences"][0]
        assert (ref["kind"], ref["uid"], ref["controller"]) == ("Gateway", gateway.metadata.uid, True)
        assert m["metadata"]["namespace"] == gateway.metadata.namespace
    check_golden(case, manifests)


def test_service_addresses() -> None:
    assert service_addresses(None) == []
    svc = {"spec": {"clusterIP": "10.96.0.5"}}
    assert service_addresses(svc) == [{"type": "IPAddress", "value": "10.96.0.5"}]
    svc["status"] = {"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}, {"ip": "203.0.113.9"}]}}
    assert service_addresses(svc) == [{"type": "Hostname", "value": "lb.example.com"},
                                      {"type": "IPAddress", "value": "203.0.113.9"}]
    assert service_addresses({"spec": {"clusterIP": "None"}}) == []
