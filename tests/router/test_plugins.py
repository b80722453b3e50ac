"""Every scheduler plugin on its own."""

import random
import time
from collections import Counter

from inference_gateway.router.endpoint_state import EndpointMetrics
from inference_gateway.router.prefix_index import PrefixIndex, block_hashes
from inference_gateway.router.scheduler.plugins.in_flight_scorer import InFlightScorer
from inference_gateway.router.scheduler.plugins.kv_cache_scorer import KVCacheScorer
from inference_gateway.router.scheduler.plugins.max_score_picker import MaxScorePicker
from inference_gateway.router.scheduler.plugins.normalize import inverse_minmax
from inference_gateway.router.scheduler.plugins.prefix_scorer import PrefixScorer
from inference_gateway.router.scheduler.plugins.queue_scorer import QueueScorer
from inference_gateway.router.scheduler.plugins.saturation_filter import SaturationFilter
from inference_gateway.router.scheduler.types import Candidate, SchedulingRequest
from inference_gateway.router.table import Endpoint


def cand(i: int, metrics: EndpointMetrics | None = None, in_flight: int = 0, since_scrape: int = 0) -> Candidate:
    return Candidate(Endpoint(f"pod-{i}", "default", f"10.0.0.{i}", 8000), metrics, in_flight, since_scrape)


def m(**kw) -> EndpointMetrics:
    return EndpointMetrics(updated_at=time.monotonic(), **kw)


REQ = SchedulingRequest(model="m", target_model="m", prompt="")


def test_inverse_minmax():
    assert inverse_minmax([0, 5, 10]) == [1.0, 0.5, 0.0]
    assert inverse_minmax([3, 3]) is None  # no preference


def test_queue_scorer_prefers_short_queues_and_distrusts_unknown_pods():
    scores = QueueScorer().score(REQ, [cand(0, m(waiting=4)), cand(1, m(waiting=0)), cand(2, None)])
    assert scores[1] == 1.0 and scores[2] == 0.0 and 0 < scores[0] < 1


def test_kv_cache_scorer_prefers_free_cache():
    assert KVCacheScorer().score(REQ, [cand(0, m(kv_usage=0.9)), cand(1, m(kv_usage=0.2)), cand(2, None)]) == [
        0.09999999999999998, 0.8, 0.0]


def test_in_flight_scorer_prefers_fewer_outstanding_requests():
    assert InFlightScorer().score(REQ, [cand(0, in_flight=2), cand(1, in_flight=0)]) == [0.0, 1.0]


def test_saturation_filter_drops_long_queues_full_caches_and_unknown_pods():
    f = SaturationFilter(max_waiting=5, max_kv=0.8)
    kept = f.filter(REQ, [cand(0, m(waiting=6)), cand(1, m(kv_usage=0.81)), cand(2, None),
                          cand(3, m(waiting=3), in_flight=4, since_scrape=3), cand(4, m(waiting=5, kv_usage=0.8)),
                          cand(5, m(waiting=3), in_flight=1, since_scrape=9)])
    # pod-3: 3 waiting + 3 sent since the scrape, unfinished; pod-5: of 9 sent, 1 is unfinished
    assert [c.endpoint.name for c in kept] == ["pod-4", "pod-5"]


def test_prefix_scorer_scores_matched_share_and_records_the_pick():
    index = PrefixIndex()
    scorer = PrefixScorer(index)
    prompt = "s" * 64 * 4
    first = SchedulingRequest(model="m", target_model="m", prompt=prompt)
    cands = [cand(0), cand(1)]
    assert scorer.score(first, cands) is None  # nobody holds it: no preference
    scorer.picked(first, cands[1])
    assert first.prefix_hit_ratio == 0.0
    second = SchedulingRequest(model="m", target_model="m", prompt=prompt[:128] + "t" * 128)
    assert scorer.score(second, cands) == [0.0, 0.5]
    scorer.picked(second, cands[1])
    assert second.prefix_hit_ratio == 0.5
    # Another target model never shares a cache.
    other = SchedulingRequest(model="m", target_model="m2", prompt=prompt)
    assert scorer.score(other, cands) is None
    assert block_hashes(prompt, "m") == first.prefix_hashes


def test_max_score_picker_breaks_ties_at_random():
    picker = MaxScorePicker(random.Random(3))
    cands = [cand(i) for i in range(3)]
    assert picker.pick(cands, [0.1, 0.9, 0.2]).endpoint.name == "pod-1"
    picks = Counter(picker.pick(cands, [1.0, 1.0, 0.5]).endpoint.name for _ in range(200))
    assert set(picks) == {"pod-0", "pod-1"} and min(picks.values()) > 60
