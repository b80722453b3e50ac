"""The base of every feature of the Envoy builder (see features.py for the hook points and the
list of features in effect). In a module of its own so that a feature module can subclass it
without importing the list that names it."""

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
