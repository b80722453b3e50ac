"""The statuses translation decided, made ready to write. Pure.

`stamp_statuses` adds what only the running system knows (each Gateway's proxy: provisioned,
ready, rejected configurations, addresses), keeps other controllers' entries in the lists we
share with them, and sets `lastTransitionTime`: it moves only when a condition's status moves
(as `meta.SetStatusCondition` does). `changed` keeps only the statuses that differ from what
the objects have, so an unchanged world writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Mapping

from ..api import Gateway
from ..api.gateway import GATEWAY_GROUP
from .status import PENDING_PARENT, ObjectKey, Status, condition

EPOCH = "1970-01-01T00:00:00Z"


@dataclass(frozen=True)
class ProxyState:
    """What the operator knows of one Gateway's provisioned Envoy."""

    provisioned: bool = False            # Deployment, Service and ConfigMap exist
    ready_replicas: int = 0
    addresses: tuple[tuple[str, str], ...] = ()  # (type, value)
    rejections: tuple[str, ...] = ()     # Envoy NACK messages: it keeps its last good config


def timestamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def _programmed(proxy: ProxyState, gen: int) -> dict[str, Any]:
    if proxy.rejections:
        return condition("Programmed", False, "Invalid", "Envoy rejected the configuration and keeps its last "
                         "good one: " + "; ".join(proxy.rejections), gen)
    if not proxy.provisioned:
        return condition("Programmed", False, "Pending", "Envoy proxy is being provisioned", gen)
    if not proxy.addresses:
        return condition("Programmed", False, "AddressNotAssigned", "the proxy Service has no address yet", gen)
    if proxy.ready_replicas < 1:
        return condition("Programmed", False, "Pending", "waiting for a ready Envoy replica", gen)
    return condition("Programmed", True, "Programmed", "Envoy is serving the configuration", gen)


def _with_proxy(status: Status, proxy: ProxyState) -> Status:
    gen = status["conditions"][0]["observedGeneration"]
    programmed = _programmed(proxy, gen)
    listeners = [{**li, "conditions": li["conditions"] + [programmed]}
                 if li["conditions"][0]["status"] == "True" else li for li in status["listeners"]]
    return {"addresses": [{"type": t, "value": v} for t, v in proxy.addresses],
            "conditions": status["conditions"] + [programmed], "listeners": listeners}


def _parent_key(ref: Mapping[str, Any]) -> tuple[str, str, str, str]:
    return (ref.get("group", GATEWAY_GROUP), ref.get("kind", "Gateway"), ref.get("namespace", ""), ref.get("name", ""))


def _stamp(new: list[dict[str, Any]], old: list[dict[str, Any]] | None, now: str) -> list[dict[str, Any]]:
    previous = {c.get("type"): c for c in old or []}
    out = []
    for cond in new:
        before = previous.get(cond["type"])
        same = before is not None and before.get("status") == cond["status"] and before.get("lastTransitionTime")
        out.append({**cond, "lastTransitionTime": before["lastTransitionTime"] if same else now})
    return out


def _stamp_status(desired: Status, current: Status | None, now: str) -> Status:
    current = current or {}
    out = dict(desired)
    if "conditions" in desired:
        out["conditions"] = _stamp(desired["conditions"], current.get("conditions"), now)
    if "listeners" in desired:
        old = {li.get("name"): li for li in current.get("listeners") or []}
        out["listeners"] = [{**li, "conditions": _stamp(li["conditions"], (old.get(li["name"]) or {}).get("conditions"), now)}
                            for li in desired["listeners"]]
    for field, key_of in (("parents", lambda p: _parent_key(p.get("parentRef") or {}) + (p.get("controllerName"),)),
                          ("parent", lambda p: _parent_key(p.get("parentRef") or {}))):
        if field in desired:
            old = {key_of(p): p for p in current.get(field) or []}
            out[field] = [{**p, "conditions": _stamp(p.get("conditions") or [], (old.get(key_of(p)) or {}).get("conditions"),
                                                     EPOCH if (p.get("parentRef") or {}).get("kind") == "Status" else now)}
                          for p in desired[field]]
    return out


def _shared_lists(key: ObjectKey, status: Status, current: Status | None, ours: set[tuple[str, str, str, str]],
                  controller: str) -> Status | None:
    """Our entries plus other controllers' in the lists we share; None: nothing of ours to say."""
    current = current or {}
    kind = key[0]
    if kind == "HTTPRoute":
        had = current.get("parents") or []
        others = [p for p in had if p.get("controllerName") != controller]
        if not status["parents"] and len(others) == len(had):
            return None  # never ours: another controller's to report
        return {"parents": others + status["parents"]}
    if kind.startswith("InferencePool.") and "parents" in status:  # v1: parents[], by controllerName
        had = current.get("parents") or []
        others = [p for p in had if p.get("controllerName") != controller]
        return {"parents": others + status["parents"]}
    if kind == "InferencePool":
        others = [p for p in current.get("parent") or []
                  if _parent_key(p.get("parentRef") or {}) not in ours
                  and (p.get("parentRef") or {}).get("kind") != "Status"]
        parents = status["parent"]
        if others and [p["parentRef"] for p in parents] == [PENDING_PARENT]:
            parents = []  # another controller's parent says more than our "Pending"
        return {"parent": others + parents}
    return status


def stamp_statuses(desired: Mapping[ObjectKey, Status], gateways: Iterable[Gateway], current: Mapping[ObjectKey, Status],
                   proxies: Mapping[str, ProxyState], now: datetime, controller: str) -> dict[ObjectKey, Status]:
    """The statuses to write: translation's, with the proxies' state and other controllers'
    entries, stamped against `current`."""
    ours = {(GATEWAY_GROUP, "Gateway", *g.key) for g in gateways}
    stamp = timestamp(now)
    out: dict[ObjectKey, Status] = {}
    for key, status in desired.items():
        if key[0] == "Gateway":
            status = _with_proxy(status, proxies.get(f"{key[1]}/{key[2]}", ProxyState()))
        shared = _shared_lists(key, status, current.get(key), ours, controller)
        if shared is not None:
            out[key] = _stamp_status(shared, current.get(key), stamp)
    return out


def changed(desired: Mapping[ObjectKey, Status], current: Mapping[ObjectKey, Status]) -> dict[ObjectKey, Status]:
    """Only the statuses that differ from what the objects have (fields we own)."""
    out = {}
    for key, status in desired.items():
        have = current.get(key) or {}
        if any(have.get(field) != value for field, value in status.items()):
            out[key] = status
    return out
