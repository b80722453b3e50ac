"""InferenceTrafficPolicy, `inferenceextension.alibabacloud.com/v1alpha1` (our design around the
seed's fields; crds/ documents each one)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import KubeObject, StrictModel

POLICY_GROUP = "inferenceextension.alibabacloud.com"


class PrefixCachePolicy(StrictModel):
    mode: Literal["estimate", "precise"] = "estimate"
    block_size: int | None = Field(default=None, ge=1, le=65536)


class LoadAwarePolicy(StrictModel):
    queue_weight: int | None = Field(default=None, ge=0, le=100)
    kv_cache_weight: int | None = Field(default=None, ge=0, le=100)


class TrafficPolicy(StrictModel):
    prefix_cache: PrefixCachePolicy | None = None
    load_aware: LoadAwarePolicy | None = None


PolicyRef = Literal["default", "prefixCache", "loadAware"]


class KVTransfer(StrictModel):
    bootstrap_port: int = Field(default=8998, ge=1, le=65535)  # SGLang's default bootstrap port


class PDProfile(StrictModel):
    pd_role_label_name: str = Field(min_length=1)
    prefill_role_value: str = "prefill"
    decode_role_value: str = "decode"
    kv_transfer: KVTransfer | None = None
    traffic_policy: TrafficPolicy | None = None
    prefill_policy_ref: PolicyRef = "default"
    decode_policy_ref: PolicyRef = "default"


class Profile(StrictModel):
    pd: PDProfile | None = None


class PolicyPoolRef(StrictModel):
    name: str = Field(min_length=1)


class InferenceTrafficPolicySpec(StrictModel):
    pool_ref: PolicyPoolRef
    model_server_runtime: Literal["vllm", "sglang"] | None = None
    traffic_policy: TrafficPolicy | None = None
    profile: Profile | None = None


class InferenceTrafficPolicy(KubeObject):
    kind: Literal["InferenceTrafficPolicy"]
    spec: InferenceTrafficPolicySpec
