"""The cost scorer's two ways of learning the share of a prompt each pod holds: the estimate
index's matches read directly (its fast path at 1,000 pods) and any prefix scorer's scores.
They must give the same costs and record the same picks."""

from __future__ import annotations

import random

from inference_gateway.router.endpoint_state import EndpointMetrics
from inference_gateway.router.prefix_index import PrefixIndex
from inference_gateway.router.scheduler.plugins.cost_scorer import CostScorer
from inference_gateway.router.scheduler.plugins.prefix_scorer import PrefixScorer
from inference_gateway.router.scheduler.types import Candidate, SchedulingRequest
from inference_gateway.router.table import Endpoint


class ScoresOnly:
    """A prefix scorer that offers only score() and picked(), as the precise one does."""

    def __init__(self, inner: PrefixScorer) -> None:
        self.inner = inner

    def score(self, request, candidates):
        return self.inner.score(request, candidates)

    def picked(self, request, chosen):
        self.inner.picked(request, chosen)


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_matches_read_directly_and_scores_give_the_same_costs_and_picks():
    rng = random.Random(5)
    clock = Clock()
    pods = [Candidate(Endpoint(f"pod-{i}", "default", f"10.3.0.{i}", 8000),
                      None if i == 7 else EndpointMetrics(waiting=float(i % 3), kv_usage=0.1 * (i % 9),
                                                          kv_blocks=None if i == 5 else 500, block_size=16,
                                                          updated_at=clock.now))
            for i in range(12)]
    groups = ["".join(rng.choice("abcd") for _ in range(64 * 20)) for _ in range(3)]
    scorers = {}
    for name, wrap in (("direct", lambda p: p), ("scores", ScoresOnly)):
        index = PrefixIndex()
        scorers[name] = CostScorer(wrap(PrefixScorer(index)), clock=clock)
    hits = 0
    for step in range(60):
        prompt = groups[step % 3] + "".join(rng.choice("xyz") for _ in range(rng.randrange(400)))
        requests = {name: SchedulingRequest("m", "m", prompt, body={"max_tokens": 64}) for name in scorers}
        costs = {name: s.costs(requests[name], pods) for name, s in scorers.items()}
        assert costs["direct"] == costs["scores"]
        chosen = pods[min(range(len(pods)), key=lambda i: costs["direct"][i])]
        for name, s in scorers.items():
            s.picked(requests[name], chosen)
        assert requests["direct"].prefix_hit_ratio == requests["scores"].prefix_hit_ratio
        hits += bool(requests["direct"].prefix_hit_ratio)
        chosen.in_flight += 1
        clock.now += 0.01
    assert hits > 30  # pods held prefixes: the shares were exercised, not only zeros
