"""What both prefix indexes share: which endpoints hold each block hash, and the lookup of how
many leading blocks of a prompt each endpoint holds. Like vLLM's own lookup the walk stops at
the first block an endpoint lacks, because a chained hash names the whole prefix up to it.
The estimate index (LRU of what the router sent) and the precise index (the pods' KV events)
differ only in how blocks come and go.

Memory layout: an index at capacity holds hundreds of thousands of blocks, so each block costs
one dict entry whose value is a bitmask of the endpoints holding it (bit n = the n-th endpoint
seen). A `set` of addresses per block cost 216 bytes more; masks of up to 8 endpoints are
CPython's cached small ints and allocate nothing. An endpoint's bit is freed when its last
block goes (`_forget`), so endpoints that come and go do not widen the masks."""

from __future__ import annotations

from typing import Iterable


class BlockHolders:
    def __init__(self) -> None:
        self._holders: dict[int, int] = {}   # block hash → bitmask of the endpoints holding it
        self._bits: dict[str, int] = {}      # address → its bit
        self._names: list[str | None] = []   # bit number → address (None: free)

    def _bit(self, address: str) -> int:
        bit = self._bits.get(address)
        if bit is None:
            try:
                n = self._names.index(None)
                self._names[n] = address
            except ValueError:
                n = len(self._names)
                self._names.append(address)
            bit = self._bits[address] = 1 << n
        return bit

    def _forget(self, address: str) -> None:
        """The endpoint holds no block any more: its bit may go to another."""
        bit = self._bits.pop(address, None)
        if bit is not None:
            self._names[bit.bit_length() - 1] = None

    def _add(self, address: str, h: int) -> None:
        holders = self._holders
        holders[h] = holders.get(h, 0) | self._bit(address)

    def _drop(self, address: str, h: int) -> None:
        have = self._holders.get(h)
        bit = self._bits.get(address)
        if have is not None and bit is not None:
            have &= ~bit
            if have:
                self._holders[h] = have
            else:
                del self._holders[h]

    def _named(self, mask: int, depth: int, into: dict[str, int]) -> None:
        names = self._names
        while mask:
            low = mask & -mask
            into[names[low.bit_length() - 1]] = depth  # type: ignore[index]
            mask ^= low

    def match(self, hashes: list[int], addresses: Iterable[str] | None = None) -> dict[str, int]:
        """Leading blocks of `hashes` each address holds. Only addresses that hold at least
        the first block are walked (a few, however large the pool), so the cost does not grow
        with the pool; with `addresses`, every one of them gets an entry (0 when absent)."""
        matched: dict[str, int] = {}
        holders = self._holders
        active = 0
        depth = 0
        for h in hashes:
            have = holders.get(h, 0)
            if not have:
                break
            if not depth:
                active = have
            else:
                if active & ~have:  # they stop matching here
                    self._named(active & ~have, depth, matched)
                active &= have
                if not active:
                    break
            depth += 1
        self._named(active, depth, matched)  # still matching where the walk stopped
        if addresses is not None:
            return {a: matched.get(a, 0) for a in addresses}
        return matched
