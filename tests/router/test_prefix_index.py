from inference_gateway.router.endpoint_state import EndpointMetrics
from inference_gateway.router.prefix_index import (
    BLOCK_CHARS, PrefixIndex, block_hashes, capacity_from_cache,
)


def test_hashes_chain_so_a_shared_prefix_shares_hashes():
    a = block_hashes("x" * BLOCK_CHARS * 3 + "tail-a", "m")
    b = block_hashes("x" * BLOCK_CHARS * 3 + "different tail that is long enough" * 3, "m")
    assert len(a) == 3 and a == b[:3]
    # Same block content at another position is another prefix: the chain makes it differ.
    assert len(set(a)) == 3


def test_hashes_are_seeded_by_the_model_and_skip_partial_blocks():
    text = "y" * (BLOCK_CHARS * 2 + 10)
    assert block_hashes(text, "m1") != block_hashes(text, "m2")
    assert len(block_hashes(text, "m1")) == 2
    assert block_hashes("short", "m") == []


def test_match_counts_leading_blocks_and_stops_at_first_miss():
    index = PrefixIndex()
    index.record("a", [1, 2, 3])
    index.record("b", [1, 2])
    index.record("c", [9, 2, 3])
    assert index.match([1, 2, 3, 4], ["a", "b", "c", "d"]) == {"a": 3, "b": 2, "c": 0, "d": 0}
    assert index.match([1, 2], ["a"]) == {"a": 2}
    assert index.match([], ["a"]) == {"a": 0}


def test_lru_evicts_the_least_recently_used_blocks():
    index = PrefixIndex()
    index.set_capacity("a", 3)
    index.record("a", [1, 2, 3])
    index.record("a", [1])          # 1 is fresh again
    index.record("a", [7, 8])       # evicts 2 and 3
    assert index.match([1], ["a"]) == {"a": 1}
    assert index.match([1, 2], ["a"]) == {"a": 1}
    assert len(index) == 3


def test_endpoints_that_leave_are_forgotten():
    index = PrefixIndex()
    index.record("a", [1, 2])
    index.record("b", [1, 2])
    index.retain({"b"})
    assert index.match([1, 2], ["a", "b"]) == {"a": 0, "b": 2}
    assert len(index) == 2


def test_capacity_follows_the_pods_kv_cache():
    # 28125 blocks × 16 tokens ≈ 450k tokens ≈ 1.8M characters = 28125 blocks of 64 characters.
    assert capacity_from_cache(EndpointMetrics(kv_blocks=28125, block_size=16).kv_capacity) == 28125
    assert capacity_from_cache(EndpointMetrics().kv_capacity) > 0


def test_answers_age_out_the_oldest_prefixes_as_the_pod_would_evict_them():
    from inference_gateway.router.prefix_index import PrefixIndex, block_hashes

    index = PrefixIndex()
    index.set_capacity("a", 100)  # 100 blocks of 64 characters: 1,600 tokens
    old = block_hashes("o" * 64 * 50, "m")
    index.record("a", old)
    assert index.match(old) == {"a": 50}
    # a new prompt of 30 blocks whose answer takes 30 blocks (480 tokens): 110 > 100, so the
    # 10 oldest blocks go, and the old prompt's match stops at the first block it lost
    index.record("a", block_hashes("n" * 64 * 30, "m"), output_tokens=480)
    assert index.match(old) == {}
    assert len(index) == 100


def test_export_leaves_out_the_room_answers_took():
    from inference_gateway.router.prefix_index import PrefixIndex, block_hashes

    index = PrefixIndex()
    hashes = block_hashes("e" * 64 * 3, "m")
    index.record("a", hashes, output_tokens=64)  # 4 blocks of answer
    assert len(index) == 7
    assert list(index.export()) == [("a", hashes)]
