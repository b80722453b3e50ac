"""Number formatting shared by the bench's tables."""

from __future__ import annotations

from typing import Any


def _s(v: float | None) -> str:
    return "–" if v is None else (f"{v:.2f}" if v < 10 else f"{v:.1f}")


def _x(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}×"


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f}%"


def _hit(row: dict[str, Any]) -> str:
    """The median hit rate, and its spread over repeats when there were several."""
    rates = row.get("hit_rates") or []
    spread = f" (±{50 * (max(rates) - min(rates)):.1f})" if len(rates) > 1 else ""
    return _pct(row.get("hit_rate")) + spread


def _n(v: float | None) -> str:
    return "–" if v is None else f"{v:.0f}"


def _model_counts(row: dict[str, Any], model: str) -> dict[str, int]:
    return (row.get("per_model") or {}).get(model, {})
