"""The cost scorer: prefill tokens a pod would compute, work queued ahead, KV room, in tokens."""

from __future__ import annotations

import random
import time
from collections import Counter

from inference_gateway.router.endpoint_state import EndpointMetrics, EndpointState
from inference_gateway.router.prefix_index import PrefixIndex
from inference_gateway.router.scheduler.plugins.cost_scorer import CostScorer
from inference_gateway.router.scheduler.plugins.first_token_time import FirstTokenTime
from inference_gateway.router.scheduler.plugins.max_score_picker import MaxScorePicker
from inference_gateway.router.scheduler.plugins.prefix_scorer import PrefixScorer
from inference_gateway.router.scheduler.profiles import default_profiles
from inference_gateway.router.scheduler.scheduler import Scheduler
from inference_gateway.router.scheduler.types import Candidate, SchedulingRequest
from inference_gateway.router.table import Endpoint, Pool, Strategy


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cand(i: int, clock: Clock, **metrics) -> Candidate:
    ep = Endpoint(f"pod-{i}", "default", f"10.2.0.{i}", 8000)
    return Candidate(ep, EndpointMetrics(updated_at=clock.now - 0.05, **metrics))


def req(prompt: str, max_tokens: int = 16) -> SchedulingRequest:
    return SchedulingRequest(model="m", target_model="m", prompt=prompt, body={"max_tokens": max_tokens})


SYSTEM = "".join(f"word{i:05d} " for i in range(800))  # 8,000 characters: ~2,000 tokens


def test_absolute_tokens_not_ratio_decide():
    """A pod holding 2,000 tokens of a long prompt beats one holding all of a short prefix."""
    clock = Clock()
    index = PrefixIndex()
    scorer = CostScorer(PrefixScorer(index), clock=clock)
    pods = [cand(0, clock), cand(1, clock)]
    index.record(pods[0].endpoint.address, PrefixScorer(index).hashes(req(SYSTEM + "question one " * 40)))
    costs = scorer.costs(req(SYSTEM + "another question " * 40), pods)
    saved = costs[1] - costs[0]
    assert saved >= 1900  # ~2,000 prompt tokens it need not compute


def test_queued_work_moves_a_request_without_a_prefix():
    clock = Clock()
    scorer = CostScorer(clock=clock)
    pods = [cand(0, clock, waiting=4), cand(1, clock, waiting=0)]
    scores = scorer.score(req("x" * 4000), pods)
    assert scores == [0.0, 1.0]


def test_kv_room_the_request_lacks_counts_as_work():
    clock = Clock()
    scorer = CostScorer(clock=clock)
    # pod 0: 1,000 tokens free; pod 1: 10,000. The request needs 1,000 prompt + 500 output.
    pods = [cand(0, clock, kv_usage=0.9, kv_blocks=625, block_size=16),
            cand(1, clock, kv_usage=0.0, kv_blocks=625, block_size=16)]
    costs = scorer.costs(req("y" * 4000, max_tokens=500), pods)
    assert round(costs[0] - costs[1]) == 500


def test_a_burst_of_one_group_stays_on_one_pod_and_new_groups_spread():
    """All requests arrive between two scrapes: each pick is seen by the next at once."""
    state = EndpointState()
    eps = tuple(Endpoint(f"pod-{i}", "default", f"10.2.1.{i}", 8000) for i in range(4))
    p = Pool("default", "p", 8000, strategy=Strategy.PREFIX_CACHE, endpoints=eps)
    for ep in eps:
        state.update(ep.address, EndpointMetrics(updated_at=time.monotonic(), kv_blocks=2125, block_size=16))
    index = PrefixIndex()
    sched = Scheduler(state, index, default_profiles(index, MaxScorePicker(random.Random(3))))
    groups = [f"group {g} " + SYSTEM for g in range(4)]
    where: dict[int, Counter] = {g: Counter() for g in range(4)}
    for i in range(12):
        for g in range(4):
            ep = sched.pick(p, req(groups[g] + f" question {i} " * 30, max_tokens=128))
            state.started(ep.address)
            where[g][ep.name] += 1
    for g in range(4):
        assert len(where[g]) == 1, where  # the group was not sprayed
    assert len({next(iter(c)) for c in where.values()}) == 4  # one group per pod


def test_an_idle_pool_spreads_prompts_that_share_nothing():
    state = EndpointState()
    eps = tuple(Endpoint(f"pod-{i}", "default", f"10.2.2.{i}", 8000) for i in range(4))
    p = Pool("default", "p", 8000, strategy=Strategy.DEFAULT, endpoints=eps)
    for ep in eps:
        state.update(ep.address, EndpointMetrics(updated_at=time.monotonic()))
    index = PrefixIndex()
    sched = Scheduler(state, index, default_profiles(index, MaxScorePicker(random.Random(4))))
    counts = Counter()
    for i in range(8):
        ep = sched.pick(p, req(f"prompt {i} " + "z" * 2000))
        state.started(ep.address)
        counts[ep.name] += 1
    assert sorted(counts.values()) == [2, 2, 2, 2]


def test_sends_since_the_scrape_are_forgotten_once_scraped():
    clock = Clock()
    scorer = CostScorer(clock=clock)
    pods = [cand(0, clock), cand(1, clock)]
    r = req("q" * 400)
    scorer.costs(r, pods)
    scorer.picked(r, pods[0])
    assert scorer.costs(req("q" * 400), pods)[0] > scorer.costs(req("q" * 400), pods)[1]
    clock.now += 0.1
    pods[0].metrics.updated_at = clock.now  # the next scrape shows it (in its waiting count)
    c = scorer.costs(req("q" * 400), pods)
    assert c[0] == c[1]


