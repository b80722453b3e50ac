"""Hardware/model profiles: the numbers that make a simulated pod behave like a real one.

A profile is the whole cost model of one model server: how long an engine step takes and how
much KV cache the GPUs hold. Every number carries its source in `sources` (also tabled in
README.md) so a reader can judge how far to trust it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Profile:
    """Cost model of one model server (one pod)."""

    name: str
    description: str
    # Step time = step_fixed_s + prefill_token_s * uncached prefill tokens in the batch
    #           + decode_seq_s * decode sequences in the batch
    #           + attention_token_s * context tokens those decode sequences attend to.
    step_fixed_s: float
    prefill_token_s: float
    decode_seq_s: float
    attention_token_s: float
    kv_capacity_tokens: int
    max_num_seqs: int
    max_num_batched_tokens: int
    max_model_len: int
    block_size: int = 16
    tp_size: int = 1
    sources: str = ""

    def with_overrides(self, **changes: object) -> "Profile":
        """A copy with some fields replaced (None values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


# KV bytes per token = 2 (K and V) * layers * kv_heads * head_dim * 2 bytes (bf16):
#   Llama-3.1-8B: 2*32*8*128*2 = 128 KiB;  Qwen3-32B: 2*64*8*128*2 = 256 KiB.
# attention_token_s = KV bytes per token / usable HBM bandwidth (H100 SXM 3.35 TB/s,
# A100 80GB 2.0 TB/s, ~70 % achieved): decode attention is memory bound.
_H100_8B = Profile(
    name="h100-8b",
    description="Llama-3.1-8B-class model, bf16, one H100 80GB, vLLM defaults",
    step_fixed_s=5.8e-3,
    prefill_token_s=17e-6,
    decode_seq_s=6e-6,
    attention_token_s=56e-9,
    kv_capacity_tokens=450_000,
    max_num_seqs=1024,
    max_num_batched_tokens=8192,
    max_model_len=32768,
    sources=(
        "step terms: fit to real vLLM runs, 8B on one H100 (shared/NOTES.md); "
        "attention term: 128 KiB KV/token / (3.35 TB/s * 0.7); "
        "KV 450k tokens: (80 GB * 0.9 - 16 GB weights - activations) / 128 KiB (NOTES.md); "
        "max_num_seqs 1024 / max_num_batched_tokens 8192: vLLM V1 defaults for the OpenAI "
        "server on >= 70 GiB non-A100 GPUs"
    ),
)

_A100_8B = Profile(
    name="a100-8b",
    description="Llama-3.1-8B-class model, bf16, one A100 80GB, vLLM defaults",
    step_fixed_s=16.4e-3,
    prefill_token_s=48e-6,
    decode_seq_s=18e-6,
    attention_token_s=94e-9,
    kv_capacity_tokens=450_000,
    max_num_seqs=256,
    max_num_batched_tokens=2048,
    max_model_len=32768,
    sources=(
        "step terms: fit to real vLLM runs, 8B on A100 (shared/NOTES.md); "
        "attention term: 128 KiB KV/token / (2.0 TB/s * 0.7); KV: same 80 GB as H100; "
        "vLLM V1 defaults on A100: max_num_batched_tokens 2048, max_num_seqs 256"
    ),
)

_H100X2_32B = Profile(
    name="h100x2-32b",
    description="Qwen3-32B, bf16, two H100 80GB (TP2), vLLM defaults",
    step_fixed_s=12.5e-3,
    prefill_token_s=39e-6,
    decode_seq_s=10e-6,
    attention_token_s=56e-9,
    kv_capacity_tokens=310_000,
    max_num_seqs=1024,
    max_num_batched_tokens=8192,
    max_model_len=40960,
    tp_size=2,
    sources=(
        "KV 310k tokens at TP2 (NOTES.md; = (2*72 GB - 65.5 GB weights) / 256 KiB); "
        "step terms DERIVED from the 8B H100 fit, not measured: 4x the FLOPs and weight "
        "bytes split over 2 GPUs = 2x per GPU, +~8 % for the TP all-reduce; attention: "
        "256 KiB KV/token split over 2 GPUs at 3.35 TB/s * 0.7; max_model_len 40960 "
        "(Qwen3-32B config)"
    ),
)

_H100_32B = Profile(
    name="h100-32b",
    description="Qwen3-32B, bf16, one H100 80GB (TP1): tiny KV cache",
    step_fixed_s=22e-3,
    prefill_token_s=68e-6,
    decode_seq_s=12e-6,
    attention_token_s=110e-9,
    kv_capacity_tokens=34_000,
    max_num_seqs=1024,
    max_num_batched_tokens=8192,
    max_model_len=32768,
    sources=(
        "KV 34k tokens at TP1 (NOTES.md); step terms DERIVED: 4x the 8B fit for compute "
        "and weight reads (65.5 GB of weights per step); attention 256 KiB/token at "
        "3.35 TB/s * 0.7"
    ),
)

# Small and fast, for tests: a handful of sequences and a KV cache that fills quickly.
_TEST_TINY = Profile(
    name="test-tiny",
    description="tiny fast engine for tests (not a real GPU)",
    step_fixed_s=2e-3,
    prefill_token_s=20e-6,
    decode_seq_s=50e-6,
    attention_token_s=0.0,
    kv_capacity_tokens=4096,
    max_num_seqs=8,
    max_num_batched_tokens=512,
    max_model_len=2048,
    sources="made up for tests",
)

PROFILES: dict[str, Profile] = {
    p.name: p for p in (_H100_8B, _A100_8B, _H100X2_32B, _H100_32B, _TEST_TINY)
}
DEFAULT_PROFILE = "h100-8b"


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; known: {', '.join(sorted(PROFILES))}") from None
