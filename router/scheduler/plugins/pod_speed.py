"""How fast each pod turns predicted work into first tokens, learned from the TTFT it reports.

The cost scorer predicts, at each pick, the prefill tokens a request waits for on its pod (the
work ahead of it plus its own). The pod's TTFT histogram (`..._time_to_first_token_seconds`
`_sum` and `_count`) says how long its first tokens really took. Between two scrapes that saw
new first tokens, mean observed TTFT ÷ mean predicted tokens is the pod's seconds per token;
it is smoothed over windows. Pods differ when their GPUs, models or batch mix differ, so the
scorer scales each pod's cost by its speed relative to the pool's median: a pod that serves the
same predicted work twice as slowly costs twice as much. No constant is assumed: a pod with no
history yet counts as the median.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from ..types import Candidate

MIN_SAMPLES = 4        # first tokens a window needs before it teaches anything
DECAY = 0.8            # weight of the history against a new window
CLAMP = (0.5, 2.0)     # one noisy window must not exile a pod or make it a magnet


@dataclass(slots=True)
class _Pod:
    updated_at: float = 0.0
    ttft_sum: float = 0.0
    ttft_count: float = 0.0
    predicted: float = 0.0      # predicted tokens of the picks since the window opened
    picks: int = 0
    seconds_per_token: float | None = None


class PodSpeed:
    def __init__(self) -> None:
        self._pods: dict[str, _Pod] = {}

    def predicted(self, address: str, tokens: float) -> None:
        pod = self._pods.setdefault(address, _Pod())
        pod.predicted += tokens
        pod.picks += 1

    def observe(self, c: Candidate) -> None:
        """Close the pod's window when a new scrape shows enough new first tokens."""
        self.factors([c])

    def factors(self, candidates: list[Candidate]) -> list[float]:
        """Each candidate's seconds per token ÷ the median of the candidates that have one.
        A candidate with a new scrape closes its pod's window first, inline: after each scrape
        this runs for every pod (1,000 in one pick at 1,000 pods), where a call per pod showed."""
        pods = self._pods
        get = pods.get
        rates: list[float | None] = []
        for c in candidates:
            m, pod = c.metrics, get(c.endpoint.address)
            if m is not None and (pod is None or pod.updated_at != m.updated_at):  # a new scrape
                if pod is None:
                    pod = pods[c.endpoint.address] = _Pod()
                first = pod.updated_at == 0.0
                pod.updated_at = m.updated_at
                count = m.ttft_count - pod.ttft_count
                if first:  # the pod's history before this router knew it says nothing of its picks
                    pod.ttft_sum, pod.ttft_count = m.ttft_sum, m.ttft_count
                elif count < 0:  # the pod restarted: its counters began again
                    pod.ttft_sum = pod.ttft_count = 0.0
                elif count >= MIN_SAMPLES and pod.picks:
                    mean_ttft = (m.ttft_sum - pod.ttft_sum) / count
                    mean_tokens = pod.predicted / pod.picks
                    pod.ttft_sum, pod.ttft_count, pod.predicted, pod.picks = m.ttft_sum, m.ttft_count, 0.0, 0
                    if mean_tokens > 0 and mean_ttft > 0:
                        rate = mean_ttft / mean_tokens
                        old = pod.seconds_per_token
                        pod.seconds_per_token = rate if old is None else DECAY * old + (1 - DECAY) * rate
            rates.append(pod.seconds_per_token if pod is not None else None)
        known = [r for r in rates if r is not None]
        if not known:
            return [1.0] * len(candidates)
        median = statistics.median(known)
        lo, hi = CLAMP
        return [1.0 if r is None else min(hi, max(lo, r / median)) for r in rates]
