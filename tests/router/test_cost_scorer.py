"""The cost scorer: prefill tokens a pod would compute, work queued ahead, KV room, in tokens."""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import replace

from inference_gateway.router.endpoint_state import EndpointMetrics, EndpointState
from inference_gateway.router.prefix_index import PrefixIndex
from inference_gateway.router.scheduler.plugins.cost_scorer import CostScorer
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


def req(prompt: str, max_tokens: int = 16, per_running: float = 0.0) -> SchedulingRequest:
    """A request; the decode term (`per_running` prefill tokens per running request per step)
    is off unless a test is about it, so the other terms' arithmetic stays exact."""
    return SchedulingRequest(model="m", target_model="m", prompt=prompt, body={"max_tokens": max_tokens},
                             tokens_per_running=per_running)


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
    pods[0].metrics = replace(pods[0].metrics, updated_at=clock.now)  # the next scrape shows it (in its waiting count)
    c = scorer.costs(req("q" * 400), pods)
    assert c[0] == c[1]


def test_terms_kept_between_scrapes_give_the_costs_a_recount_gives():
    """A pod's request-independent terms are kept from its scrape (EndpointState.on_update) until
    its next scrape, send or finished request, or until a send ages out: every pick then costs
    the pods exactly as recounting every pod's terms would. Random scrapes (some with no KV
    size), sends, finishes out of order, first tokens, and time passing SENT_HORIZON_S."""
    rng = random.Random(3)
    clock = Clock()
    state = EndpointState(stale_after=1e9)
    kept_index, recount_index = PrefixIndex(), PrefixIndex()
    kept = CostScorer(PrefixScorer(kept_index), clock=clock)
    recount = CostScorer(PrefixScorer(recount_index), clock=clock)
    state.on_update.append(kept.on_update)
    counted = Counter()
    for name, scorer in (("kept", kept), ("recount", recount)):
        def terms(*args, _name=name, _terms=scorer.terms):
            counted[_name] += 1
            _terms(*args)
        scorer.terms = terms  # type: ignore[method-assign]
    pods = [Candidate(Endpoint(f"pod-{i}", "default", f"10.2.9.{i}", 8000), None) for i in range(5)]
    first = {c.endpoint.address: 0.0 for c in pods}
    in_flight: list[str] = []
    for step in range(600):
        for c in pods:
            a = c.endpoint.address
            if rng.random() < 0.15:  # a scrape
                first[a] += rng.randint(0, 2)
                state.update(a, EndpointMetrics(
                    waiting=float(rng.randint(0, 4)), running=float(rng.randint(0, 8)), kv_usage=rng.random(),
                    kv_blocks=None if rng.random() < 0.2 else 500, block_size=16, updated_at=clock.now,
                    ttft_count=first[a]))
        while in_flight and rng.random() < 0.4:
            state.finished(in_flight.pop(rng.randrange(len(in_flight))))
        for c in pods:
            a = c.endpoint.address
            c.metrics, c.in_flight, c.committed = state.metrics.get(a), state.in_flight.get(a, 0), 0.0
        prompt = f"system {rng.randrange(3)} " * 60 + "question " * rng.randrange(1, 40)
        for s in recount._sent.values():
            s.terms_metrics = None  # recount every pod's terms
        per_running = rng.choice([0.0, 2.0])
        a_req, b_req = (req(prompt, rng.choice([16, 256]), per_running) for _ in range(2))
        b_req.body = a_req.body
        costs = kept.costs(a_req, pods)
        assert costs == recount.costs(b_req, pods), step
        chosen = pods[min(range(len(pods)), key=costs.__getitem__)]
        kept.picked(a_req, chosen)
        recount.picked(b_req, chosen)
        state.started(chosen.endpoint.address)
        in_flight.append(chosen.endpoint.address)
        clock.now += rng.random() * 0.2  # 600 steps: ~60 s, sends age out of the 5 s horizon
    assert counted["kept"] < 0.7 * counted["recount"]  # terms were kept, not only recounted


def first_tokens(c: Candidate, clock: Clock, n: int) -> None:
    """A scrape of the pod: `n` more first tokens produced, nothing waiting (all admitted)."""
    c.metrics = EndpointMetrics(updated_at=clock.now, ttft_count=c.metrics.ttft_count + n)


def send(scorer: CostScorer, pods: list[Candidate], to: int, n: int = 1) -> None:
    for _ in range(n):
        r = req("v" * 4000)
        scorer.costs(r, pods)
        scorer.picked(r, pods[to])
        pods[to].in_flight += 1


