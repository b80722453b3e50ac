"""The C allocator under a long-running router: give freed memory back to the kernel.

Measured (bench/heap_growth.py, and the soak's prompt stream into the prefix index alone):
once the prefix index is full its live Python objects hold steady, yet RSS kept creeping. The
creep is glibc's, not Python's. Under churn the index's dicts are re-allocated whole (a
CPython dict that fills with deleted slots is rebuilt at 3x its live entries: 5-10 MB tables
here). glibc serves such big blocks with mmap, but each one freed raises its mmap threshold
to that size (the "dynamic threshold"), so the next tables come from the brk heap, whose
freed holes stay resident; gRPC's threads each fragment an arena of their own too. Pinning the
threshold keeps big blocks in mmap (returned on free), and a periodic malloc_trim(0) returns
the free pages of every arena. No-ops where the C library is not glibc.
"""

from __future__ import annotations

import ctypes

M_MMAP_THRESHOLD = -3  # glibc's mallopt() parameter number
MMAP_THRESHOLD = 128 * 1024  # glibc's own default, kept fixed instead of rising


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None)
        libc.malloc_trim, libc.mallopt  # noqa: B018 (present only in glibc)
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _glibc()


def pin_mmap_threshold() -> bool:
    """Keep blocks of 128 KiB and more in mmap for the life of the process."""
    return bool(_LIBC is not None and _LIBC.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                 "fordblks", "keepcost")]


def usage() -> tuple[int, int] | None:
    """glibc's own account (mallinfo2, all arenas): bytes allocated and in use (arenas and
    mmapped blocks), and bytes free but kept in its arenas. Memory that Python's objects do not
    explain shows here: live C allocations in the first, fragmentation in the second."""
    fn = getattr(_LIBC, "mallinfo2", None)
    if fn is None:
        return None
    fn.restype = _MallInfo2
    info = fn()
    return info.uordblks + info.hblkhd, info.fordblks


def trim() -> bool:
    """Return the allocator's free pages to the kernel (all arenas)."""
    return bool(_LIBC is not None and _LIBC.malloc_trim(0))
