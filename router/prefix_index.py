"""Which prompt prefixes each endpoint probably holds in its KV cache ("estimate" mode).

The router cannot see a pod's cache, so it remembers what it sent where: a prompt is cut into
fixed-size character blocks, each block's hash chained to the previous one (so a hash names
the whole prefix up to it) and seeded with the target model (two models never share a cache).
Every pick records the prompt's hashes against the chosen endpoint in a bounded per-endpoint
LRU, sized like the pod's real cache when it reports one. Matching counts, per endpoint, how
many leading blocks of a new prompt it holds; like vLLM's lookup it stops at the first miss.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Iterator

import xxhash

from .block_holders import BlockHolders

BLOCK_CHARS = 64          # ~16 tokens at ~4 characters per token: one vLLM KV block
MAX_BLOCKS = 2048         # 128 KiB of prompt; beyond that the prefix is surely decided
DEFAULT_CAPACITY = 31_250  # blocks per endpoint when the pod does not report its cache size
CHARS_PER_TOKEN = 4


def block_hashes(text: str, model: str, block_chars: int = BLOCK_CHARS, max_blocks: int = MAX_BLOCKS) -> list[int]:
    """Chained hashes of the prompt's full blocks (a partial last block is never cached)."""
    prev = xxhash.xxh3_64_intdigest(model.encode())
    n = min(len(text) // block_chars, max_blocks)
    out = [0] * n
    for i in range(n):
        prev = xxhash.xxh3_64_intdigest(text[i * block_chars:(i + 1) * block_chars].encode(), prev)
        out[i] = prev
    return out


def capacity_from_cache(tokens: float) -> int:
    """A pod's KV capacity in tokens (EndpointMetrics.kv_capacity; 0: not reported) in our
    character blocks."""
    if not tokens:
        return DEFAULT_CAPACITY
    return max(1, int(tokens) * CHARS_PER_TOKEN // BLOCK_CHARS)


class PrefixIndex(BlockHolders):
    def __init__(self) -> None:
        super().__init__()
        self._lru: dict[str, OrderedDict[int, None]] = {}
        self._capacity: dict[str, int] = {}
        self._churn = 0
        # Told of every local pick (router/peer_sync.py publishes it to the other replicas);
        # what they publish comes back through apply(), which tells no one.
        self.on_record: Callable[[str, list[int]], None] | None = None

    def __len__(self) -> int:
        return sum(len(lru) for lru in self._lru.values())

    def set_capacity(self, address: str, blocks: int) -> None:
        self._capacity[address] = blocks

    def capacity(self, address: str) -> int | None:
        return self._capacity.get(address)

    def record(self, address: str, hashes: list[int], output_tokens: int = 0) -> None:
        self.apply(address, hashes, output_tokens)
        if self.on_record is not None:
            self.on_record(address, hashes)

    def export(self) -> Iterator[tuple[str, list[int]]]:
        """Each endpoint's blocks, least recently used first: apply()ing them in this order
        rebuilds the same LRU elsewhere (the room answers took is not exported)."""
        for address, lru in list(self._lru.items()):
            yield address, [h for h in lru if h >= 0]

    def apply(self, address: str, hashes: list[int], output_tokens: int = 0) -> None:
        """The pod now holds `hashes`, most recent last. Its answer takes cache room too
        (`output_tokens`, in blocks), so that much of the oldest content is aged out: under
        churn the pod evicts what it was sent long ago, and so must this estimate."""
        lru = self._lru.get(address)
        if lru is None:
            lru = self._lru[address] = OrderedDict()
        for h in hashes:
            if h in lru:
                lru.move_to_end(h)
            else:
                lru[h] = None
                self._add(address, h)
        for _ in range(output_tokens * CHARS_PER_TOKEN // BLOCK_CHARS):
            self._churn -= 1  # a key no prompt hash can equal (hashes are unsigned)
            lru[self._churn] = None
        capacity = self._capacity.get(address, DEFAULT_CAPACITY)
        while len(lru) > capacity:
            self._drop(address, lru.popitem(last=False)[0])

    def retain(self, addresses: set[str]) -> None:
        """Forget endpoints that left: their cache left with them."""
        for address in [a for a in self._lru if a not in addresses]:
            for h in self._lru.pop(address):
                self._drop(address, h)
            self._forget(address)
            self._capacity.pop(address, None)
