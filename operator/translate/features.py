"""Hook points of the Envoy builder (envoy.py, bootstrap.py).

A feature of the generated Envoy configuration that deserves a module of its own (edge.py:
edge limits and local replies; resilience.py: retries, outlier detection, fallback) subclasses
`EnvoyFeature`, overrides the hooks it needs, and is listed once in `FEATURES`. The builder
calls every hook of every feature, in `FEATURES` order, on what it has just built; a hook
changes the dict it is given in place. The hooks' names and arguments are stable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .envoy import EnvoyResources, EnvoySettings
    from .gateway import ListenerIR, RouteIR


class EnvoyFeature:
    """Every hook does nothing unless overridden."""

    def bootstrap(self, bootstrap: dict[str, Any], settings: "EnvoySettings") -> None:
        """The bootstrap (ADS or static): process-wide settings such as the overload manager."""

    def listener(self, listener: dict[str, Any], hcm: dict[str, Any], ir: "ListenerIR",
                 settings: "EnvoySettings") -> None:
        """One Gateway listener and its HTTP connection manager (`hcm`, inside `listener`)."""

    def route(self, route: dict[str, Any], ir: "RouteIR", settings: "EnvoySettings") -> None:
        """Each Envoy route built from one HTTPRoute match (picked, fallback or error route)."""

    def cluster(self, cluster: dict[str, Any], settings: "EnvoySettings") -> None:
        """Each cluster (ext_proc, original-destination, one per pool)."""

    def resources(self, resources: "EnvoyResources", settings: "EnvoySettings") -> None:
        """All the resources of one proxy, last: add or remove whole resources here."""


from .resilience import Resilience  # noqa: E402  (it has every hook; no import back, so no circle)

# The features in effect, in the order their hooks run.
FEATURES: tuple[EnvoyFeature, ...] = (Resilience(),)
