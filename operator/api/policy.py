"""InferenceTrafficPolicy, `inferenceextension.alibabacloud.com/v1alpha1` (our design around the
seed's fields; crds/ documents each one)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import KubeObject, StrictModel

POLICY_GROUP = "inferenceextension.alibabacloud.com"


class PrefixCachePolicy(StrictModel):
    mode: Literal["estimate", "precise"] = "estimate"
    kv_events_port: int = Field(default=5557, ge=1, le=65535)  # precise: vLLM's default endpoint port


class LoadAwarePolicy(StrictModel):
    pass


class TrafficPolicy(StrictModel):
    prefix_cache: PrefixCachePolicy | None = None
    load_aware: LoadAwarePolicy | None = None


PolicyRef = Literal["default", "prefixCache", "loadAware"]


class KVTransfer(StrictModel):
    bootstrap_port: int = Field(default=8998, ge=1, le=65535)  # SGLang's default bootstrap port


class PDProfile(StrictModel):
    pd_role_label_name: str = Field(min_length=1, max_length=316)  # prefix/ (253) + name (63)
    prefill_role_value: str = Field(default="prefill", max_length=63)
    decode_role_value: str = Field(default="decode", max_length=63)
    kv_transfer: KVTransfer | None = None
    traffic_policy: TrafficPolicy | None = None
    prefill_policy_ref: PolicyRef = "default"
    decode_policy_ref: PolicyRef = "default"

    @model_validator(mode="after")
    def _refs_name_policies(self) -> "PDProfile":
        """A ref must name an entry of trafficPolicy (or be default): a dangling ref is refused
        with the field named, and the last good routing stays in place."""
        for field_name in ("prefill_policy_ref", "decode_policy_ref"):
            ref = getattr(self, field_name)
            attr = {"prefixCache": "prefix_cache", "loadAware": "load_aware"}.get(ref)
            if attr and getattr(self.traffic_policy, attr, None) is None:
                alias = "prefillPolicyRef" if field_name.startswith("prefill") else "decodePolicyRef"
                raise ValueError(f"{alias}: {ref!r} names no entry of profile.pd.trafficPolicy")
        return self


class Profile(StrictModel):
    pd: PDProfile | None = None


class PolicyPoolRef(StrictModel):
    name: str = Field(min_length=1, max_length=253)


class InferenceTrafficPolicySpec(StrictModel):
    pool_ref: PolicyPoolRef
    model_server_runtime: Literal["vllm", "sglang"] | None = None
    traffic_policy: TrafficPolicy | None = None
    profile: Profile | None = None


class InferenceTrafficPolicy(KubeObject):
    kind: Literal["InferenceTrafficPolicy"]
    spec: InferenceTrafficPolicySpec
