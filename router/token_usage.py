"""Token metrics from what the pods already count, so the router need not read responses.

The router's `inference_model_input_tokens` / `…_output_tokens` histograms used to be fed from
each response's `usage`, which kept every SSE chunk of a streamed request flowing through the
router (~0.74 ms of router CPU per streamed token). The model servers already keep the same
per-request histograms, which the router scrapes anyway:
- vLLM: `vllm:request_prompt_tokens` and `vllm:request_generation_tokens` (histograms, observed
  when a request finishes; label `model_name` = the served model name);
- SGLang: `sglang:prompt_tokens_histogram` and `sglang:generation_tokens_histogram` (with
  `--collect-tokens-histogram`); without them, the counters `sglang:prompt_tokens_total`,
  `sglang:generation_tokens_total` and `sglang:num_requests_total` give the right sum and count,
  counted in the +Inf bucket (the distribution is unknown).
Each scrape's increase, per pod and served model, is added to the router's histograms.

Attribution: a pod knows only the model it served, the target model. Requests whose model the
router did not rename were served under the name the client asked for, so the pod's series
`model_name=X` lands as (model_name=X, target_model_name=X). Requests the router renamed (a
canary target) keep the router in the response path anyway (the name is turned back), so it
reads their `usage` there and records them as (model_name asked, target); those observations
are `claim`ed and taken out of the pod's next increase, so nothing is counted twice. A renamed
stream without `include_usage` carries no usage: its tokens stay under (target, target). A pod
labels everything with one name (vLLM: its first served model name; LoRA adapters count under
it), so aliases and adapters that are not renamed by the router count under that name.
Requests sent to a pod around the router (not through this gateway) are counted too.
Prefill pods of a prefill/decode pool are not counted (the decode pod counts the request).
Several router replicas each see every pod's whole increase: aggregate with max, not sum.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from dataclasses import dataclass, field

from .table import RoutingTable, Runtime
from .telemetry import TOKEN_BUCKETS, Telemetry, TokenHistogram

_BOUNDS = (*TOKEN_BUCKETS, float("inf"))
KINDS = ("prompt", "generation")


@dataclass(frozen=True)
class TokenMetricNames:
    histograms: dict[str, str]         # kind → histogram base name
    totals: dict[str, str]             # kind → counter (fallback)
    requests: str                      # finished-requests counter (fallback count)

    def samples(self) -> frozenset[str]:
        """The sample names `parse_token_series` reads (the scraper asks for them too)."""
        return frozenset({f"{base}_{part}" for base in self.histograms.values() for part in ("bucket", "sum", "count")}
                         | set(self.totals.values()) | {self.requests})


TOKEN_METRICS = {
    Runtime.VLLM: TokenMetricNames(
        {"prompt": "vllm:request_prompt_tokens", "generation": "vllm:request_generation_tokens"},
        {"prompt": "vllm:prompt_tokens_total", "generation": "vllm:generation_tokens_total"},
        "vllm:request_success_total"),
    Runtime.SGLANG: TokenMetricNames(
        {"prompt": "sglang:prompt_tokens_histogram", "generation": "sglang:generation_tokens_histogram"},
        {"prompt": "sglang:prompt_tokens_total", "generation": "sglang:generation_tokens_total"},
        "sglang:num_requests_total"),
}


@dataclass(slots=True)
class Series:
    """One pod's cumulative token histogram for one served model (summed over other labels)."""

    buckets: dict[float, float] = field(default_factory=dict)  # upper bound → cumulative count
    sum: float = 0.0
    count: float = 0.0


def _split(line: str) -> tuple[str, str, float] | None:
    brace = line.find("{")
    if brace >= 0:
        close = line.rfind("}")
        name, labels, rest = line[:brace], line[brace + 1:close], line[close + 1:]
    else:
        name, _, rest = line.partition(" ")
        labels = ""
    try:
        return name, labels, float(rest.split()[0])
    except (ValueError, IndexError):
        return None


def _label(labels: str, key: str) -> str:
    at = labels.find(key + '="')
    if at < 0 or (at > 0 and labels[at - 1] not in ", "):
        return ""
    start = at + len(key) + 2
    return labels[start:labels.find('"', start)]


def parse_token_series(text: str, names: TokenMetricNames) -> dict[tuple[str, str], Series]:
    """(kind, served model) → the pod's token histogram; from the counters when it exports no
    histogram for that kind (then every request counts in +Inf)."""
    hist = {base: kind for kind, base in names.histograms.items()}
    totals = {name: kind for kind, name in names.totals.items()}
    found: dict[tuple[str, str], Series] = {}
    fallback: dict[tuple[str, str], float] = {}
    requests: dict[str, float] = {}
    prefix = names.requests.split(":", 1)[0] + ":"
    for line in text.splitlines():
        if not line.startswith(prefix):
            continue
        parsed = _split(line)
        if parsed is None:
            continue
        name, labels, value = parsed
        base, _, suffix = name.rpartition("_")
        if base in hist and suffix in ("bucket", "sum", "count"):
            s = found.setdefault((hist[base], _label(labels, "model_name")), Series())
            if suffix == "bucket":
                le = _label(labels, "le")
                bound = float("inf") if le == "+Inf" else float(le)
                s.buckets[bound] = s.buckets.get(bound, 0.0) + value
            elif suffix == "sum":
                s.sum += value
            else:
                s.count += value
        elif name in totals:
            key = (totals[name], _label(labels, "model_name"))
            fallback[key] = fallback.get(key, 0.0) + value
        elif name == names.requests:
            model = _label(labels, "model_name")
            requests[model] = requests.get(model, 0.0) + value
    for (kind, model), total in fallback.items():
        if (kind, model) not in found:
            n = requests.get(model, 0.0)
            found[(kind, model)] = Series({float("inf"): n}, total, n)
    return found


