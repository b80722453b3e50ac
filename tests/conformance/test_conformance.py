"""The Gateway API Inference Extension's conformance tests (v1.6.0), as our own tests: each
test is named after the upstream one and asserts what it asserts, against one shared `igw run`
gateway with simulated pods (see harness.py), for the v1 API and again for v1alpha2.

The objects come from our own scenarios (scenarios.py); `IGW_CONFORMANCE_MANIFESTS=DIR` runs
upstream's manifests from a checkout's `conformance/` directory instead (harness.py).

Request counts are scaled down from upstream's (100–200 per case) to keep the suite short;
the assertions are the same.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest
import pytest_asyncio

from conformance.harness import Conformance
from conformance.scenarios import (PRIMARY_APP, PRIMARY_GW, PRIMARY_POOL, SECONDARY_APP, SECONDARY_GW,
                                   SECONDARY_POOL)

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.envoy]

BODY = '{"model": "conformance-fake-model", "prompt": "Write as if you were a critic: San Francisco"}'
SELECT = "test-epp-endpoint-selection"
# Collected for v1 alone (not collected-and-skipped for v1alpha2): the v1alpha2 API cannot
# express what these tests exercise.
V1_ONLY = pytest.mark.parametrize("suite", ["v1"], indirect=True)
SERVED = "x-conformance-test-served-endpoint"


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["v1", "v1alpha2"])
async def suite(request, tmp_path_factory) -> Conformance:
    env = Conformance(Path(tmp_path_factory.mktemp(f"conformance-{request.param}")), request.param)
    await env.start()
    yield env
    await env.stop()


def condition(parent: dict | None, type_: str) -> dict | None:
    if parent is None:
        return None
    return next((c for c in parent["conditions"] if c["type"] == type_), None)


def accepted_by(suite: Conformance, pool: str, gateway: str) -> bool:
    cond = condition(suite.pool_parent(pool, gateway), "Accepted")
    return cond is not None and cond["status"] == "True"


def route_ok(suite: Conformance, route: str, gateway: str) -> None:
    assert suite.route_condition(route, gateway, "Accepted")["status"] == "True"
    assert suite.route_condition(route, gateway, "ResolvedRefs")["status"] == "True"


async def only_reaches(suite: Conformance, gateway: str, path: str, host: str, selection: str,
                       pods: set[str], requests: int = 20, ports: dict[str, set[str]] | None = None) -> set[str]:
    """Upstream's assertTrafficOnlyReachesToExpectedPods: every answer from an allowed pod."""
    async def one() -> str:
        status, _, body = await suite.request(gateway, path, host=host, method="POST", body=BODY,
                                              headers={SELECT: selection})
        assert status == 200, body
        assert body["pod"] in pods, f"{body['pod']} not in {pods}"
        if ports is not None:
            allowed = ports[body["pod"]]
            assert not allowed or body["httpPort"] in allowed, (body["pod"], body["httpPort"], allowed)
        return body["pod"]
    seen = set()
    for batch in range(0, requests, 5):
        seen |= set(await asyncio.gather(*(one() for _ in range(min(5, requests - batch)))))
    return seen


async def test_InferencePoolAccepted(suite: Conformance) -> None:
    await suite.apply("inferencepool_accepted.yaml")
    try:
        assert accepted_by(suite, PRIMARY_POOL, PRIMARY_GW)
    finally:
        await suite.delete("inferencepool_accepted.yaml")


async def test_InferencePoolResolvedRefsCondition(suite: Conformance) -> None:
    name = "inferencepool_resolvedrefs_condition.yaml"
    await suite.apply(name)
    try:
        route_ok(suite, "httproute-for-primary-gw", PRIMARY_GW)
        route_ok(suite, "httproute-for-secondary-gw", SECONDARY_GW)
        assert accepted_by(suite, PRIMARY_POOL, PRIMARY_GW) and accepted_by(suite, PRIMARY_POOL, SECONDARY_GW)
        _, _, body = await suite.eventually(PRIMARY_GW, "/primary-gateway-test", host="primary.example.com")
        assert body["pod"].startswith(PRIMARY_APP)
        _, _, body = await suite.eventually(SECONDARY_GW, "/secondary-gateway-test", host="secondary.example.com")
        assert body["pod"].startswith(PRIMARY_APP)

        await suite.delete_objects(name, "HTTPRoute", "httproute-for-primary-gw")
        assert accepted_by(suite, PRIMARY_POOL, SECONDARY_GW)
        await suite.eventually(SECONDARY_GW, "/secondary-gateway-test", host="secondary.example.com")
        await suite.eventually(PRIMARY_GW, "/primary-gateway-test", want=404, host="primary.example.com")

        await suite.delete_objects(name, "HTTPRoute", "httproute-for-secondary-gw")
        assert suite.pool_parents(PRIMARY_POOL) == [], [(p["parentRef"]["name"], p.get("controllerName"), [c["reason"] for c in p["conditions"]]) for p in suite.pool_parents(PRIMARY_POOL)]
        await suite.eventually(SECONDARY_GW, "/secondary-gateway-test", want=404, host="secondary.example.com")
    finally:
        await suite.delete(name)


