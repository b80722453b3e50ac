"""Attachment is decided once, and every output agrees with it (issue 10's bug: a parentRef
whose port matched no listener was reported NoMatchingParent yet still carried traffic)."""

from __future__ import annotations

from pathlib import Path

from inference_gateway.operator.manifests import load_paths
from inference_gateway.operator.translate import TranslateSettings, translate

CASE = Path(__file__).parent / "testdata" / "attachment-port-mismatch.in.yaml"


def _routes(translation) -> list[str]:
    return [r["name"] for res in translation.envoy.values() for li in res.listeners
            for fc in li["filter_chains"] for f in fc["filters"]
            for vh in f["typed_config"].get("route_config", {}).get("virtual_hosts", [])
            for r in vh["routes"]]


def test_a_parent_ref_matching_no_listener_carries_no_traffic():
    objects, _ = load_paths([CASE])
    translation = translate(objects, TranslateSettings(shared_proxy=True))
    routes = _routes(translation)
    assert any(name.startswith("default/right-port/") for name in routes)
    assert not any(name.startswith(("default/wrong-port/", "default/port-and-section/")) for name in routes)
    for name in ("wrong-port", "port-and-section"):
        parents = translation.statuses[("HTTPRoute", "default", name)]["parents"]
        assert [c["reason"] for c in parents[0]["conditions"] if c["type"] == "Accepted"] == ["NoMatchingParent"]
        assert any(p.name == name and p.field == "spec.parentRefs[0]" for p in translation.problems)
    listener = translation.statuses[("Gateway", "default", "gw")]["listeners"][0]
    assert listener["attachedRoutes"] == 1
    # Only the attached route's pool is served by Envoy.
    clusters = [c["name"] for res in translation.envoy.values() for c in res.clusters]
    assert "igw-pool/default/pool" in clusters and "igw-pool/default/other-pool" not in clusters
