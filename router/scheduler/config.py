"""The scheduler's profile config file: scorer weights per routing strategy, and the saturation
thresholds admission uses. YAML (or JSON), every key optional:

    profiles:
      DEFAULT:      {load-cost: 1}        # or the legacy {queue: 2, kv-cache: 2, in-flight: 1}
      PREFIX_CACHE: {prefix-cost: 1}      # or the legacy {prefix: 3, queue: 2, kv-cache: 2, in-flight: 1}
    saturation: {max_waiting: 5, max_kv: 1.0}   # 1.0: KV use alone never saturates a pod
    queue: {max_queue: 1000, max_wait_seconds: 30}

A strategy given replaces that strategy's weights entirely (a scorer left out is off).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from ..admission import AdmissionSettings
from ..table import Strategy
from .profiles import DEFAULT_WEIGHTS


@dataclass(frozen=True)
class SchedulerConfig:
    weights: dict[Strategy, dict[str, float]] = field(default_factory=lambda: {k: dict(v) for k, v in DEFAULT_WEIGHTS.items()})
    admission: AdmissionSettings = AdmissionSettings()


def parse_config(data: dict[str, Any] | None) -> SchedulerConfig:
    data = data or {}
    unknown = set(data) - {"profiles", "saturation", "queue"}
    if unknown:
        raise ValueError(f"scheduler config: unknown key(s) {sorted(unknown)}")
    weights = {k: dict(v) for k, v in DEFAULT_WEIGHTS.items()}
    for name, scorers in (data.get("profiles") or {}).items():
        try:
            strategy = Strategy(str(name).upper())
        except ValueError:
            raise ValueError(f"scheduler config: unknown profile {name!r}; known: {[s.value for s in Strategy]}") from None
        weights[strategy] = {str(k): float(v) for k, v in (scorers or {}).items()}
    adm = AdmissionSettings()
    sat = data.get("saturation") or {}
    q = data.get("queue") or {}
    adm = replace(adm, max_waiting=float(sat.get("max_waiting", adm.max_waiting)),
                  max_kv=float(sat.get("max_kv", adm.max_kv)),
                  max_queue=int(q.get("max_queue", adm.max_queue)),
                  max_wait=float(q.get("max_wait_seconds", adm.max_wait)))
    return SchedulerConfig(weights, adm)


def load_config(path: Path | str | None) -> SchedulerConfig:
    if path is None:
        return SchedulerConfig()
    return parse_config(yaml.safe_load(Path(path).read_text()))
