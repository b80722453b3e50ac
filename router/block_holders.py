"""What both prefix indexes share: which endpoints hold each block hash, and the lookup of how
many leading blocks of a prompt each endpoint holds. Like vLLM's own lookup the walk stops at
the first block an endpoint lacks, because a chained hash names the whole prefix up to it.
The estimate index (LRU of what the router sent) and the precise index (the pods' KV events)
differ only in how blocks come and go."""

from __future__ import annotations

from typing import Iterable


class BlockHolders:
    def __init__(self) -> None:
        self._holders: dict[int, set[str]] = {}

    def _add(self, address: str, h: int) -> None:
        self._holders.setdefault(h, set()).add(address)

    def _drop(self, address: str, h: int) -> None:
        have = self._holders.get(h)
        if have is not None:
            have.discard(address)
            if not have:
                del self._holders[h]

    def match(self, hashes: list[int], addresses: Iterable[str] | None = None) -> dict[str, int]:
        """Leading blocks of `hashes` each address holds. Only addresses that hold at least
        the first block are walked (a few, however large the pool), so the cost does not grow
        with the pool; with `addresses`, every one of them gets an entry (0 when absent)."""
        matched: dict[str, int] = {}
        holders = self._holders
        active: set[str] | None = None
        depth = 0
        for h in hashes:
            have = holders.get(h)
            if not have:
                break
            if active is None:
                active = set(have)
            else:
                for address in active - have:  # they stop matching here
                    matched[address] = depth
                active &= have
                if not active:
                    break
            depth += 1
        for address in active or ():  # still matching where the walk stopped
            matched[address] = depth
        if addresses is not None:
            return {a: matched.get(a, 0) for a in addresses}
        return matched
