"""The simulated SGLang engine announces its radix tree as SGLang does (one BlockStored per
token at the default page size 1, chained SHA-256 hashes; BlockRemoved on eviction;
AllBlocksCleared on reset). tests/router/test_kv_event_subscriber.py follows a live one."""

from inference_gateway.simulator import kv_events as ev
from inference_gateway.simulator.radix_cache import RadixCache
from inference_gateway.simulator.request import SimRequest


def finish(cache: RadixCache, tokens: list[int]) -> None:
    """One request through the cache: lookup, admit, compute, finish."""
    req = SimRequest("r", tokens, max_tokens=1, arrival_time=0.0)
    hit = cache.lookup(req)
    assert cache.admit(req, len(tokens) - hit)
    req.num_computed_tokens = len(tokens)
    req.finish_reason = "stop"
    cache.free(req)


def test_radix_tree_events_follow_sglang():
    cache = RadixCache(capacity_tokens=12, emit_events=True)
    finish(cache, [1, 2, 3, 4, 5])
    stored = cache.take_events()
    assert [type(e) for e in stored] == [ev.BlockStored] * 5
    chain = []
    prior = None
    for token, event in zip([1, 2, 3, 4, 5], stored):
        parent = ev.sglang_event_hash(prior) if prior else None
        prior = ev.sglang_page_digest(prior, [token])
        chain.append(ev.sglang_event_hash(prior))
        assert (event.block_hashes, event.parent_block_hash, event.token_ids, event.block_size) == \
            ([chain[-1]], parent, [token], 1)
    # A branch off the shared prefix chains from the node it splits (no events for the split).
    finish(cache, [1, 2, 9, 9])
    branch = cache.take_events()
    assert [e.token_ids for e in branch] == [[9], [9]] and branch[0].parent_block_hash == chain[1]
    # Filling the cache evicts the least recently used leaf: one BlockRemoved per token.
    finish(cache, [7] * 6)
    events = cache.take_events()
    removed = [h for e in events if isinstance(e, ev.BlockRemoved) for h in e.block_hashes]
    assert removed == chain[2:]
    assert cache.reset() and isinstance(cache.take_events()[-1], ev.AllBlocksCleared)
