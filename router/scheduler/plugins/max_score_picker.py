"""Picks the highest total score; equals are broken at random so an idle fleet spreads load."""

from __future__ import annotations

import random
from typing import Sequence

from ..types import Candidate

EPSILON = 1e-9


class MaxScorePicker:
    name = "max-score"

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()

    def pick(self, candidates: list[Candidate], scores: Sequence[float]) -> Candidate:
        threshold = max(scores) - EPSILON
        top = [c for c, s in zip(candidates, scores) if s >= threshold]
        return top[0] if len(top) == 1 else self.rng.choice(top)
