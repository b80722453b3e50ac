"""Scheduling profiles: which filters, weighted scorers and picker each routing strategy uses.

Weights follow the Inference Extension's defaults (queue ×2, KV ×2, prefix ×3) plus our own
in-flight scorer; the prefix scorer never stands alone, so a hot prefix cannot pile onto one
saturated pod.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..prefix_index import PrefixIndex
from ..table import Strategy
from .plugins.in_flight_scorer import InFlightScorer
from .plugins.kv_cache_scorer import KVCacheScorer
from .plugins.max_score_picker import MaxScorePicker
from .plugins.prefix_scorer import PrefixScorer
from .plugins.queue_scorer import QueueScorer
from .types import Filter, Picker, Scorer


@dataclass(frozen=True)
class Profile:
    name: str
    scorers: tuple[tuple[Scorer, float], ...]
    picker: Picker
    filters: tuple[Filter, ...] = field(default=())


def default_profiles(prefix_index: PrefixIndex, picker: Picker | None = None) -> dict[Strategy, Profile]:
    picker = picker or MaxScorePicker()
    load = ((QueueScorer(), 2.0), (KVCacheScorer(), 2.0), (InFlightScorer(), 1.0))
    return {
        Strategy.DEFAULT: Profile("load-aware", load, picker),
        Strategy.PREFIX_CACHE: Profile("prefix-cache", ((PrefixScorer(prefix_index), 3.0),) + load, picker),
    }
