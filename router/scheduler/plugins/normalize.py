"""Shared scaling for load scorers: least loaded → 1, most loaded → 0."""

from __future__ import annotations

from typing import Sequence


def inverse_minmax(values: Sequence[float]) -> list[float] | None:
    """None when all values are equal: no preference (the scheduler then skips this scorer)."""
    lo, hi = min(values), max(values)
    if hi - lo < 1e-9:
        return None
    span = hi - lo
    return [(hi - v) / span for v in values]
