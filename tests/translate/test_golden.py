"""Translation as data (Envoy Gateway's shape): testdata/NAME.in.yaml (objects) → NAME.out.yaml
holding every output of `translate()` together: the routing table, the Envoy resources per
proxy, the statuses (as written), the problems and the notes. A change to any output shows in
review. Regenerate with IGW_UPDATE_GOLDEN=1 and read the diff as behaviour.

An optional `kind: TestInput` document sets what is not an object: `inCluster: true` (one
Envoy per Gateway, configured as in a cluster; default: one Envoy for all, as `igw run
--manifests`), `proxies` (each Gateway's Envoy as the operator sees it) and `current` (the
statuses the objects have now, against which `lastTransitionTime` is stamped).

testdata/provisioning/NAME.in.yaml (a Gateway) → NAME.out.yaml: its Envoy's ConfigMap,
Deployment and Service.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from inference_gateway.operator.api import model_for
from inference_gateway.operator.envoy_process import envoy_binary
from inference_gateway.operator.kube.operator import ClusterSettings
from inference_gateway.operator.manifests import load_documents
from inference_gateway.operator.translate import TranslateSettings, Translation, translate
from inference_gateway.operator.translate.bootstrap import static_bootstrap
from inference_gateway.operator.translate.envoy import EnvoySettings
from inference_gateway.operator.translate.provisioning import ProvisioningSettings, proxy_manifests, service_addresses
from inference_gateway.operator.translate.stamping import ProxyState, changed, stamp_statuses

TESTDATA = Path(__file__).parent / "testdata"
NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)
UPDATE = os.environ.get("IGW_UPDATE_GOLDEN") == "1"
CASES = sorted(p.name.removesuffix(".in.yaml") for p in TESTDATA.glob("*.in.yaml"))
PROVISIONING = sorted(p.name.removesuffix(".in.yaml") for p in (TESTDATA / "provisioning").glob("*.in.yaml"))


def plain(value: Any) -> Any:
    """Dataclasses/enums/mappings → YAML-friendly data."""
    if dataclasses.is_dataclass(value):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def check_golden(out: Path, actual: Any) -> None:
    text = yaml.safe_dump(actual, sort_keys=False, width=120, allow_unicode=True)
    if UPDATE:
        out.write_text(text)
    assert out.exists(), f"no golden output {out.name}; run with IGW_UPDATE_GOLDEN=1 and review it"
    assert yaml.safe_load(out.read_text()) == actual, f"{out.name} differs; IGW_UPDATE_GOLDEN=1 to regenerate"


def _key(text: str) -> tuple[str, str, str]:
    kind, namespace, name = text.split("/")
    return (kind, namespace, name)


def run_case(case: str) -> tuple[Translation, dict[str, Any], TranslateSettings]:
    path = TESTDATA / f"{case}.in.yaml"
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    inputs = next((d for d in docs if d.get("kind") == "TestInput"), {})
    objects, problems = load_documents(yaml.safe_dump_all([d for d in docs if d.get("kind") != "TestInput"]), path.name)
    assert not problems, [str(p) for p in problems]
    in_cluster = bool(inputs.get("inCluster"))
    settings = TranslateSettings(envoy=ClusterSettings().envoy if in_cluster else EnvoySettings(),
                                 shared_proxy=not in_cluster, version=1)
    translation = translate(objects, settings)
    proxies = {k: ProxyState(provisioned=v.get("provisioned", False), ready_replicas=v.get("readyReplicas", 0),
                             addresses=tuple(tuple(a) for a in v.get("addresses", [])),
                             rejections=tuple(v.get("rejections", [])))
               for k, v in (inputs.get("proxies") or {}).items()}
    current = {_key(k): v for k, v in (inputs.get("current") or {}).items()}
    statuses = stamp_statuses(translation.statuses, translation.gateways, current, proxies, NOW, settings.controller)
    # Computing again from what was written changes nothing: no write storms.
    written = {**current, **statuses}
    again = stamp_statuses(translation.statuses, translation.gateways, written, proxies, NOW, settings.controller)
    assert changed(again, written) == {}
    return translation, {
        "routingTable": plain(translation.table),
        "envoy": {group or "(shared)": plain(res.by_type()) for group, res in translation.envoy.items()},
        "statuses": {"/".join(k): v for k, v in sorted(statuses.items())},
        "changedStatuses": sorted("/".join(k) for k in changed(statuses, current)),
        "problems": [str(p) for p in translation.problems],
        "notes": list(translation.notes),
    }, settings


@pytest.mark.parametrize("case", CASES)
def test_translation_matches_golden(case: str) -> None:
    _, outputs, _ = run_case(case)
    check_golden(TESTDATA / f"{case}.out.yaml", outputs)


@pytest.mark.envoy
@pytest.mark.parametrize("case", CASES)
def test_envoy_accepts_translation(case: str, tmp_path: Path) -> None:
    """The real Envoy validates what we generate for every proxy, semantic errors included."""
    translation, _, settings = run_case(case)
    for group, resources in translation.envoy.items():
        path = tmp_path / "envoy.json"
        path.write_text(json.dumps(static_bootstrap(resources, admin_port=0, settings=settings.envoy)))
        result = subprocess.run([envoy_binary(), "--mode", "validate", "-c", str(path)], capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, f"proxy {group or '(shared)'}: {result.stdout + result.stderr}"


@pytest.mark.parametrize("case", PROVISIONING)
def test_provisioning(case: str) -> None:
    doc = yaml.safe_load((TESTDATA / "provisioning" / f"{case}.in.yaml").read_text())
    gateway = model_for(doc).model_validate(doc)
    manifests = proxy_manifests(gateway, ProvisioningSettings(
        xds_address=("inference-gateway-ext-proc.envoy-gateway-system.svc.cluster.local", 18000)))
    assert [m["kind"] for m in manifests] == ["ConfigMap", "Deployment", "Service"]
    for m in manifests:
        ref = m["metadata"]["ownerReferences"][0]
        assert (ref["kind"], ref["uid"], ref["controller"]) == ("Gateway", gateway.metadata.uid, True)
        assert m["metadata"]["namespace"] == gateway.metadata.namespace
    check_golden(TESTDATA / "provisioning" / f"{case}.out.yaml", manifests)


def test_service_addresses() -> None:
    assert service_addresses(None) == []
    svc = {"spec": {"clusterIP": "10.96.0.5"}}
    assert service_addresses(svc) == [{"type": "IPAddress", "value": "10.96.0.5"}]
    svc["status"] = {"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}, {"ip": "203.0.113.9"}]}}
    assert service_addresses(svc) == [{"type": "Hostname", "value": "lb.example.com"},
                                      {"type": "IPAddress", "value": "203.0.113.9"}]
    assert service_addresses({"spec": {"clusterIP": "None"}}) == []
