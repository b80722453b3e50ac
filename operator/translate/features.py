"""Hook points of the Envoy builder (envoy.py, bootstrap.py).

A feature of the generated Envoy configuration that deserves a module of its own (edge.py:
edge limits and local replies; resilience.py: retries, outlier detection, fallback) subclasses
`EnvoyFeature` (feature.py), overrides the hooks it needs, and is listed once in `FEATURES`. The builder
calls every hook of every feature, in `FEATURES` order, on what it has just built; a hook
changes the dict it is given in place. The hooks' names and arguments are stable.
"""

from __future__ import annotations

from .edge import Edge
from .feature import EnvoyFeature
from .resilience import Resilience  # it has every hook and imports nothing back: no circle

# The features in effect, in the order their hooks run.
FEATURES: tuple[EnvoyFeature | Resilience, ...] = (Edge(), Resilience())