def test_sends_count_as_prefill_ahead_until_the_pod_counts_their_first_tokens():
    """After a scrape, a pod that took a burst into its running batch shows no waiting queue;
    the sends still before their first token (by the pod's own TTFT count) are prefill ahead,
    however long they take. Once counted, they decode and the pod is as good as idle."""
    clock = Clock()
    pods = [cand(0, clock, ttft_count=40.0), cand(1, clock, ttft_count=7.0)]  # counts from before
    scorer = CostScorer(clock=clock)
    send(scorer, pods, 0, 12)
    clock.now += 3  # far longer than any first token took before: still counted
    first_tokens(pods[0], clock, 4)
    first_tokens(pods[1], clock, 0)
    costs = scorer.costs(req("v" * 4000), pods)
    assert costs[0] - costs[1] == 8 * 1000  # 8 sends of 1,000 tokens still prefilling
    clock.now += 0.1
    first_tokens(pods[0], clock, 8)  # all 12 past their first token, still in flight
    first_tokens(pods[1], clock, 0)
    c0, c1 = scorer.costs(req("v" * 4000), pods)
    assert c0 == c1


def test_a_moment_with_nothing_in_flight_resets_the_count():
    """First tokens served to other clients, or a pod restart, drift the count; when the pod
    has nothing of ours in flight, none of ours is pending, whatever its counter says."""
    clock = Clock()
    pods = [cand(0, clock), cand(1, clock)]
    scorer = CostScorer(clock=clock)
    send(scorer, pods, 0, 3)
    clock.now += 0.1
    first_tokens(pods[0], clock, 20)  # 3 of ours and 17 of another client's
    pods[0].in_flight = 0
    scorer.costs(req("v"), pods)  # nothing in flight: the count starts again here
    send(scorer, pods, 0, 2)
    clock.now += 0.1
    first_tokens(pods[0], clock, 0)
    costs = scorer.costs(req("v" * 4000), pods)
    assert costs[0] - costs[1] == 2 * 1000  # the 17 foreign first tokens hid nothing
    pods[0].in_flight = 0
    pods[0].metrics = EndpointMetrics(updated_at=clock.now)  # restarted: its counter began again
    scorer.costs(req("v"), pods)
    send(scorer, pods, 0, 1)
    clock.now += 0.1
    first_tokens(pods[0], clock, 0)
    costs = scorer.costs(req("v" * 4000), pods)
    assert costs[0] - costs[1] == 1000


def test_a_pod_without_a_ttft_histogram_counts_every_request_in_flight_as_pending():
    clock = Clock()
    pods = [cand(0, clock), cand(1, clock)]
    scorer = CostScorer(clock=clock)
    send(scorer, pods, 0, 3)
    pods[0].in_flight = 2  # one finished
    clock.now += 0.1
    for c in pods:
        first_tokens(c, clock, 0)
    costs = scorer.costs(req("v" * 4000), pods)
    assert costs[0] - costs[1] == 2 * 1000


def test_a_pod_that_was_slow_to_first_token_is_not_penalised_beyond_its_work():
    """On identical pods a higher TTFT is queueing the work terms already count. Scaling each
    pod's cost by a speed learned from its TTFT histogram starved the pods that had just been
    slow and piled onto the rest (bench/sim_time.py: TTFT p90 3.2 s against 0.96 s). Here pod 1
    served its first tokens later, yet has less queued."""
    clock = Clock()
    scorer = CostScorer(clock=clock)
    pods = [cand(0, clock), cand(1, clock)]
    for window in range(3):
        send(scorer, pods, 0, 5)
        send(scorer, pods, 1, 5)
        clock.now += 0.1 if window == 0 else 0.2
        first_tokens(pods[0], clock, 5)
        clock.now += 0.1
        first_tokens(pods[1], clock, 5)
        clock.now += 10  # the sends above are long scraped, past their first token, done
        for c in pods:
            c.in_flight = 0
    pods[0].metrics, pods[1].metrics = replace(pods[0].metrics, waiting=6), replace(pods[1].metrics, waiting=4)
    assert scorer.score(req("v" * 4000), pods) == [0.0, 1.0]


