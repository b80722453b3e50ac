"""The scheduler's profile config file: scorer weights per routing strategy, and the saturation
thresholds admission uses. YAML (or JSON), every key optional:

    profiles:            # strategies as router/table.py spells them (the seed's DEFAULT, PREFIX_CACHE too)
      load-aware:   {load-cost: 1}     # or the legacy {queue: 2, kv-cache: 2, in-flight: 1}
      prefix-cache: {prefix-cost: 1}   # or the legacy {prefix: 3, queue: 2, kv-cache: 2, in-flight: 1}
    saturation: {max_waiting: 5, max_kv: 1.0}   # 1.0: KV use alone never saturates a pod
    queue: {max_queue: 1000, max_wait_seconds: 30}

A strategy given replaces that strategy's weights entirely (a scorer left out is off). The
file is read into a pydantic model: a misspelt key or a value out of range is refused with
its place named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..admission import AdmissionSettings
from ..table import Strategy
from .profiles import DEFAULT_WEIGHTS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Saturation(_Strict):
    max_waiting: float = Field(default=AdmissionSettings.max_waiting, ge=0)
    max_kv: float = Field(default=AdmissionSettings.max_kv, ge=0, le=1)


class _Queue(_Strict):
    max_queue: int = Field(default=AdmissionSettings.max_queue, ge=0)
    max_wait_seconds: float = Field(default=AdmissionSettings.max_wait, gt=0)


class ConfigFile(_Strict):
    """The file as written; every key optional."""

    profiles: dict[Strategy, dict[str, float]] = Field(default_factory=dict)
    saturation: _Saturation = Field(default_factory=_Saturation)
    queue: _Queue = Field(default_factory=_Queue)

    @field_validator("profiles", mode="before")
    @classmethod
    def _strategy_names(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out = {}
        for name, scorers in value.items():
            strategy = Strategy.parse(str(name))
            if strategy is None:
                raise ValueError(f"unknown profile {name!r}; known: {[s.value for s in Strategy]}")
            out[strategy] = scorers or {}
        return out


@dataclass(frozen=True)
class SchedulerConfig:
    weights: dict[Strategy, dict[str, float]] = field(default_factory=lambda: {k: dict(v) for k, v in DEFAULT_WEIGHTS.items()})
    admission: AdmissionSettings = AdmissionSettings()


def _where(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


def parse_config(data: dict[str, Any] | None) -> SchedulerConfig:
    try:
        file = ConfigFile.model_validate(data or {})
    except ValidationError as err:
        first = err.errors()[0]
        kind = "unknown key" if first["type"] == "extra_forbidden" else "invalid value"
        raise ValueError(f"scheduler config: {kind} at {_where(first['loc']) or 'top level'}: "
                         f"{first['msg'].removeprefix('Value error, ')}") from None
    weights = {k: dict(v) for k, v in DEFAULT_WEIGHTS.items()}
    weights |= {strategy: dict(scorers) for strategy, scorers in file.profiles.items()}
    admission = AdmissionSettings(max_waiting=file.saturation.max_waiting, max_kv=file.saturation.max_kv,
                                  max_queue=file.queue.max_queue, max_wait=file.queue.max_wait_seconds)
    return SchedulerConfig(weights, admission)


def load_config(path: Path | str | None) -> SchedulerConfig:
    if path is None:
        return SchedulerConfig()
    return parse_config(yaml.safe_load(Path(path).read_text()))
