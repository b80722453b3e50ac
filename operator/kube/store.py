"""The in-memory picture of the cluster that translation reads, fed by watch events.

Each object is kept raw (its current `status` is what status writing compares against) and
parsed (what translation reads). An object that does not validate keeps its last good parsed
form, as the file provider keeps a bad file's last good contents. Changes that translation
cannot see (status-only updates, resourceVersion bumps) do not count as changes, so our own
status writes never trigger a new translation.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import structlog
from pydantic import ValidationError

from ..api import INFERENCE_V1_GROUP, AnyObject, InferencePool, InferencePoolV1, model_for, pool_view
from ..api.gateway import GATEWAY_GROUP
from ..api.inference import INFERENCE_GROUP
from ..api.policy import POLICY_GROUP
from ..translate.objects import ObjectSet
from ..translate.status import ObjectKey, Status, object_key

log = structlog.get_logger("kube.store")


@dataclass(frozen=True)
class WatchedKind:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key_kind(self) -> str:
        """The kind in store keys: InferencePool exists in two groups (v1alpha2 and v1)."""
        return _key_kind(self.kind, self.api_version)


def _key_kind(kind: str, api_version: str) -> str:
    if kind == "InferencePool" and api_version.rpartition("/")[0] == INFERENCE_V1_GROUP:
        return f"InferencePool.{INFERENCE_V1_GROUP}"
    return kind


# Watched through Kopf (Pods are watched per pool selector: see pods.py).
WATCHED = (
    WatchedKind(INFERENCE_GROUP, "v1alpha2", "inferencepools", "InferencePool"),
    WatchedKind(INFERENCE_GROUP, "v1alpha2", "inferencemodels", "InferenceModel"),
    # The Inference Extension's current API (a missing CRD is logged and skipped).
    WatchedKind(INFERENCE_V1_GROUP, "v1", "inferencepools", "InferencePool"),
    WatchedKind(INFERENCE_GROUP, "v1alpha2", "inferenceobjectives", "InferenceObjective"),
    WatchedKind(INFERENCE_GROUP, "v1alpha2", "inferencemodelrewrites", "InferenceModelRewrite"),
    WatchedKind(POLICY_GROUP, "v1alpha1", "inferencetrafficpolicies", "InferenceTrafficPolicy"),
    WatchedKind(GATEWAY_GROUP, "v1", "gatewayclasses", "GatewayClass", namespaced=False),
    WatchedKind(GATEWAY_GROUP, "v1", "gateways", "Gateway"),
    WatchedKind(GATEWAY_GROUP, "v1", "httproutes", "HTTPRoute"),
    WatchedKind(POLICY_GROUP, "v1alpha1", "gatewayparameters", "GatewayParameters"),
)
KIND_BY_NAME = {w.key_kind: w for w in WATCHED}

PodSelector = tuple[str, tuple[tuple[str, str], ...]]  # (namespace, sorted matchLabels)


def _key_of(raw: dict[str, Any]) -> ObjectKey:
    meta = raw.get("metadata") or {}
    kind = _key_kind(str(raw.get("kind", "")), str(raw.get("apiVersion", "")))
    return object_key(kind, meta.get("namespace") or "", meta.get("name") or "")


def _comparable(obj: AnyObject) -> dict[str, Any]:
    return obj.model_dump(exclude={"metadata": {"resource_version"}})


class ObjectStore:
    def __init__(self, on_change: Callable[[], None] = lambda: None) -> None:
        self.on_change = on_change
        self._raw: dict[ObjectKey, dict[str, Any]] = {}
        self._parsed: dict[ObjectKey, AnyObject] = {}
        self._pod_sources: dict[ObjectKey, set[PodSelector]] = {}
        self.problems: dict[ObjectKey, str] = {}

    # ---- writes (from watch events)
    def put(self, raw: dict[str, Any]) -> bool:
        """Add or update one object; True when translation sees a difference."""
        if not raw.get("metadata", {}).get("namespace") and raw.get("kind") != "GatewayClass":
            raw = {**raw, "metadata": {**raw.get("metadata", {}), "namespace": "default"}}
        key = _key_of(raw)
        model = model_for(raw)
        if model is None:
            return False
        self._raw[key] = copy.deepcopy(raw)
        try:
            parsed = model.model_validate(raw).internal()  # another API version: converted
        except ValidationError as err:
            self.problems[key] = str(err)
            log.error("object does not validate; keeping its last good version", object="/".join(key),
                      error=str(err).splitlines()[0:3])
            return False
        self.problems.pop(key, None)
        before = self._parsed.get(key)
        self._parsed[key] = parsed  # type: ignore[assignment]
        if before is not None and _comparable(before) == _comparable(parsed):  # type: ignore[arg-type]
            return False
        self.on_change()
        return True

    def remove(self, kind: str, namespace: str, name: str) -> bool:
        key = object_key(kind, namespace or "default", name)
        self._raw.pop(key, None)
        self.problems.pop(key, None)
        if self._parsed.pop(key, None) is None:
            return False
        self.on_change()
        return True

    def replace_kind(self, kind: str, items: Iterable[dict[str, Any]], namespaces: set[str] | None = None,
                     key_kind: str | None = None) -> None:
        """A full listing of one kind (initial sync, periodic resync), of every namespace or of
        `namespaces` only: also drops the missed deletes there. `key_kind`: the kind in store
        keys when it differs (the v1 InferencePool)."""
        seen = set()
        key_kind = key_kind or kind
        for raw in items:
            raw = {"kind": kind, **raw}
            self.put(raw)
            meta = raw.get("metadata", {})
            seen.add(object_key(key_kind, meta.get("namespace") or "default", meta.get("name", "")))
        for key in [k for k in self._raw if k[0] == key_kind and k not in seen
                    and (namespaces is None or k[1] in namespaces)]:
            self.remove(*key)

    def set_status(self, key: ObjectKey, status: dict[str, Any], resource_version: str | None = None) -> None:
        """Record a status we just wrote, and the resourceVersion the write made (before its
        watch event comes back), so the next write is not refused as stale."""
        if key in self._raw:
            raw = {**self._raw[key], "status": copy.deepcopy(status)}
            if resource_version:
                raw["metadata"] = {**raw.get("metadata", {}), "resourceVersion": resource_version}
            self._raw[key] = raw

    # ---- pods: one object, possibly selected by several pool selectors
    def put_pod(self, raw: dict[str, Any], source: PodSelector) -> None:
        key = _key_of({"kind": "Pod", **raw})
        self._pod_sources.setdefault(key, set()).add(source)
        self.put({"kind": "Pod", "apiVersion": "v1", **raw})

    def remove_pod(self, namespace: str, name: str, source: PodSelector) -> None:
        key = object_key("Pod", namespace, name)
        sources = self._pod_sources.get(key, set())
        sources.discard(source)
        if not sources:
            self._pod_sources.pop(key, None)
            self.remove("Pod", namespace, name)

    def drop_source(self, source: PodSelector) -> None:
        for key in [k for k, s in self._pod_sources.items() if source in s]:
            self.remove_pod(key[1], key[2], source)

    # ---- reads
    def object_set(self) -> ObjectSet:
        return ObjectSet.of(self._parsed.values(), services_listed=False)  # Services are not watched

    def raw(self, key: ObjectKey) -> dict[str, Any] | None:
        return self._raw.get(key)

    def statuses(self) -> dict[ObjectKey, Status]:
        return {k: copy.deepcopy(v.get("status") or {}) for k, v in self._raw.items() if k[0] != "Pod"}

    def pod_selectors(self) -> set[PodSelector]:
        """What to watch Pods by: each pool's namespace and matchLabels."""
        return {(p.metadata.namespace, tuple(sorted(pool_view(p).selector.items())))
                for p in self._parsed.values() if isinstance(p, (InferencePool, InferencePoolV1))}