async def test_InferencePoolInvalidEPPService(suite: Conformance) -> None:
    await suite.apply("inferencepool_invalid_epp_service.yaml")
    try:
        cond = suite.route_condition("httproute-for-invalid-epp-pool", PRIMARY_GW, "Accepted")
        assert (cond["status"], cond["reason"]) == ("True", "Accepted")
        resolved = condition(suite.pool_parent("pool-with-invalid-epp", PRIMARY_GW), "ResolvedRefs")
        assert resolved["status"] == "False" and resolved["reason"] == "InvalidExtensionRef"
        status, _, _ = await suite.eventually(PRIMARY_GW, "/invalid-epp-test", want=(500, 501, 502, 503, 504))
        assert status >= 500
    finally:
        await suite.delete("inferencepool_invalid_epp_service.yaml")


# v1 only: v1alpha2 pools always name their extension (upstream made it optional in v1 only).
@V1_ONLY
async def test_InferencePoolMissingEPPRef(suite: Conformance) -> None:
    await suite.apply("inferencepool_missing_epp_ref.yaml")
    try:
        cond = suite.route_condition("httproute-for-missing-epp-ref-pool", PRIMARY_GW, "Accepted")
        assert (cond["status"], cond["reason"]) == ("True", "Accepted")
        accepted = condition(suite.pool_parent("pool-with-missing-epp-ref", PRIMARY_GW), "Accepted")
        assert accepted["status"] == "True" or accepted["reason"] == "EndpointPickerRefMissing"
        # Ours serves it: our own router is the picker of a pool that names none.
        _, _, body = await suite.eventually(PRIMARY_GW, "/missing-epp-ref-test")
        assert body["pod"].startswith(PRIMARY_APP)
    finally:
        await suite.delete("inferencepool_missing_epp_ref.yaml")


async def test_GatewayFollowingEPPRouting(suite: Conformance) -> None:
    await suite.apply("gateway_following_epp_routing.yaml")
    try:
        route_ok(suite, "httproute-for-primary-gw", PRIMARY_GW)
        assert accepted_by(suite, PRIMARY_POOL, PRIMARY_GW)
        pods = suite.pods_of(PRIMARY_APP)
        assert len(pods) == 3
        for pod in pods:
            _, _, body = await suite.eventually(PRIMARY_GW, "/primary-gateway-test", host="primary.example.com",
                                                method="POST", body=BODY, headers={SELECT: pod.ip})
            assert body["pod"] == pod.name
        for chosen in ([pods[2]], [pods[0], pods[1]], pods):
            seen = await only_reaches(suite, PRIMARY_GW, "/primary-gateway-test", "primary.example.com",
                                      ",".join(p.ip for p in chosen), {p.name for p in chosen})
            assert seen <= {p.name for p in chosen}
    finally:
        await suite.delete("gateway_following_epp_routing.yaml")


# v1 only: v1alpha2 pools have one targetPortNumber: no data-parallel ranks.
@V1_ONLY
async def test_GatewayFollowingEPPRoutingWithDataParallelism(suite: Conformance) -> None:
    await suite.apply("gateway_following_epp_routing_dp.yaml")
    try:
        route_ok(suite, "httproute-for-primary-gw-dp", PRIMARY_GW)
        assert accepted_by(suite, "dp-inference-pool", PRIMARY_GW)
        pods = suite.pods_of("dp-inference-model-server")
        assert len(pods) == 3
        path, host = "/primary-gateway-dp-test", "primary.example.com"
        for pod in pods:
            _, _, body = await suite.eventually(PRIMARY_GW, path, host=host, method="POST", body=BODY,
                                                headers={SELECT: pod.ip})
            assert body["pod"] == pod.name
        cases = [
            {pods[1]: set()},
            {pods[0]: set(), pods[2]: {"3002"}},
            {pods[0]: set(), pods[1]: {"3000", "3004"}, pods[2]: set()},
        ]
        for case in cases:
            selection = ",".join(p.ip if not ports else ",".join(f"{p.ip}:{x}" for x in sorted(ports))
                                 for p, ports in sorted(case.items(), key=lambda kv: kv[0].ip))
            await only_reaches(suite, PRIMARY_GW, path, host, selection, {p.name for p in case},
                               ports={p.name: ports or {"3000", "3002", "3004"} for p, ports in case.items()})
    finally:
        await suite.delete("gateway_following_epp_routing_dp.yaml")


