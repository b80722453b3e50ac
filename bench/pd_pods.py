"""Prefill/decode pools for the benchmark: N/2 SGLang prefill pods and N/2 decode pods, and what
each router needs to know of them (our InferenceTrafficPolicy; sglang-router's PD mode flags).

The pods get their own loopback addresses (127.2.0.x), so their bootstrap ports (34000, as in
the seed) never meet another fleet's.
"""

from __future__ import annotations

from typing import Any

from inference_gateway.operator.ports import free_port
from inference_gateway.cli.sim_fleet import SimFleet, SimPod

from .workloads import MODEL

ROLE = "rolebasedgroup.workloads.x-k8s.io/role"
BOOTSTRAP_PORT = 34000
PD_LABELS = {"app": "bench-sglang"}


def role_of(pod: SimPod) -> str | None:
    return pod.labels.get(ROLE)


class PdPods:
    """The `Pods` interface (start, stop, pods, pids) over a prefill fleet and a decode fleet."""

    def __init__(self, count: int, profile: str, time_scale: float, model_names: list[str]) -> None:
        half = max(1, count // 2)
        port = free_port("127.2.0.1")
        common = ["--profile", profile, "--time-scale", str(time_scale), "--served-model-name", *model_names]
        self.prefill = SimFleet(half, {**PD_LABELS, ROLE: "prefill"}, "bench-prefill", "sglang", MODEL, first_ip=1,
                                port=port, extra_args=["--role", "prefill", "--bootstrap-port", str(BOOTSTRAP_PORT),
                                                       *common])
        self.decode = SimFleet(half, {**PD_LABELS, ROLE: "decode"}, "bench-decode", "sglang", MODEL, first_ip=1 + half,
                               port=port, extra_args=["--role", "decode", *common])
        for fleet in (self.prefill, self.decode):
            fleet.pods = [SimPod(p.name, p.ip.replace("127.0.0.", "127.2.0."), p.port, p.labels) for p in fleet.pods]

    @property
    def pods(self) -> list[SimPod]:
        return self.prefill.pods + self.decode.pods

    def pids(self) -> list[int]:
        return [p.process.pid for p in self.pods if p.process is not None]

    async def start(self) -> None:
        await self.prefill.start(timeout=60)
        try:
            await self.decode.start(timeout=60)
        except BaseException:
            await self.prefill.stop()
            raise

    async def stop(self) -> None:
        await self.decode.stop()
        await self.prefill.stop()


def pd_policy(pool_name: str, strategy: str | None) -> dict[str, Any]:
    """Our InferenceTrafficPolicy for the pool: both roles by prefix cache (the seed's PD example),
    or both load-aware for the default strategy."""
    ref = "prefixCache" if strategy else "loadAware"
    policy = {"prefixCache": {"mode": "estimate"}} if strategy else {"loadAware": {}}
    return {"apiVersion": "inferenceextension.alibabacloud.com/v1alpha1", "kind": "InferenceTrafficPolicy",
            "metadata": {"name": "bench-policy"},
            "spec": {"poolRef": {"name": pool_name}, "modelServerRuntime": "sglang",
                     "profile": {"pd": {"trafficPolicy": policy, "prefillPolicyRef": ref, "decodePolicyRef": ref,
                                        "pdRoleLabelName": ROLE, "kvTransfer": {"bootstrapPort": BOOTSTRAP_PORT}}}}}


def sglang_pd_args(pods: list[SimPod]) -> list[str]:
    """sglang-router 0.3.2's PD mode: each prefill URL with its bootstrap port, then the decodes."""
    args = ["--pd-disaggregation"]
    for p in pods:
        if role_of(p) == "prefill":
            args += ["--prefill", f"http://{p.address}", str(BOOTSTRAP_PORT)]
    for p in pods:
        if role_of(p) == "decode":
            args += ["--decode", f"http://{p.address}"]
    return args
