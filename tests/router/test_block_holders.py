"""The compact layout of the prefix indexes (a bitmask of endpoints per block) answers exactly
as a set of addresses per block did, for many endpoints and as endpoints come and go."""

from __future__ import annotations

import random

from inference_gateway.router.precise_index import PreciseIndex
from inference_gateway.router.prefix_index import PrefixIndex


def reference_match(held: dict[str, list[int]], hashes: list[int]) -> dict[str, int]:
    """Leading blocks of `hashes` each endpoint holds, the plain way (0s left out)."""
    out = {}
    for address, blocks in held.items():
        have, depth = set(blocks), 0
        for h in hashes:
            if h not in have:
                break
            depth += 1
        if depth:
            out[address] = depth
    return out


def test_many_endpoints_coming_and_going_match_as_sets_would():
    rng = random.Random(7)
    index = PrefixIndex()
    held: dict[str, list[int]] = {}
    for step in range(400):
        address = f"10.0.{rng.randrange(3)}.{rng.randrange(12)}:8000"  # up to 36: masks wider than 8 bits
        prompt = [rng.randrange(4)] + [rng.randrange(1, 6) * 10 + i for i in range(rng.randrange(1, 6))]
        index.record(address, prompt)
        held.setdefault(address, []).extend(prompt)
        if step % 50 == 49:  # a third of the endpoints leave; their bits are freed and reused
            keep = {a for a in held if rng.random() < 0.66}
            index.retain(keep)
            held = {a: b for a, b in held.items() if a in keep}
        probe = [rng.randrange(4)] + [rng.randrange(1, 6) * 10 + i for i in range(5)]
        assert index.match(probe) == reference_match(held, probe)
    assert len(index._names) <= 36  # noqa: SLF001 (the bits did not grow past the endpoints)


def test_precise_index_frees_the_bit_of_a_cleared_pod():
    index = PreciseIndex()
    index.stored("a", [1, 2])
    index.stored("b", [1])
    index.clear("a")
    index.stored("c", [1, 2])  # takes a's freed bit: a must not match through it
    assert index.match([1, 2], ["a", "b", "c"]) == {"a": 0, "b": 1, "c": 2}
