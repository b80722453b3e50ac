"""The data a scheduling cycle works on, and the three kinds of plugin it is built from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

from ..endpoint_state import EndpointMetrics
from ..step_cost import DEFAULT_TOKENS_PER_RUNNING
from ..table import Criticality, Endpoint

DEFAULT_OUTPUT_TOKENS = 256  # assumed when a request does not bound its output


@dataclass(slots=True)
class Candidate:
    endpoint: Endpoint
    metrics: EndpointMetrics | None  # None: never scraped or stale, so assume the worst
    in_flight: int = 0               # requests this router sent there that have not finished
    since_scrape: int = 0            # requests this router sent there since its last scrape
    committed: float = 0.0           # KV tokens those in flight will hold by their end (EndpointState)


@dataclass(slots=True)
class SchedulingRequest:
    model: str            # as the client asked
    target_model: str     # as the model server will see it
    prompt: str
    criticality: Criticality = Criticality.STANDARD
    # The OpenAI body, for plugins that must render it exactly as the model server does.
    body: dict | None = None
    # Filled by the prefix plugin on first use, then reused to record the pick.
    prefix_hashes: list[int] | None = None
    # Set by the prefix plugin after the pick: share of the prompt's blocks the chosen pod held.
    prefix_hit_ratio: float | None = None
    extras: dict[str, object] = field(default_factory=dict)
    # What one more running request costs a pod's steps, in prefill tokens (router/step_cost.py,
    # fitted from the pods' metrics): the scheduler sets it before scoring.
    tokens_per_running: float = DEFAULT_TOKENS_PER_RUNNING

    def output_tokens(self) -> int:
        """The output room the request asks for (`max_completion_tokens`/`max_tokens`): the KV it
        will take on the pod besides its prompt."""
        body = self.body or {}
        for key in ("max_completion_tokens", "max_tokens"):
            value = body.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
        return DEFAULT_OUTPUT_TOKENS


class Filter(Protocol):
    name: str

    def filter(self, request: SchedulingRequest, candidates: list[Candidate]) -> list[Candidate]: ...


class Scorer(Protocol):
    name: str

    def score(self, request: SchedulingRequest, candidates: list[Candidate]) -> Sequence[float] | None:
        """One score in [0, 1] per candidate, higher is better; None when the scorer has no
        preference (every candidate scores the same), which the scheduler skips."""
        ...


class Picker(Protocol):
    name: str

    def pick(self, candidates: list[Candidate], scores: Sequence[float]) -> Candidate: ...

