"""vLLM-style paged KV cache with automatic prefix caching.

Semantics kept from vLLM V1's block pool:
- KV lives in fixed blocks of `block_size` tokens; only full blocks are cached, keyed by a
  hash chained over (parent hash, block token ids);
- a lookup walks the chain and stops at the first miss, and never covers the prompt's last
  token (it must be computed to sample from it);
- freed blocks keep their hash and go to the tail of the free queue; allocation takes from
  the head, so cached blocks are evicted least-recently-freed first;
- KV usage counts cached-but-free blocks as free;
- a step's full blocks are registered when the step's slots are allocated, before the step
  runs (vLLM V1's `KVCacheManager.allocate_slots` caches up to the tokens the step will have
  computed), so a request scheduled after them, even in the same step, hits them. A burst of
  requests sharing a prompt prefix computes that prefix once, not once per request that
  happened to be admitted in the same step. KV that arrives by transfer (prefill/decode) is
  registered only once it is there (vLLM's `delay_cache_blocks`), by `on_computed`.
Store/evict events are queued for the KV-event publisher.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from .kv_events import AllBlocksCleared, BlockRemoved, BlockStored, KVEvent, block_hash
from .request import SimRequest


@dataclass
class _ReqBlocks:
    blocks: list[int] = field(default_factory=list)
    hashes: list[int] = field(default_factory=list)  # chained hashes of the request's full blocks
    committed: int = 0  # leading blocks already registered in the cache
    hit_blocks: list[int] = field(default_factory=list)  # from the last lookup


class BlockCache:
    def __init__(self, capacity_tokens: int, block_size: int = 16, emit_events: bool = False) -> None:
        self.block_size = block_size
        self.num_blocks = max(1, capacity_tokens // block_size)
        self._ref = [0] * self.num_blocks
        self._hash: list[int | None] = [None] * self.num_blocks
        self._free: OrderedDict[int, None] = OrderedDict((i, None) for i in range(self.num_blocks))
        self._cached: dict[int, int] = {}  # block hash -> block id
        self._emit = emit_events
        self.events: list[KVEvent] = []

    # -- queries ---------------------------------------------------------------------------
    @property
    def capacity_tokens(self) -> int:
        return self.num_blocks * self.block_size

    def usage(self) -> float:
        return 1.0 - len(self._free) / self.num_blocks

    @property
    def num_cached_blocks(self) -> int:
        return len(self._cached)

    def _state(self, req: SimRequest) -> _ReqBlocks:
        if req.kv is None:
            req.kv = _ReqBlocks()
        return req.kv

    def _hashes_upto(self, req: SimRequest, n_blocks: int) -> list[int]:
        st = self._state(req)
        bs = self.block_size
        while len(st.hashes) < n_blocks:
            i = len(st.hashes)
            parent = st.hashes[-1] if st.hashes else None
            st.hashes.append(block_hash(parent, req.tokens(i * bs, (i + 1) * bs)))
        return st.hashes

    def lookup(self, req: SimRequest) -> int:
        """Tokens of `req` already cached (whole blocks, never the last token)."""
        st = self._state(req)
        max_blocks = (req.num_tokens - 1) // self.block_size
        hits: list[int] = []
        for h in self._hashes_upto(req, max_blocks)[:max_blocks]:
            b = self._cached.get(h)
            if b is None:
                break
            hits.append(b)
        st.hit_blocks = hits
        return len(hits) * self.block_size

    # -- allocation ------------------------------------------------------------------------
    def _blocks_for(self, num_tokens: int) -> int:
        return -(-num_tokens // self.block_size)

    def _pop_free(self) -> int:
        b, _ = self._free.popitem(last=False)
        h = self._hash[b]
        if h is not None:  # evict a cached block
            self._hash[b] = None
            if self._cached.get(h) == b:
                del self._cached[h]
                if self._emit:
                    self.events.append(BlockRemoved(block_hashes=[h]))
        self._ref[b] = 1
        return b

    def admit(self, req: SimRequest, num_new_tokens: int) -> bool:
        """Take the blocks found by `lookup` plus room for `num_new_tokens`; all or nothing."""
        st = self._state(req)
        hits = st.hit_blocks
        need_new = self._blocks_for(len(hits) * self.block_size + num_new_tokens) - len(hits)
        hits_in_free = sum(1 for b in hits if self._ref[b] == 0)
        if len(self._free) - hits_in_free < need_new:
            return False
        for b in hits:
            if self._ref[b] == 0:
                del self._free[b]
            self._ref[b] += 1
        st.blocks = list(hits) + [self._pop_free() for _ in range(need_new)]
        st.committed = len(hits)
        st.hit_blocks = []
        return True

    def allocate(self, req: SimRequest, num_new_tokens: int) -> bool:
        """Room for `num_new_tokens` more tokens of a running request; all or nothing."""
        st = self._state(req)
        need = self._blocks_for(req.num_computed_tokens + num_new_tokens) - len(st.blocks)
        if need > len(self._free):
            return False
        st.blocks.extend(self._pop_free() for _ in range(need))
        return True

    def on_scheduled(self, req: SimRequest, num_tokens: int) -> None:
        """Register the blocks the step just allocated for will fill: `num_tokens` is what the
        request will have computed once the step runs (vLLM V1 caches at allocation)."""
        self._commit(req, num_tokens)

    def on_computed(self, req: SimRequest) -> None:
        """Register blocks that became full of computed tokens in the prefix cache."""
        self._commit(req, req.num_computed_tokens)

    def _commit(self, req: SimRequest, num_tokens: int) -> None:
        st = self._state(req)
        full = min(num_tokens // self.block_size, len(st.blocks))
        if full <= st.committed:
            return
        hashes = self._hashes_upto(req, full)
        run_hashes: list[int] = []
        run_start = st.committed
        for i in range(st.committed, full):
            h = hashes[i]
            b = st.blocks[i]
            if h in self._cached or self._hash[b] is not None:
                # Same content already cached by another request: vLLM leaves this copy
                # uncached. Close the current event run.
                self._flush_run(req, run_start, run_hashes)
                run_hashes, run_start = [], i + 1
                continue
            self._hash[b] = h
            self._cached[h] = b
            run_hashes.append(h)
        self._flush_run(req, run_start, run_hashes)
        st.committed = full

    def _flush_run(self, req: SimRequest, start: int, hashes: list[int]) -> None:
        if not self._emit or not hashes:
            return
        st: _ReqBlocks = req.kv
        bs = self.block_size
        self.events.append(
            BlockStored(
                block_hashes=list(hashes),
                parent_block_hash=st.hashes[start - 1] if start > 0 else None,
                token_ids=req.tokens(start * bs, (start + len(hashes)) * bs),
                block_size=bs,
            )
        )

    def free(self, req: SimRequest) -> None:
        """Release a request's blocks; hashed ones stay cached until evicted."""
        st = req.kv
        if st is None:
            return
        # Tail blocks first, so a request's last blocks are evicted before its first ones.
        for b in reversed(st.blocks):
            self._ref[b] -= 1
            if self._ref[b] == 0:
                self._free[b] = None
        st.blocks = []
        st.committed = 0
        st.hit_blocks = []

    def reset(self) -> bool:
        """Drop every cached-but-free block (vLLM's /reset_prefix_cache)."""
        if any(self._ref):
            return False
        self._cached.clear()
        self._hash = [None] * self.num_blocks
        if self._emit:
            self.events.append(AllBlocksCleared())
        return True

    def take_events(self) -> list[KVEvent]:
        ev, self.events = self.events, []
        return ev
