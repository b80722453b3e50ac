"""Scheduling profiles: which filters, weighted scorers and picker each routing strategy uses.

The defaults decide by predicted cost (`plugins/cost_scorer.py`): each pod's cost is the prefill
work the request would add there (given the prefix it holds), the work queued ahead of it and
the KV room it lacks, all in tokens; the cheapest pod wins. `prefix-cost` and `precise-cost`
count the prefix a pod holds (estimate index or the pods' KV events); `load-cost` counts none.
A cost profile needs no saturation filter: KV room and queues are terms of the cost, so a hot
prefix is not pushed off its pod just because every pod's KV is over 80 %.

The weighted scorers of the Inference Extension stay selectable from a profile config file
(`config.py`), e.g. `PREFIX_CACHE: {prefix: 3, queue: 2, kv-cache: 2, in-flight: 1}`
(`LEGACY_WEIGHTS`): those profiles keep the saturation filter in front. `bench/REPORT.md`
measures both side by side on KV-constrained pods.

`python -P bench/weights.py` was the measurement behind the legacy weights (8 simulated pods
with ample KV, 24 shared-prefix groups at 170 req/s; mean / p90 latency, prefix blocks hit):
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
from .plugins.cost_scorer import CostScorer
from .plugins.in_flight_scorer import InFlightScorer
from .plugins.kv_cache_scorer import KVCacheScorer
from .plugins.max_score_picker import MaxScorePicker
from .plugins.precise_prefix_scorer import PrecisePrefixScorer
from .plugins.prefix_scorer import PrefixScorer
from .plugins.queue_scorer import QueueScorer
from .plugins.saturation_filter import SaturationFilter
from .types import Filter, Picker, Scorer

DEFAULT_WEIGHTS: dict[Strategy, dict[str, float]] = {
    Strategy.DEFAULT: {"load-cost": 1.0},
    Strategy.PREFIX_CACHE: {"prefix-cost": 1.0},
    Strategy.PRECISE_PREFIX_CACHE: {"precise-cost": 1.0},
}
# The weighted scorers the defaults replaced (the Inference Extension's balance plus our
# in-flight scorer); selectable from a profile config file.
LEGACY_WEIGHTS: dict[Strategy, dict[str, float]] = {
    Strategy.DEFAULT: {"queue": 2.0, "kv-cache": 2.0, "in-flight": 1.0},
    Strategy.PREFIX_CACHE: {"prefix": 3.0, "queue": 2.0, "kv-cache": 2.0, "in-flight": 1.0},
    Strategy.PRECISE_PREFIX_CACHE: {"precise-prefix": 3.0, "queue": 2.0, "kv-cache": 2.0, "in-flight": 1.0},
}
COST_SCORERS = frozenset({"load-cost", "prefix-cost", "precise-cost"})


@dataclass(frozen=True)
class Profile:
    name: str
    scorers: tuple[tuple[Scorer, float], ...]
    picker: Picker
    filters: tuple[Filter, ...] = field(default=())


def scorer_factories(prefix_index: PrefixIndex, precise: Precise | None = None) -> dict[str, object]:
    """Every scorer a profile may name."""
    precise = precise or Precise()

    def precise_prefix() -> PrecisePrefixScorer:
        return PrecisePrefixScorer(precise.index, PrefixScorer(prefix_index), precise.tokenizer, precise.template)

    return {"queue": QueueScorer, "kv-cache": KVCacheScorer, "in-flight": InFlightScorer,
            "prefix": lambda: PrefixScorer(prefix_index), "precise-prefix": precise_prefix,
            "load-cost": CostScorer, "prefix-cost": lambda: CostScorer(PrefixScorer(prefix_index)),
            "precise-cost": lambda: CostScorer(precise_prefix())}


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
        by_cost = bool(COST_SCORERS & {n for n, v in w.items() if v})
        profiles[strategy] = Profile(strategy.value, scorers, picker, () if by_cost else filters)
    return profiles


def default_profiles(prefix_index: PrefixIndex, picker: Picker | None = None) -> dict[Strategy, Profile]:
    return build_profiles(prefix_index, DEFAULT_WEIGHTS, picker)