def test_a_pod_promised_full_is_passed_over_while_another_can_hold_the_request():
    """The pod holding the prefix has room free at its scrape, but its requests in flight will
    grow into it: the request goes where it fits to its end, prefix or not; when no pod fits,
    the ordinary cost decides again."""
    clock = Clock()
    index = PrefixIndex()
    scorer = CostScorer(PrefixScorer(index), clock=clock)
    pods = [cand(0, clock, kv_blocks=625, block_size=16), cand(1, clock, kv_blocks=625, block_size=16)]  # 10,000 tokens
    index.record(pods[0].endpoint.address, PrefixScorer(index).hashes(req(SYSTEM + "first question")))
    r = lambda: req(SYSTEM + "next question", max_tokens=500)  # noqa: E731
    assert scorer.score(r(), pods) == [1.0, 0.0]  # the prefix holder, while it can hold it
    pods[0].committed = 9_800.0  # what its requests in flight will hold by their end
    assert scorer.score(r(), pods) == [0.0, 1.0]
    pods[1].committed = 9_000.0  # neither can: the prefix holder's cheaper prefill wins again
    assert scorer.score(r(), pods) == [1.0, 0.0]


def test_a_prefix_on_every_request_gets_a_second_home_before_its_pod_overcommits():
    state = EndpointState()
    eps = tuple(Endpoint(f"pod-{i}", "default", f"10.2.3.{i}", 8000) for i in range(3))
    p = Pool("default", "p", 8000, strategy=Strategy.PREFIX_CACHE, endpoints=eps)
    for ep in eps:  # 10,000 tokens of KV each, nothing used at the last scrape
        state.update(ep.address, EndpointMetrics(updated_at=time.monotonic() + 3600, kv_blocks=625, block_size=16))
    index = PrefixIndex()
    sched = Scheduler(state, index, default_profiles(index, MaxScorePicker(random.Random(5))))
    where = Counter()
    for i in range(30):
        r = req(SYSTEM + f" user question {i}", max_tokens=500)
        ep = sched.pick(p, r)
        state.started(ep.address, r.extras["kv_tokens"])  # as the director books it
        where[ep.name] += 1
    assert len(where) >= 2, where  # not all on the pod that first held the prefix
    assert all(state.committed[ep.address] <= 10_000 for ep in eps if ep.name in where)
    assert max(where.values()) >= 10  # and it stays grouped: affinity, not round robin


def test_the_decode_term_weighs_only_against_a_shared_recomputation():
    """Each request running on a pod makes every step longer: `per_running` prefill tokens'
    worth per step, for the request's `max_tokens` steps. That is counted where a prefix that
    keeps coming could get another home, not for a request whose prompt no pod holds (the
    first-token terms decide there, as for a conversation's next turn)."""
    clock = Clock()
    scorer = CostScorer(clock=clock)
    pods = [cand(0, clock, running=30.0), cand(1, clock, running=5.0)]
    assert len(set(scorer.costs(req("x" * 4000, max_tokens=100, per_running=2.0), pods))) == 1


def _prefix_history(scorer: CostScorer, index: PrefixIndex, holder: Candidate, clock: Clock, n: int, gap: float):
    for i in range(n):
        r = req(SYSTEM + f"earlier question {i}", max_tokens=128, per_running=3.0)
        scorer.costs(r, [holder])
        scorer.picked(r, holder)
        clock.now += gap


def test_a_prefix_that_keeps_coming_gets_another_home_and_a_burst_does_not():
    """The holder of a ~2,000-token prefix runs 40 requests; another pod runs none. Recomputing
    the prefix there costs more than the holder's longer steps for one request, but a prefix
    that kept coming for 10 s will keep coming, and the new home serves its next requests from
    cache: the idle pod wins. The same 40 requests in one burst predict nothing: the holder keeps
    the prefix. A conversation's history (seen once) stays too."""
    for gap, holder_wins in ((0.25, False), (0.0, True)):
        clock = Clock()
        index = PrefixIndex()
        scorer = CostScorer(PrefixScorer(index), clock=clock)
        busy, idle = cand(0, clock, running=40.0), cand(1, clock)
        busy.in_flight = 40
        index.record(busy.endpoint.address, PrefixScorer(index).hashes(req(SYSTEM + "first question")))
        _prefix_history(scorer, index, busy, clock, 40, gap)
        for pod in (busy, idle):
            pod.metrics = replace(pod.metrics, updated_at=clock.now)  # a scrape: a new value
        costs = scorer.costs(req(SYSTEM + "the next question", max_tokens=128, per_running=3.0), [busy, idle])
        assert (costs[0] < costs[1]) is holder_wins, (gap, costs)