def report_first_tokens(pods: list[Candidate], clock: Clock, seconds: list[float], n: int = 5) -> None:
    """A scrape of every pod, each having served `n` more first tokens of `seconds[i]` each."""
    for i, c in enumerate(pods):
        m = c.metrics
        c.metrics = EndpointMetrics(updated_at=clock.now, waiting=m.waiting, ttft_sum=m.ttft_sum + n * seconds[i],
                                    ttft_count=m.ttft_count + n)


def test_a_pod_that_was_slow_to_first_token_is_not_penalised_beyond_its_work():
    """On identical pods a higher TTFT is queueing the work terms already count. Scaling each
    pod's cost by a speed learned from its TTFT histogram starved the pods that had just been
    slow and piled onto the rest (bench/sim_time.py: TTFT p90 3.2 s against 0.96 s). Here pod 1
    reported first tokens twice as slow over three windows, yet has less queued."""
    clock = Clock()
    scorer = CostScorer(clock=clock)
    pods = [cand(0, clock), cand(1, clock)]
    for window in range(3):
        for c in pods:
            for _ in range(5):
                r = req("w" * 4000)
                scorer.costs(r, pods)
                scorer.picked(r, c)
        clock.now += 10  # the sends above are long scraped and long past their first token
        report_first_tokens(pods, clock, [0.1, 0.2])
    pods[0].metrics.waiting, pods[1].metrics.waiting = 6, 4
    assert scorer.score(req("w" * 4000), pods) == [0.0, 1.0]


def test_sends_count_as_prefill_ahead_for_the_pools_time_to_first_token():
    """After a scrape, a pod that took a burst into its running batch shows no waiting queue;
    the requests sent there within the pool's time to first token are still prefill ahead.
    Past it they decode, and the pod is as good as idle for the next first token."""
    clock = Clock()
    pods = [cand(0, clock), cand(1, clock)]
    scorer = CostScorer(clock=clock)
    scorer.costs(req("v"), pods)  # the pods' histograms before: a baseline only
    clock.now += 1
    report_first_tokens(pods, clock, [2.0, 2.0])  # first tokens take 2 s
    for _ in range(12):
        r = req("v" * 4000)
        scorer.costs(r, pods)
        scorer.picked(r, pods[0])
        pods[0].in_flight += 1
    clock.now += 1
    for c in pods:
        c.metrics.updated_at = clock.now  # scraped: nothing waiting anywhere (all admitted)
    assert scorer.score(req("v" * 4000), pods) == [0.0, 1.0]
    clock.now += 1.5  # 2.5 s after the sends: past their first tokens, still in flight
    for c in pods:
        c.metrics.updated_at = clock.now
    c0, c1 = scorer.costs(req("v" * 4000), pods)
    assert c0 == c1


def test_a_finished_request_is_not_prefilling_however_slow_first_tokens_are_elsewhere():
    """One stuck pod can stretch the pool's time to first token to many seconds; the requests a
    healthy pod has already finished must not count as work ahead there."""
    clock = Clock()
    pods = [cand(0, clock), cand(1, clock, waiting=3)]
    scorer = CostScorer(clock=clock)
    scorer.costs(req("v"), pods)
    clock.now += 1
    report_first_tokens(pods, clock, [30.0, 30.0])
    for _ in range(5):  # sent one after another, each finished before the next
        r = req("v" * 4000)
        scorer.costs(r, pods)
        scorer.picked(r, pods[0])
    clock.now += 1
    for c in pods:
        c.metrics.updated_at = clock.now
    assert scorer.score(req("v" * 4000), pods) == [1.0, 0.0]


def test_each_pool_has_its_own_time_to_first_token():
    """Pools serve different models: a slow model's first tokens must not stretch the window in
    which a fast pool's finished-prefill requests still count as prefill ahead."""
    clock = Clock()
    slow = [cand(10 + i, clock) for i in range(2)]
    fast = [cand(20 + i, clock) for i in range(2)]
    scorer = CostScorer(clock=clock)
    for pool, pods in (("slow", slow), ("fast", fast)):
        r = req("v")
        r.pool = pool
        scorer.costs(r, pods)
    clock.now += 1
    report_first_tokens(slow, clock, [30.0, 30.0], n=50)
    report_first_tokens(fast, clock, [0.5, 0.5], n=5)
    for pool, pods in (("slow", slow), ("fast", fast)):
        r = req("v")
        r.pool = pool
        scorer.costs(r, pods)
    for _ in range(4):
        r = req("v" * 4000)
        r.pool = "fast"
        scorer.costs(r, fast)
        scorer.picked(r, fast[0])
        fast[0].in_flight += 1
    clock.now += 2  # past the fast pool's first tokens: decoding now
    for c in fast:
        c.metrics.updated_at = clock.now
    r = req("v" * 4000)
    r.pool = "fast"
    c0, c1 = scorer.costs(r, fast)
    assert c0 == c1


def test_the_pools_time_to_first_token_is_learned_from_the_histograms_the_pods_export():
    clock = Clock()
    pods = [cand(0, clock, ttft_sum=500.0, ttft_count=100.0), cand(1, clock)]
    ftt = FirstTokenTime()
    for c in pods:
        ftt.observe(c)
    assert ftt.seconds == 0.0  # the history before the router knew the pods is a baseline only
    clock.now += 1
    report_first_tokens(pods, clock, [1.0, 3.0], n=10)
    for c in pods:
        ftt.observe(c)
    assert 1.0 < ftt.seconds < 3.0  # one figure for the pool, between its pods
    clock.now += 1
    pods[0].metrics = EndpointMetrics(updated_at=clock.now)  # pod 0 restarted: its counters began again
    before = ftt.seconds
    ftt.observe(pods[0])
    assert ftt.seconds == before
