import random
from collections import Counter

from inference_gateway.router.director import parse_pools, weighted_choice


def test_parse_pools():
    assert parse_pools("default/a=70,default/b=30") == [("default/a", 70), ("default/b", 30)]
    assert parse_pools("ns/p") == [("ns/p", 1)]
    assert parse_pools("") == []


def test_weighted_choice_follows_weights():
    rng = random.Random(7)
    counts = Counter(weighted_choice([("a", 90), ("b", 10)], rng) for _ in range(5000))
    assert 0.87 < counts["a"] / 5000 < 0.93
