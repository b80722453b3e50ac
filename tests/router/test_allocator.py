"""The router's allocator housekeeping (router/allocator.py) does what it says on glibc."""

from __future__ import annotations

from inference_gateway.router import allocator


def rss_mb() -> float:
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20


def test_trim_returns_the_holes_that_freed_blocks_leave_in_the_heap():
    if allocator._LIBC is None:  # noqa: SLF001 (not glibc: both are no-ops)
        assert not allocator.trim() and not allocator.pin_mmap_threshold() and allocator.usage() is None
        return
    assert allocator.pin_mmap_threshold()
    in_use = allocator.usage()[0]  # type: ignore[index]
    churned = [bytes(1000) for _ in range(20_000)]  # 20 MB of malloc'd blocks (above pymalloc's 512 B)
    kept = bytes(1000)  # allocated after them: the freed ones become a hole, not the heap's top
    assert allocator.usage()[0] - in_use > 15 * 2**20  # type: ignore[index]
    del churned
    assert allocator.usage()[1] > 15 * 2**20  # type: ignore[index] (free, but kept by glibc)
    before = rss_mb()  # free() keeps a hole resident
    assert allocator.trim()
    assert before - rss_mb() > 10
    assert kept == bytes(1000)
