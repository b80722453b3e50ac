"""Unit tests of the two prefix caches (no HTTP)."""

from __future__ import annotations

from inference_gateway.simulator.block_cache import BlockCache
from inference_gateway.simulator.kv_events import BlockRemoved, BlockStored, block_hash
from inference_gateway.simulator.radix_cache import RadixCache
from inference_gateway.simulator.request import SimRequest


def _req(tokens: list[int], name: str = "r") -> SimRequest:
    return SimRequest(request_id=name, prompt_token_ids=list(tokens), max_tokens=1, arrival_time=0.0)


def _run(cache, req: SimRequest) -> int:
    """Admit, compute the whole prompt, finish and free; return the cache hit."""
    hits = cache.lookup(req)
    assert cache.admit(req, req.num_tokens - hits)
    req.num_computed_tokens = req.num_tokens
    cache.on_computed(req)
    req.finish_reason = "length"
    cache.free(req)
    return hits


def test_block_cache_full_blocks_chained_and_not_last_token():
    c = BlockCache(capacity_tokens=16 * 10, block_size=16)
    prompt = list(range(40))  # 2 full blocks + 8 tokens
    assert _run(c, _req(prompt)) == 0
    assert _run(c, _req(prompt)) == 32
    # Exactly 32 tokens: the last token must be computed, so only 1 block can hit.
    assert _run(c, _req(prompt[:32])) == 16
    # A different first block breaks the chain even if the second block matches.
    assert _run(c, _req([999] + prompt[1:])) == 0


def test_block_cache_lru_eviction_and_usage_counts_cached_as_free():
    c = BlockCache(capacity_tokens=16 * 4, block_size=16, emit_events=True)
    a, b = list(range(33)), list(range(100, 133))  # 3 blocks each (2 full + partial)
    _run(c, _req(a, "a"))
    assert c.usage() == 0.0  # freed blocks stay cached but count as free
    assert c.num_cached_blocks == 2
    stored = [e for e in c.take_events() if isinstance(e, BlockStored)]
    assert stored[0].block_hashes == [block_hash(None, a[:16]), block_hash(block_hash(None, a[:16]), a[16:32])]
    assert stored[0].token_ids == a[:32] and stored[0].parent_block_hash is None
    _run(c, _req(b, "b"))  # needs 3 of 4 blocks: evicts a's least recently freed blocks
    removed = [h for e in c.take_events() if isinstance(e, BlockRemoved) for h in e.block_hashes]
    assert removed  # something of a's was evicted
    assert _run(c, _req(b, "b2")) == 32
    held = _req(list(range(200, 240)), "held")
    hits = c.lookup(held)
    assert c.admit(held, held.num_tokens - hits)
    assert c.usage() == 0.75


def test_radix_cache_prefix_lru_and_locking():
    c = RadixCache(capacity_tokens=100)
    a = list(range(40))
    assert _run(c, _req(a)) == 0
    assert _run(c, _req(a + [7, 8, 9])) == 40  # token-level: every shared token counts
    assert _run(c, _req(a[:20] + [500, 501])) == 20  # splits an edge
    assert c.usage() == 0.0  # everything is evictable
    big = _req(list(range(1000, 1090)))
    assert c.lookup(big) == 0 and c.admit(big, 90)  # evicts LRU leaves to make room
    assert c.usage() == 0.9
    other = _req(list(range(2000, 2020)))
    c.lookup(other)
    assert not c.admit(other, 20)  # only 10 slots left and nothing evictable but locked prefix


def test_radix_cache_shares_a_prompt_while_it_is_still_running():
    c = RadixCache(capacity_tokens=200)
    first = _req(list(range(50)), "first")
    c.lookup(first)
    assert c.admit(first, 50)
    first.num_computed_tokens = 50
    c.on_computed(first)  # prefill done, decode continues
    assert c.usage() == 0.25  # locked in the tree, not evictable
    second = _req(list(range(50)) + [99], "second")
    assert c.lookup(second) == 50
    assert c.admit(second, 1)
    first.output_token_ids.append(7)
    first.finish_reason = "length"
    c.free(first)
    second.finish_reason = "length"
    second.num_computed_tokens = 51
    c.free(second)
    assert c.usage() == 0.0 and c.private == 0 and c.tree_tokens == c.evictable


def test_block_cache_registers_blocks_when_scheduled_so_the_same_step_hits_them():
    # vLLM V1 caches a step's full blocks at allocation: a request scheduled after another in
    # the same step reuses that one's prefix instead of computing it again.
    c = BlockCache(capacity_tokens=16 * 20, block_size=16)
    prefix = list(range(64))
    first, second = _req(prefix + [1, 2, 3], "first"), _req(prefix + [4, 5, 6], "second")
    assert c.lookup(first) == 0 and c.admit(first, first.num_tokens)
    c.on_scheduled(first, first.num_tokens)  # nothing computed yet
    assert c.lookup(second) == 64
    # SGLang's radix tree holds tokens only once computed.
    r = RadixCache(capacity_tokens=400)
    first, second = _req(prefix + [1, 2, 3], "first"), _req(prefix + [4, 5, 6], "second")
    assert r.lookup(first) == 0 and r.admit(first, first.num_tokens)
    r.on_scheduled(first, first.num_tokens)
    assert r.lookup(second) == 0


def test_engine_step_computes_a_shared_prefix_once():
    from inference_gateway.simulator.engine import Engine
    from inference_gateway.simulator.profiles import get_profile

    class Quiet:
        def on_admitted(self, req, cached_tokens, queue_time): ...
        def on_first_token(self, req, ttft): ...
        def on_step(self, new_tokens, itls, prefill_tokens): ...
        def on_finished(self, req, e2e): ...
        def on_preempted(self, req): ...

    profile = get_profile("h100-32b")
    engine = Engine(profile, BlockCache(profile.kv_capacity_tokens), filler=None, observer=Quiet())
    prefix = list(range(2048))
    reqs = [_req(prefix + [10_000 + i] * 128, f"r{i}") for i in range(3)]
    for r in reqs:
        engine.submit(r)
    plan = engine._schedule(0.0)
    assert [n for _, n in plan.scheduled] == [2176, 128, 128]  # 2176 = 2048 + 128
    assert [r.num_cached_tokens for r in reqs] == [0, 2048, 2048]
