"""The no-shared-prefix cell in simulated time (bench/sim_time.py): the simulator's engine and KV
cache, the router's real scheduler, an event queue instead of a clock. Deterministic for a seed,
so it can hold the load-aware default to issue 16's targets without measuring the machine."""

from __future__ import annotations

from inference_gateway.bench.sim_time import LOADS, simulate


def test_the_load_aware_default_beats_round_robin_and_sglang_routers_policy_on_prompts_that_share_nothing():
    load = LOADS["no-shared-prefix"]  # h100-32b pods, Poisson 14 req/s for 60 s: KV fills
    ours, rr, sglang = (simulate(router, seed=1, load=load) for router in ("load-cost", "round-robin", "sglang"))
    _, p90, tok_s, *_ = ours.row()
    assert p90 <= 0.7 * sglang.row()[1] and p90 <= 0.7 * rr.row()[1], (ours.row(), rr.row(), sglang.row())
    assert tok_s >= 0.97 * sglang.row()[2]
    assert len(ours.ttfts) == len(rr.ttfts)  # every request served
