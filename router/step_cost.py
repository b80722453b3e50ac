"""What one more running request costs a pod, in prefill tokens, fitted from the pods' metrics.

A model server's engine step takes about `a + d·decoding + p·prompt tokens in the step`: a fixed
part (reading the weights), a part per decoding sequence (its token, and attention over its
context), and a part per prompt token computed. The cost scorer counts work in prefill tokens,
so what a decoding request costs is `d / p` prefill tokens per running request per step.

Each scrape of a pod, against the one before, gives one sample of that line:
- the mean step time: Δ(ITL histogram `_sum`) / Δ(`_count`), one observation per decoding
  sequence per step;
- the steps: Δ(`vllm:iteration_tokens_total_count`), one observation per engine step;
- the decoding requests per step: ITL observations ÷ steps (not the running gauge, which also
  counts requests still in prefill: under a burst of a shared prefix that overstated the unit
  many times over, commit 0a7f46d);
- the prompt tokens computed per step: Δ(prefix-cache queries − hits), vLLM's counters in
  tokens, ÷ steps.

A weighted least-squares fit over every pod's samples (weighted by the steps each covers,
older samples fading with FIT_HALF_LIFE_S) gives `d` and `p`, and their standard errors. The
ratio is used only once both are known to within MAX_RELATIVE_ERROR: a load whose prompt
tokens per step barely vary (one system prompt on every request, 128-token questions) cannot
tell `p` from the fixed part well. Until then the ratio is DEFAULT_TOKENS_PER_RUNNING (or the
last one that was known).
SGLang pods count prompt tokens only when a request ends, so their samples are not used.

One fit per router process: the decode term compares pods within one pool, where only the
ratio's size matters; `bench/sim_time.py` prints the fitted ratio (`decode`) beside placement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .endpoint_state import EndpointMetrics

FIT_HALF_LIFE_S = 60.0
MIN_SAMPLES = 30
MAX_RELATIVE_ERROR = 0.25  # standard error ÷ estimate, for both d and p
# The ratio before the fit has samples: h100-32b's simulated pods at ~1k tokens of context
# (simulator/profiles.py: (12 µs + 1,100 × 110 ns) / 68 µs ≈ 2).
DEFAULT_TOKENS_PER_RUNNING = 2.0
# Attention over ~5k tokens of context on an 8B model (simulator/profiles.py: 5,000 × 56 ns /
# 17 µs): beyond it a fit is likelier wrong than the pods (one prompt on every request, on pods
# that are mostly idle, reaches this bound where the simulated truth is 8:
# `bench/sim_time.py --workload hot-prefix --profile h100-8b` prints decode 16.0).
MAX_TOKENS_PER_RUNNING = 16.0


@dataclass(slots=True)
class StepCostFit:
    # the normal equations' sums, for regressors (1, decoding per step, prefill per step)
    _xx: list[float] = field(default_factory=lambda: [0.0] * 6)  # upper triangle of XᵀWX
    _xy: list[float] = field(default_factory=lambda: [0.0] * 3)
    _yy: float = 0.0      # Σ w·y², for the residuals
    _n: float = 0.0       # samples, faded like the sums
    _samples: int = 0
    _last: float | None = None
    _ratio: float = DEFAULT_TOKENS_PER_RUNNING

    def observe(self, before: EndpointMetrics, after: EndpointMetrics) -> None:
        """One pod's scrape against its previous one (cumulative counters; None: not exported)."""
        if None in (before.prefill_tokens, after.prefill_tokens, before.steps, after.steps):
            return
        n = after.itl_count - before.itl_count
        steps = after.steps - before.steps  # type: ignore[operator]
        prefill = after.prefill_tokens - before.prefill_tokens  # type: ignore[operator]
        if n <= 0.0 or steps <= 0.0 or prefill < 0.0 or after.itl_sum < before.itl_sum:
            return  # nothing decoded, or a restarted pod's counters
        x1, x2, y = n / steps, prefill / steps, (after.itl_sum - before.itl_sum) / n
        if self._last is not None and after.updated_at > self._last:
            fade = 0.5 ** ((after.updated_at - self._last) / FIT_HALF_LIFE_S)
            self._xx = [v * fade for v in self._xx]
            self._xy = [v * fade for v in self._xy]
            self._yy *= fade
            self._n *= fade
        self._last = after.updated_at if self._last is None else max(self._last, after.updated_at)
        w = steps
        xx, xy = self._xx, self._xy
        xx[0] += w
        xx[1] += w * x1
        xx[2] += w * x2
        xx[3] += w * x1 * x1
        xx[4] += w * x1 * x2
        xx[5] += w * x2 * x2
        xy[0] += w * y
        xy[1] += w * x1 * y
        xy[2] += w * x2 * y
        self._yy += w * y * y
        self._n += 1.0
        self._samples += 1
        if self._samples >= MIN_SAMPLES:
            self._ratio = self._solve()

    def _solve(self) -> float:
        s0, s1, s2, s11, s12, s22 = self._xx
        a = ((s0, s1, s2), (s1, s11, s12), (s2, s12, s22))
        det = _det(a)
        if not math.isfinite(det) or abs(det) <= 1e-12 * max(1.0, s0 * s11 * s22):
            return self._ratio  # the samples do not separate the terms (yet)
        # Cramer's rule for the intercept, d (column 1) and p (column 2)
        b = self._xy
        beta = [_det(tuple(tuple(b[r] if c == k else a[r][c] for c in range(3)) for r in range(3))) / det
                for k in range(3)]
        _, d, p = beta
        if d <= 0.0 or p <= 0.0 or self._n <= 3.0:
            return self._ratio
        # residual variance per unit weight, and the diagonal of (XᵀWX)⁻¹ (cofactor ÷ det)
        rss = self._yy - sum(beta[k] * b[k] for k in range(3))
        sigma2 = max(rss, 0.0) / (self._n - 3.0)
        var_d = sigma2 * (s0 * s22 - s2 * s2) / det
        var_p = sigma2 * (s0 * s11 - s1 * s1) / det
        if var_d > (MAX_RELATIVE_ERROR * d) ** 2 or var_p > (MAX_RELATIVE_ERROR * p) ** 2:
            return self._ratio  # not known well enough yet
        return min(MAX_TOKENS_PER_RUNNING, d / p)

    @property
    def samples(self) -> int:
        return self._samples

    def tokens_per_running(self) -> float:
        """Prefill tokens' worth of step time that one running request adds to each step."""
        return self._ratio


def _det(m) -> float:
    return (m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]))
