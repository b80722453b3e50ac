"""The benchmark's workloads, as inference-perf configurations (pure data: no I/O here).

Each workload says what inference-perf generates (`data`), how it is sent (`load`), which
models the gateway declares (and with what criticality), and what the report checks.
`workloads()` gives the full size (`make bench`) or the quick one (`--quick`): same shapes,
fewer requests. The full size is meant for 8 pods and the quick one for 4; on other pods the
load scales with the pods that prefill (`pods_that_prefill()`), so that, e.g., 2 + 2
prefill/decode pods get a quarter of the full size instead of a load sized for 8 that no router
can serve.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MODEL = "/models/Qwen3-32B"          # the seed's model name, served by every simulated pod
CRITICAL_MODEL = "critical-chat"      # burst: InferenceModel with criticality Critical
SHEDDABLE_MODEL = "sheddable-batch"   # burst: InferenceModel with criticality Sheddable
BLOCK = 16                            # vLLM prefix-cache block size (tokens)
# inference-perf seeds its random prompts and lengths from load.base_seed (default: the clock);
# our launcher (client_launcher.py) seeds its arrival times and traffic split from it too. A
# fixed seed gives every router the very same requests at the very same times.
SEED = 20261125


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    description: str
    api: str                               # inference-perf api.type: completion | chat
    data: dict[str, Any]                   # inference-perf `data:` section
    load: dict[str, Any]                   # inference-perf `load:` section (without workers)
    models: dict[str, str] = field(default_factory=lambda: {MODEL: "Critical"})  # name → criticality
    lora_split: tuple[tuple[str, float], ...] = ()   # traffic split over model names (burst)
    targets: tuple[str, ...] = ()          # human-readable targets checked in the report

    @property
    def expected_requests(self) -> int:
        """Requests the measured stage sends (for progress and the cache bound)."""
        total = 0
        for stage in self.load["stages"]:
            if "num_requests" in stage:
                total += stage["num_requests"]
            else:
                total += int(stage["rate"] * stage["duration"])
        return total


def inference_perf_config(w: Workload, base_url: str, tokenizer_dir: str, out_dir: str,
                          num_workers: int = 1) -> dict[str, Any]:
    """The whole inference-perf YAML for one run of `w` against `base_url`."""
    load = dict(w.load, base_seed=SEED, num_workers=num_workers, worker_max_concurrency=512,
                stage_teardown_grace_seconds=120.0, request_timeout=600.0)
    if w.lora_split:
        load["lora_traffic_split"] = [{"name": n, "split": s} for n, s in w.lora_split]
    return {
        "api": {"type": w.api, "streaming": True},
        "server": {"type": "vllm", "model_name": MODEL, "base_url": base_url, "ignore_eos": True},
        "tokenizer": {"pretrained_model_name_or_path": tokenizer_dir},
        "data": w.data,
        "load": load,
        "report": {"request_lifecycle": {
            "summary": True, "per_stage": True, "per_request": True, "per_adapter": bool(w.lora_split),
            "per_request_fields": {"request": True, "response": False, "info": True,
                                   "response_chunks": False, "computed_metrics": True}}},
        "storage": {"local_storage": {"path": out_dir}},
    }


def best_prefix_hit_rate(num_requests: int, num_groups: int, system_prompt_len: int,
                         prompt_tokens_total: float) -> float:
    """The highest prefix-cache hit rate any router can reach on a shared-prefix run.

    Every group's system prompt must be computed at least once (on one pod); every later
    request of the group can at best reuse its whole-block part (vLLM caches full 16-token
    blocks). `prompt_tokens_total` is what the pods counted (vllm:prefix_cache_queries_total).
    """
    if prompt_tokens_total <= 0 or num_requests <= 0:
        return 0.0
    groups_seen = min(num_groups, num_requests)
    reusable = (system_prompt_len // BLOCK) * BLOCK
    return min(1.0, (num_requests - groups_seen) * reusable / prompt_tokens_total)


def _dist(mean: float, std: float, lo: int, hi: int) -> dict[str, Any]:
    return {"type": "normal", "mean": mean, "std_dev": std, "min": lo, "max": hi}


def _fixed(n: int) -> dict[str, Any]:
    return {"type": "fixed", "mean": n, "std_dev": 0, "min": n, "max": n}


SIZED_FOR_PODS = {False: 8, True: 4}  # quick → the pod count its size is meant for


def pods_that_prefill(pods: int, pd: bool) -> int:
    """The pods a layout's load is scaled to: all of them, or the prefill half of PD pools (the
    decode half only decodes, so 2 + 2 pods prefill what 2 plain pods would)."""
    return pods // 2 if pd else pods


def _shared_prefix(groups: int, per_group: int, output: int, seed: int) -> dict[str, Any]:
    """inference-perf `shared_prefix` data: a 2048-token system prompt per group, 128-token questions."""
    return {"type": "shared_prefix", "shared_prefix": {
        "num_groups": groups, "num_prompts_per_group": per_group, "system_prompt_len": 2048,
        "question_len": 128, "output_len": output, "seed": seed}}


def workloads(quick: bool, pods: int | None = None) -> dict[str, Workload]:
    """All workloads at full or quick size (quick: fewer requests and pods, same shapes), their
    rates and group counts scaled to `pods` (default: the count the size is meant for)."""
    q = quick
    f = (pods or SIZED_FOR_PODS[q]) / SIZED_FOR_PODS[q]

    def rate(r: float) -> float:
        return max(0.5, round(r * f, 2))
    # Shared prefix: SGLang's router benchmark (64 groups x 16 prompts, 2048-token system
    # prompt, 128-token question, 256 output, every request sent at once) scaled to 2 cores:
    # fewer groups and shorter outputs, and every request still in flight at once (a closed
    # loop as wide as the workload), so prefill, which prefix caching saves, dominates.
    sp_groups, sp_per_group, sp_out = (8, 6, 64) if q else (24, 12, 128)
    sp_groups = max(1, round(sp_groups * f))
    sp_conc = sp_groups * sp_per_group
    shared = Workload(
        name="shared-prefix", title="Shared prefix (SGLang router benchmark shape, scaled)",
        description=(f"{sp_groups} groups x {sp_per_group} prompts; 2048-token system prompt shared in a group, "
                     f"128-token question, {sp_out} output tokens; all {sp_conc} requests in flight at once."),
        api="completion",
        data=_shared_prefix(sp_groups, sp_per_group, sp_out, seed=7),
        load={"type": "concurrent", "stages": [{"num_requests": sp_groups * sp_per_group,
                                                "concurrency_level": sp_conc}]},
        targets=("PREFIX_CACHE output tok/s >= 0.97x sglang cache_aware", "PREFIX_CACHE TTFT p90 <= sglang cache_aware's",
                 "no errors", "PREFIX_CACHE hit rate >= best achievable - 5 points", "hit rate spread <= 3 points"),
    )
    # Multi-turn chat: inference-perf's conversation_replay. Every conversation starts with the
    # app's system prompt (shared by all) and its own context, and each turn sends the whole
    # conversation so far (prompts and answers) plus a new question: every turn extends the
    # last, and turns of one conversation never overlap. The conversation count is coprime with
    # the pod count, so round robin cannot keep a conversation on one pod by accident.
    mt_convs, mt_rate, mt_dur = (15, 5.0, 9) if q else (35, 5.0, 60)
    mt_rate = rate(mt_rate)
    multi = Workload(
        name="multi-turn", title="Multi-turn chat (each turn extends the last)",
        description=(f"{mt_convs} conversations: 256-token system prompt shared by all + 512 tokens of "
                     f"per-conversation context, then turns of ~N(64, 24) new tokens and 64-token answers, "
                     f"each turn carrying the whole conversation; Poisson {mt_rate} req/s for {mt_dur} s."),
        api="completion",
        data={"type": "conversation_replay", "conversation_replay": {
            "seed": 11, "num_conversations": mt_convs, "shared_system_prompt_len": 256,
            "dynamic_system_prompt_len": _fixed(512), "turns_per_conversation": _fixed(40),
            "input_tokens_per_turn": _dist(64, 24, 16, 160), "output_tokens_per_turn": _fixed(64),
            "max_model_len": 32000}},
        load={"type": "poisson", "stages": [{"rate": mt_rate, "duration": mt_dur}]},
        targets=("PREFIX_CACHE never loses to sglang cache_aware", "PREFIX_CACHE TTFT p90 <= 0.7x sglang and round robin",
                 "PREFIX_CACHE: >= 90% of prompt tokens cached after the first turn"),
    )
    # No shared prefix, mixed lengths: load balancing alone decides TTFT.
    np_rate, np_dur = (7.0, 8) if q else (14.0, 60)
    np_rate = rate(np_rate)
    np_out = _dist(64, 40, 8, 160) if q else _dist(128, 90, 8, 512)  # quick: a shorter tail
    noshare = Workload(
        name="no-shared-prefix", title="No shared prefix, mixed lengths",
        description=(f"random prompts, input ~N(1024, 700) in [32, 4000] tokens, output "
                     f"~N({np_out['mean']}, {np_out['std_dev']}) in [{np_out['min']}, {np_out['max']}]; "
                     f"Poisson {np_rate} req/s for {np_dur} s."),
        api="completion",
        data={"type": "random", "input_distribution": _dist(1024, 700, 32, 4000),
              "output_distribution": np_out},
        load={"type": "poisson", "stages": [{"rate": np_rate, "duration": np_dur}]},
        targets=("load-aware never loses to sglang cache_aware", "load-aware TTFT p90 <= 0.7x sglang and round robin"),
    )
    # A burst above capacity: half the traffic is Critical, half Sheddable.
    b_rate, b_dur = (40.0, 5) if q else (60.0, 10)
    b_rate = rate(b_rate)
    burst = Workload(
        name="burst", title="Burst above capacity (Critical vs Sheddable)",
        description=(f"random prompts ~N(1500, 500) tokens, 128 output; constant {b_rate} req/s for {b_dur} s "
                     f"(well above the pods' capacity); 50% model `{CRITICAL_MODEL}` (Critical), "
                     f"50% `{SHEDDABLE_MODEL}` (Sheddable)."),
        api="completion",
        data={"type": "random", "input_distribution": _dist(1500, 500, 256, 3000),
              "output_distribution": _dist(128, 0, 128, 128)},
        load={"type": "constant", "stages": [{"rate": b_rate, "duration": b_dur}]},
        models={MODEL: "Critical", CRITICAL_MODEL: "Critical", SHEDDABLE_MODEL: "Sheddable"},
        lora_split=((CRITICAL_MODEL, 0.5), (SHEDDABLE_MODEL, 0.5)),
        targets=("no Critical request fails", "Sheddable requests are shed first, with 429"),
    )
    # One application's system prompt on every request, arriving steadily: more than one pod
    # can serve, so the prefix needs a few homes (issue 16: "on one pod, or a few when it is
    # hot") without being sprayed over all of them.
    hp_prompts, hp_rate, hp_dur = (120, 6.0, 10) if q else (600, 13.0, 45)
    hp_rate = rate(hp_rate)
    hot = Workload(
        name="hot-prefix", title="One hot prefix (a system prompt on every request)",
        description=(f"1 group x {hp_prompts} prompts: one 2048-token system prompt shared by every request, "
                     f"128-token question, 128 output tokens; Poisson {hp_rate} req/s for {hp_dur} s."),
        api="completion",
        data=_shared_prefix(1, hp_prompts, 128, seed=13),
        load={"type": "poisson", "stages": [{"rate": hp_rate, "duration": hp_dur}]},
        targets=("PREFIX_CACHE output tok/s >= 0.97x sglang cache_aware", "PREFIX_CACHE TTFT p90 <= sglang cache_aware's",
                 "no errors", "PREFIX_CACHE hit rate >= best achievable - 5 points"),
    )
    return {w.name: w for w in (shared, multi, noshare, burst, hot)}
