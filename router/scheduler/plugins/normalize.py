"""Shared scaling for load scorers: least loaded → 1, most loaded → 0."""

from __future__ import annotations

from typing import Sequence


def inverse_minmax(values: Sequence[float]) -> list[float]:
    lo, hi = min(values), max(values)
    if hi - lo < 1e-9:
        return [1.0] * len(values)
    return [(hi - v) / (hi - lo) for v in values]
