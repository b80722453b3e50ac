"""The PD cell's pure parts: which flags sglang-router gets, which policy our gateway gets."""

from __future__ import annotations

from inference_gateway.bench.pd_pods import BOOTSTRAP_PORT, ROLE, pd_policy, sglang_pd_args
from inference_gateway.bench.routers import gateway_manifests
from inference_gateway.cli.sim_fleet import SimPod


def pods() -> list[SimPod]:
    return [SimPod(f"p{i}", f"127.2.0.{i + 1}", 9000, {"app": "bench-sglang", ROLE: role})
            for i, role in enumerate(["prefill", "prefill", "decode", "decode"])]


def test_sglang_router_gets_each_prefill_with_its_bootstrap_port_then_the_decodes():
    assert sglang_pd_args(pods()) == [
        "--pd-disaggregation",
        "--prefill", "http://127.2.0.1:9000", str(BOOTSTRAP_PORT), "--prefill", "http://127.2.0.2:9000", str(BOOTSTRAP_PORT),
        "--decode", "http://127.2.0.3:9000", "--decode", "http://127.2.0.4:9000"]


def test_our_gateway_gets_a_pd_policy_over_one_pool_of_both_roles():
    docs = gateway_manifests(pods(), 8080, "PREFIX_CACHE", {"m": "Critical"})
    pool, policy = docs[0], docs[1]
    assert pool["spec"]["selector"] == {"app": "bench-sglang"} and "annotations" not in pool["metadata"]
    pd = policy["spec"]["profile"]["pd"]
    assert policy["kind"] == "InferenceTrafficPolicy" and policy["spec"]["modelServerRuntime"] == "sglang"
    assert (pd["prefillPolicyRef"], pd["pdRoleLabelName"], pd["kvTransfer"]["bootstrapPort"]) == (
        "prefixCache", ROLE, BOOTSTRAP_PORT)
    assert pd_policy("x", None)["spec"]["profile"]["pd"]["trafficPolicy"] == {"loadAware": {}}
