"""Which KV blocks each pod really holds, from its KV events ("precise" prefix mode).

Unlike the estimate index, nothing is guessed: a block is held from its BlockStored event until
its BlockRemoved (or AllBlocksCleared). A request is matched by hashing its tokens exactly as
the pod does (router/tokenization.py). A pod that has published nothing is `known`-less, and
the scorer falls back to the estimate index for it.
"""

from __future__ import annotations

from typing import Iterable

from .block_holders import BlockHolders


class PreciseIndex(BlockHolders):
    def __init__(self) -> None:
        super().__init__()
        self._blocks: dict[str, set[int]] = {}
        self.block_size: dict[str, int] = {}
        # How each pod hashes its blocks ("vllm" or "sglang", its pool's runtime); set by the
        # KV-event subscriber, read by the scorer to hash prompts the same way.
        self.scheme: dict[str, str] = {}

    def known(self, address: str) -> bool:
        """Has the pod told us anything since we (re)connected?"""
        return address in self._blocks

    def stored(self, address: str, hashes: Iterable[int], block_size: int | None = None) -> None:
        blocks = self._blocks.setdefault(address, set())
        if block_size:
            self.block_size[address] = int(block_size)
        for h in hashes:
            if h not in blocks:
                blocks.add(h)
                self._add(address, h)

    def removed(self, address: str, hashes: Iterable[int]) -> None:
        blocks = self._blocks.setdefault(address, set())
        for h in hashes:
            if h in blocks:
                blocks.discard(h)
                self._drop(address, h)

    def clear(self, address: str, known: bool = True) -> None:
        """Drop every block of the pod. `known`: the pod said so (AllBlocksCleared), as opposed
        to us having lost track (gap, reconnect), when it must fall back to estimates."""
        for h in self._blocks.pop(address, ()):
            self._drop(address, h)
        self._forget(address)
        if known:
            self._blocks[address] = set()

    def retain(self, addresses: set[str]) -> None:
        for address in [a for a in self._blocks if a not in addresses]:
            self.clear(address, known=False)

    def __len__(self) -> int:
        return sum(len(b) for b in self._blocks.values())
