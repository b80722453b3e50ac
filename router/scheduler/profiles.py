"""Scheduling profiles: which filters, weighted scorers and picker each routing strategy uses.

Weights follow the Inference Extension's defaults (queue ×2, KV ×2, prefix ×3) plus our own
in-flight scorer ×1. Both profiles first drop saturated pods (when any pod is not saturated),
and the prefix scorer never stands alone, so a hot prefix cannot pile onto one saturated pod. They can be changed with a profile config file (see `config.py`).

`python -P bench/weights.py` is the measurement behind the defaults (the real scheduler, 8
simulated pods, 24 shared-prefix groups at 170 req/s; mean / p90 latency, prefix blocks hit):
load only 0/2/2/1: 285 / 410 ms, 31.7 %; prefix 1/2/2/1: 263 / 386 ms, 37.0 %;
**3/2/2/1: 234 / 346 ms, 42.9 %**; 3/2/2/0 (no in-flight scorer): 366 / 661 ms, 39.0 %;
5/2/2/1 and 10/2/2/1: 236 / 353 ms, 43.5 %.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from ..precise_index import PreciseIndex
from ..prefix_index import PrefixIndex
from ..tokenization import ChatTemplate, PieceHashTokenizer, Tokenizer
from ..table import Strategy
from .plugins.in_flight_scorer import InFlightScorer
from .plugins.kv_cache_scorer import KVCacheScorer
from .plugins.max_score_picker import MaxScorePicker
from .plugins.precise_prefix_scorer import PrecisePrefixScorer
from .plugins.prefix_scorer import PrefixScorer
from .plugins.queue_scorer import QueueScorer
from .plugins.saturation_filter import SaturationFilter
from .types import Filter, Picker, Scorer

DEFAULT_WEIGHTS: dict[Strategy, dict[str, float]] = {
    Strategy.DEFAULT: {"queue": 2.0, "kv-cache": 2.0, "in-flight": 1.0},
    Strategy.PREFIX_CACHE: {"prefix": 3.0, "queue": 2.0, "kv-cache": 2.0, "in-flight": 1.0},
    # The same balance with the pods' own KV events in place of estimates.
    Strategy.PRECISE_PREFIX_CACHE: {"precise-prefix": 3.0, "queue": 2.0, "kv-cache": 2.0, "in-flight": 1.0},
}


@dataclass(frozen=True)
class Profile:
    name: str
    scorers: tuple[tuple[Scorer, float], ...]
    picker: Picker
    filters: tuple[Filter, ...] = field(default=())


def scorer_factories(prefix_index: PrefixIndex, precise: Precise | None = None) -> dict[str, object]:
    """Every scorer a profile may name."""
    precise = precise or Precise()
    return {"queue": QueueScorer, "kv-cache": KVCacheScorer, "in-flight": InFlightScorer,
            "prefix": lambda: PrefixScorer(prefix_index),
            "precise-prefix": lambda: PrecisePrefixScorer(precise.index, PrefixScorer(prefix_index),
                                                          precise.tokenizer, precise.template)}


@dataclass(frozen=True)
class Precise:
    """What precise prefix mode needs: the KV-event index, and the model server's tokenizer and
    chat template (defaults: our simulator's)."""

    index: PreciseIndex = field(default_factory=PreciseIndex)
    tokenizer: Tokenizer = field(default_factory=PieceHashTokenizer)
    template: ChatTemplate = field(default_factory=ChatTemplate)


def build_profiles(prefix_index: PrefixIndex, weights: Mapping[Strategy, Mapping[str, float]] | None = None,
                   picker: Picker | None = None, saturation: SaturationFilter | None = None,
                   precise: Precise | None = None) -> dict[Strategy, Profile]:
    picker = picker or MaxScorePicker()
    filters = (saturation or SaturationFilter(),)
    factories = scorer_factories(prefix_index, precise)
    weights = weights or DEFAULT_WEIGHTS
    profiles = {}
    for strategy in Strategy:
        w = weights.get(strategy, DEFAULT_WEIGHTS[strategy])
        unknown = set(w) - set(factories)
        if unknown:
            raise ValueError(f"profile {strategy}: unknown scorer(s) {sorted(unknown)}; known: {sorted(factories)}")
        scorers = tuple((factories[n](), float(v)) for n, v in w.items() if v)
        profiles[strategy] = Profile(strategy.value, scorers, picker, filters)
    return profiles


def default_profiles(prefix_index: PrefixIndex, picker: Picker | None = None) -> dict[Strategy, Profile]:
    return build_profiles(prefix_index, DEFAULT_WEIGHTS, picker)
