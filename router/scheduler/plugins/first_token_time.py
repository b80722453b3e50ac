"""How long the pool's requests take to reach their first token, from the TTFT histograms the
pods export (`..._time_to_first_token_seconds` `_sum` and `_count`).

The cost scorer counts a request it sent as prefill still ahead on its pod until about this
long after the send: the pod's scraped queue does not show a request it has admitted and is
prefilling, and that prefill delays every request sent there meanwhile.

One figure for the whole pool, on purpose. A per-pod figure scales each pod by its own recent
queueing, which feeds back: a pod that was slow is avoided, looks fast, draws a burst
(`bench/sim_time.py` measured that loop when each pod's cost was scaled by its TTFT).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..types import Candidate

DECAY = 0.8         # weight of the history against each new scrape's first tokens
MAX_S = 30.0        # a pod that stalled must not make every send count as pending for minutes


@dataclass(slots=True)
class _Seen:
    updated_at: float
    ttft_sum: float
    ttft_count: float


class FirstTokenTime:
    def __init__(self) -> None:
        self._pods: dict[str, _Seen] = {}
        self.seconds = 0.0  # 0 until the pods have reported first tokens

    def observe(self, c: Candidate) -> None:
        """Fold in the first tokens a pod reported since its previous scrape."""
        m = c.metrics
        if m is None:
            return
        seen = self._pods.get(c.endpoint.address)
        if seen is None:  # the pod's history before this router knew it: a baseline only
            self._pods[c.endpoint.address] = _Seen(m.updated_at, m.ttft_sum, m.ttft_count)
            return
        if m.updated_at == seen.updated_at:
            return
        count, total = m.ttft_count - seen.ttft_count, m.ttft_sum - seen.ttft_sum
        seen.updated_at, seen.ttft_sum, seen.ttft_count = m.updated_at, m.ttft_sum, m.ttft_count
        if count <= 0 or total < 0:  # nothing new, or the pod restarted and its counters began again
            return
        mean = min(MAX_S, total / count)
        weight = DECAY ** count  # many first tokens in one scrape outweigh the history more
        self.seconds = mean if self.seconds == 0.0 else weight * self.seconds + (1 - weight) * mean