def increase(now: Series, before: Series | None) -> tuple[list[float], float]:
    """Observations since `before`, per bucket of ours (last: +Inf), and their sum. A counter
    that went down means the pod restarted: everything it holds now is new."""
    row = [0.0] * len(_BOUNDS)
    reset = before is not None and (now.count < before.count or now.sum < before.sum)
    base = Series() if before is None or reset else before
    below = below_before = 0.0
    for bound in sorted(now.buckets):
        cumulative, cumulative_before = now.buckets[bound], base.buckets.get(bound, 0.0)
        n = (cumulative - below) - (cumulative_before - below_before)
        if n > 0:
            row[bisect_left(_BOUNDS, bound)] += n
        below, below_before = cumulative, cumulative_before
    return row, max(0.0, now.sum - base.sum)


@dataclass(slots=True)
class _Claims:
    row: list[float]
    sum: float = 0.0
    updated: float = 0.0


class TokenAccounting:
    """Adds each pod's token increase to the router's histograms (see the module docstring)."""

    CLAIM_TTL = 60.0  # seconds a claim waits for the pod's increase before it is dropped

    def __init__(self, telemetry: Telemetry, interval: float = 1.0) -> None:
        self.telemetry = telemetry
        self.interval = interval
        self._last: dict[str, float] = {}
        self._seen: dict[tuple[str, str, str], Series] = {}
        self._claims: dict[tuple[str, str], _Claims] = {}
        self._skip: set[str] = set()

    def _histogram(self, kind: str) -> TokenHistogram:
        return self.telemetry.input_tokens if kind == "prompt" else self.telemetry.output_tokens

    def on_table(self, table: RoutingTable) -> None:
        live = {ep.address for pool in table.pools.values() for ep in pool.endpoints}
        self._skip = {ep.address for pool in table.pools.values() if pool.pd is not None
                      for ep in pool.pd.prefill.endpoints}
        for key in [k for k in self._seen if k[0] not in live]:
            del self._seen[key]
        for address in [a for a in self._last if a not in live]:
            del self._last[address]

    def claim(self, address: str, prompt_tokens: int, completion_tokens: int) -> None:
        """The router recorded this request's usage itself: keep it out of the pod's increase."""
        now = time.monotonic()
        for kind, value in (("prompt", prompt_tokens), ("generation", completion_tokens)):
            # Keyed by pod, not by model: a pod labels everything it serves with one name
            # (vLLM: its first served model name; LoRA adapters count under it too).
            c = self._claims.get((address, kind))
            if c is None:
                c = self._claims[(address, kind)] = _Claims([0.0] * len(_BOUNDS))
            c.row[bisect_left(_BOUNDS, value)] += 1
            c.sum += value
            c.updated = now

    # -- the scraper's PageReader (metrics_scraper.py): token series every `interval` ------------
    def samples(self, runtime: Runtime) -> frozenset[str]:
        return TOKEN_METRICS[runtime].samples()

    def due(self, address: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        return address not in self._skip and now - self._last.get(address, -1e18) >= self.interval

    def on_metrics(self, address: str, runtime: Runtime, text: str) -> None:
        """One scrape of a pod's /metrics (called by the scraper; read at most every `interval`)."""
        now = time.monotonic()
        if not self.due(address, now):
            return
        self._last[address] = now
        for (kind, model), series in parse_token_series(text, TOKEN_METRICS[runtime]).items():
            key = (address, model, kind)
            before = self._seen.get(key)
            self._seen[key] = series
            if before is None:
                continue  # the first sight is the baseline: what came before is not ours
            row, total = increase(series, before)
            if not any(row):
                continue
            total = self._unclaimed((address, kind), row, total, now)
            counts = [(bound, n) for bound, n in zip(_BOUNDS, row) if n > 0]
            if counts:
                self._histogram(kind).add((model, model), counts, total)

    def _unclaimed(self, key: tuple[str, str], row: list[float], total: float, now: float) -> float:
        c = self._claims.get(key)
        if c is None:
            return total
        inf = len(row) - 1
        for i, n in enumerate(c.row):
            # A pod with only counters puts everything in +Inf: claims of any size match there.
            for j in (i, inf):
                take = min(n, row[j])
                row[j] -= take
                c.row[i] -= take
                n -= take
        taken = min(c.sum, total)
        c.sum -= taken
        if not any(c.row) or now - c.updated > self.CLAIM_TTL:
            del self._claims[key]
        return total - taken