async def test_GatewayDestinationEndpointServed(suite: Conformance) -> None:
    await suite.apply("gateway_destination_endpoint_served.yaml")
    try:
        route_ok(suite, "httproute-for-destination-endpoint-served", PRIMARY_GW)
        for pod in suite.pods_of(PRIMARY_APP):
            _, headers, body = await suite.eventually(
                PRIMARY_GW, "/destination-endpoint-served-test", host="primary.example.com", method="POST",
                body=BODY, headers={SELECT: pod.ip})
            assert body["pod"] == pod.name
            assert headers.get(SERVED) == f"{pod.ip}:3000"
    finally:
        await suite.delete("gateway_destination_endpoint_served.yaml")


async def test_EppUnAvailableFailOpen(suite: Conformance) -> None:
    await suite.apply("epp_unavailable_fail_open.yaml")
    try:
        route_ok(suite, "httproute-for-failopen-pool-gw", SECONDARY_GW)
        assert accepted_by(suite, SECONDARY_POOL, SECONDARY_GW)
        target = suite.pods_of(SECONDARY_APP)[0]
        kw = dict(host="secondary.example.com", method="POST", body=BODY, headers={SELECT: target.ip})
        _, _, body = await suite.eventually(SECONDARY_GW, "/failopen-pool-test", **kw)
        assert body["pod"] == target.name

        # Upstream's MakeServiceUnavailable: the picker Service selects no pod any more. (Upstream
        # names the primary picker here; the route's pool is the secondary one, whose picker we
        # take away, so that fail-open is what answers.)
        def unavailable(docs: list[dict]) -> None:
            pool = next(d for d in docs if d.get("kind") == "InferencePool" and d["metadata"]["name"] == SECONDARY_POOL)
            ref = pool["spec"].get("endpointPickerRef") or pool["spec"]["extensionRef"]  # v1 or v1alpha2
            service = next(d for d in docs if d.get("kind") == "Service" and d["metadata"]["name"] == ref["name"])
            service["spec"]["selector"] = {"app": "no-such-picker"}
        await suite.edit_base(unavailable)
        try:
            pods = set()
            for _ in range(6):
                _, _, body = await suite.eventually(SECONDARY_GW, "/failopen-pool-test", **kw)
                assert body["pod"].startswith(SECONDARY_APP)
                pods.add(body["pod"])
            assert len(pods) > 1, "without its picker the pool is served round robin, not by the selection"
        finally:
            await suite.restore_base()
    finally:
        await suite.delete("epp_unavailable_fail_open.yaml")


async def test_GatewayWeightedAcrossTwoInferencePools(suite: Conformance) -> None:
    await suite.apply("gateway_weighted_two_pools.yaml")
    try:
        route_ok(suite, "httproute-weighted-two-pools", PRIMARY_GW)
        assert accepted_by(suite, PRIMARY_POOL, PRIMARY_GW) and accepted_by(suite, SECONDARY_POOL, PRIMARY_GW)
        primary = {p.name for p in suite.pods_of(PRIMARY_APP)}
        secondary = {p.name for p in suite.pods_of(SECONDARY_APP)}
        everyone = ",".join(p.ip for p in suite.pods_of(PRIMARY_APP) + suite.pods_of(SECONDARY_APP))
        await suite.eventually(PRIMARY_GW, "/weighted-two-pools-test", host="primary.example.com", method="POST",
                               body=BODY, headers={SELECT: everyone})
        total, hits = 200, {"primary": 0, "secondary": 0}

        async def one() -> None:
            status, _, body = await suite.request(PRIMARY_GW, "/weighted-two-pools-test", host="primary.example.com",
                                                  method="POST", body=BODY, headers={SELECT: everyone})
            assert status == 200, body
            assert body["pod"] in primary | secondary
            hits["primary" if body["pod"] in primary else "secondary"] += 1
        for _ in range(0, total, 10):
            await asyncio.gather(*(one() for _ in range(10)))
        observed = hits["primary"] / total
        # Upstream's bound: max(0.10, 4.5 sigma) around 0.7 (±0.146 at 200 requests).
        assert abs(observed - 0.7) <= max(0.10, 4.5 * math.sqrt(0.7 * 0.3 / total)), hits
    finally:
        await suite.delete("gateway_weighted_two_pools.yaml")


