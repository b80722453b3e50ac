"""The lookup both prefix indexes share: how many leading blocks of a prompt each endpoint
holds, given which endpoints hold each block hash. Like vLLM's own lookup it stops at the
first block an endpoint lacks, because a chained hash names the whole prefix up to it."""

from __future__ import annotations

from typing import Iterable, Mapping


def leading_matches(holders: Mapping[int, set[str]], hashes: list[int], addresses: Iterable[str]) -> dict[str, int]:
    active = set(addresses)
    matched = dict.fromkeys(active, 0)
    depth = 0
    for h in hashes:
        have = holders.get(h)
        if not have:
            break
        for address in active - have:  # they stop matching here
            matched[address] = depth
        active &= have
        if not active:
            break
        depth += 1
    for address in active:  # still matching where the walk stopped
        matched[address] = depth
    return matched