async def test_HTTPRouteInvalidInferencePoolRef(suite: Conformance) -> None:
    await suite.apply("httproute_invalid_inferencepool_ref.yaml")
    try:
        cond = suite.route_condition("httproute-to-non-existent-pool", PRIMARY_GW, "Accepted")
        assert (cond["status"], cond["reason"]) == ("True", "Accepted")
        cond = suite.route_condition("httproute-to-non-existent-pool", PRIMARY_GW, "ResolvedRefs")
        assert (cond["status"], cond["reason"]) == ("False", "BackendNotFound")
    finally:
        await suite.delete("httproute_invalid_inferencepool_ref.yaml")


async def test_HTTPRouteMultipleGatewaysDifferentPools(suite: Conformance) -> None:
    await suite.apply("httproute_multiple_gateways_different_pools.yaml")
    try:
        for route, gateway, pool, path, host, app in (
                ("route-for-primary-gateway", PRIMARY_GW, PRIMARY_POOL, "/test-primary-gateway",
                 "primary.example.com", PRIMARY_APP),
                ("route-for-secondary-gateway", SECONDARY_GW, SECONDARY_POOL, "/test-secondary-gateway",
                 "secondary.example.com", SECONDARY_APP)):
            assert suite.route_condition(route, gateway, "Accepted")["status"] == "True"
            assert accepted_by(suite, pool, gateway)
            _, _, body = await suite.eventually(gateway, path, host=host)
            assert body["pod"].startswith(app)
    finally:
        await suite.delete("httproute_multiple_gateways_different_pools.yaml")


async def test_InferencePoolHTTPRoutePortValidation(suite: Conformance) -> None:
    await suite.apply("inferencepool_httproute_port_validation.yaml")
    try:
        for route, host, path in (
                ("httproute-pool-port-unspecified", "port-unspecified.example.com", "/test-port-unspecified"),
                ("httproute-pool-port-matching", "port-matching.example.com", "/test-port-matching"),
                # The port of a backendRef to an InferencePool is ignored (upstream's scenario 3).
                ("httproute-pool-port-non-matching", "port-non-matching.example.com", "/test-port-non-matching")):
            route_ok(suite, route, PRIMARY_GW)
            assert accepted_by(suite, PRIMARY_POOL, PRIMARY_GW)
            _, _, body = await suite.eventually(PRIMARY_GW, path, host=host)
            assert body["pod"].startswith(PRIMARY_APP)
    finally:
        await suite.delete("inferencepool_httproute_port_validation.yaml")


async def test_HTTPRouteMultipleRulesDifferentPools(suite: Conformance) -> None:
    await suite.apply("inferencepool_multiple_rules_different_pools.yaml")
    try:
        for pool in (PRIMARY_POOL, SECONDARY_POOL):
            assert accepted_by(suite, pool, PRIMARY_GW)
        _, _, body = await suite.eventually(PRIMARY_GW, "/primary")
        assert body["pod"].startswith(PRIMARY_APP)
        _, _, body = await suite.eventually(PRIMARY_GW, "/secondary")
        assert body["pod"].startswith(SECONDARY_APP)
    finally:
        await suite.delete("inferencepool_multiple_rules_different_pools.yaml")


# v1 only: appProtocol is a v1 field.
@V1_ONLY
async def test_InferencePoolAppProtocol(suite: Conformance) -> None:
    await suite.apply("inferencepool_appprotocol.yaml")
    try:
        cases = (
            # (route, host, path, target port, pool, app): port 3001 speaks h2c only.
            ("httproute-for-inferencepool-appprotocol-h2c", "appprotocol-h2c.example.com",
             "/inferencepool-app-protocol-h2c", "3001", "appprotocol-h2c-inference-pool", "appprotocol-inference-model-server"),
            ("httproute-for-inferencepool-appprotocol-http", "appprotocol-http.example.com",
             "/inferencepool-app-protocol-http", "3000", "appprotocol-http-inference-pool", "appprotocol-inference-model-server"),
            ("httproute-for-inferencepool-appprotocol-default", "appprotocol-default.example.com",
             "/inferencepool-app-protocol-default", "3000", PRIMARY_POOL, PRIMARY_APP),
        )
        for route, host, path, port, pool, app in cases:
            route_ok(suite, route, PRIMARY_GW)
            assert accepted_by(suite, pool, PRIMARY_GW)
            for pod in suite.pods_of(app):
                selected = f"{pod.ip}:{port}"
                _, headers, body = await suite.eventually(PRIMARY_GW, path, host=host, method="POST", body=BODY,
                                                          headers={SELECT: selected})
                assert body["pod"] == pod.name and body["httpPort"] == port
                assert headers.get(SERVED) == selected
    finally:
        await suite.delete("inferencepool_appprotocol.yaml")
