"""A realistic-enough Kubernetes API server for tests: kmock's scaffold + our own object store.

kmock 0.8 gives the discovery endpoints, Kubernetes-shaped errors and a real aiohttp server;
its stateful `KubernetesEmulator` misses what Kopf and kubernetes-asyncio rely on (NOTES.md).
So this subclasses `kmock.KubernetesScaffold` (discovery, errors, `kmock.Server`) and serves
every resource request from a store of its own that behaves like kube-apiserver where our
operator can tell the difference:

- metadata: uid, resourceVersion (one cluster-wide counter), generation (bumped on spec
  changes only), creationTimestamp, generateName; no-op writes change nothing and emit nothing;
- `/status` subresource scoping: status writes change only status, other writes never change
  status; create drops status for resources that have the subresource (as the API does);
- PATCH as JSON-patch (a failed `test` answers 422), merge-patch and strategic-merge-patch
  (treated as merge-patch: lists are replaced, which is all we send); PUT with optimistic
  concurrency (a stale resourceVersion answers 409; so does a merge-patch carrying one);
- list: kind `XList`, apiVersion, metadata.resourceVersion; label selectors (=, ==, !=, in,
  notin, exists, !exists) and field selectors (metadata.name, metadata.namespace);
- watch (kubewatch.py): `?watch=true|True|1`; with `?resourceVersion=N` (N > 0) replays only later events
  (410 Gone past the retained history), else sends the current objects as ADDED first;
  selector-filtered watches see DELETED/ADDED when an object stops/starts matching;
  `timeoutSeconds` honoured; with `allowWatchBookmarks=true` a BOOKMARK (the current
  resourceVersion) after every `bookmark_interval` quiet seconds, as kube-apiserver sends them;
  `expire_watches()` plays an etcd compaction: open watches end and resuming from any
  resourceVersion before it answers 410 Gone (the client must relist);
- RBAC (kuberbac.py): a bearer token's rules decide, else 403 Forbidden; no token is the admin;
- `before_write` hooks run before a write is applied (a test can slip another writer's
  change in between a client's read and its write, deterministically);
- Services get a ClusterIP on create (10.96.x.y); no other controller runs (tests play the
  kube-controller-manager, e.g. by patching a Deployment's status);
- DELETE: finalizers → deletionTimestamp; objects owned (ownerReferences uid) are deleted too
  (background cascading, immediately; no orphan policy).
- not emulated: schema pruning/validation, admission, server-side apply.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable

import aiohttp
import aiohttp.web
import attrs
import kmock
import yaml
from kmock._internal import rendering

from .kubepatch import ApiError, field_match, json_patch, label_match, merge_patch
from .kuberbac import Authorizer
from .kubewatch import HISTORY, watch

REPO = Path(__file__).resolve().parents[2]


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@attrs.frozen
class Kind:
    group: str
    plural: str
    kind: str
    namespaced: bool
    status: bool  # has the /status subresource


@attrs.define(kw_only=True)
class KubeAPI(kmock.KubernetesScaffold):
    """`async with KubeAPI() as api, kmock.Server(api) as server:` → `server.url`."""

    _store: dict[tuple[str, str, str, str], dict[str, Any]] = attrs.field(factory=dict, init=False)
    _events: list[tuple[int, str, str, str, dict[str, Any], dict[str, Any] | None]] = attrs.field(factory=list, init=False)
    _rv: int = attrs.field(default=100, init=False)
    _ips: int = attrs.field(default=9, init=False)
    _changed: asyncio.Event | None = attrs.field(default=None, init=False)  # replaced on every event
    writes: list[tuple[str, str, str, str, str]] = attrs.field(factory=list, init=False)  # (verb, plural, ns, name, sub)
    authorizer: Authorizer = attrs.field(factory=Authorizer, init=False)
    bookmark_interval: float = 1.0
    before_write: list[Callable[[str, str, str, str, str], Awaitable[None]]] = attrs.field(factory=list, init=False)
    # What clients asked and got, for tests to assert on:
    watches: list[tuple[str, str | None, dict[str, str]]] = attrs.field(factory=list, init=False)  # (plural, ns, params)
    lists: list[tuple[str, str | None]] = attrs.field(factory=list, init=False)  # (plural, ns)
    bookmarks: int = attrs.field(default=0, init=False)
    bookmarked: dict[str, int] = attrs.field(factory=dict, init=False)  # plural → last bookmark's resourceVersion
    gone: list[str] = attrs.field(factory=list, init=False)  # plural of each watch answered 410
    _compacted: int = attrs.field(default=0, init=False)  # resuming before this answers 410
    _epoch: int = attrs.field(default=0, init=False)  # bumped to end every open watch

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.resources.load_bundled()
        for crd in sorted((REPO / "crds").glob("*.yaml")):
            self.load_crd(yaml.safe_load(crd.read_text()))

    def load_crd(self, crd: dict[str, Any]) -> None:
        spec = crd["spec"]
        for version in spec["versions"]:
            info = self.resources[f"{spec['group']}/{version['name']}/{spec['names']['plural']}"]
            info.kind = spec["names"]["kind"]
            info.singular = spec["names"].get("singular")
            info.namespaced = spec.get("scope", "Namespaced") == "Namespaced"
            info.verbs.update({"get", "list", "watch", "create", "update", "patch", "delete"})
            if "status" in (version.get("subresources") or {}):
                info.subresources.add("status")

    # ---- discovery fix: /api/v1 is groupVersion "v1", not "/v1"
    async def _serve_version(self, request: rendering.Request) -> rendering.Payload:
        payload = await super()._serve_version(request)
        if isinstance(payload, dict) and payload.get("groupVersion", "").startswith("/"):
            payload["groupVersion"] = payload["groupVersion"][1:]
        return payload

    # ---- in-process helpers for tests (the same semantics as over HTTP)
    def objects(self, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return [copy.deepcopy(o) for (_, p, ns, _), o in sorted(self._store.items())
                if p == plural and (namespace is None or ns == namespace)]

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        for (_, p, ns, n), o in self._store.items():
            if p == plural and ns == namespace and n == name:
                return copy.deepcopy(o)
        return None

    def expire_watches(self) -> int:
        """An etcd compaction: every open watch ends; resuming anywhere before now answers 410."""
        self._compacted = self._rv + 1
        self._epoch += 1
        self._wake()
        return self._compacted

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        if changed is not None:
            changed.set()

    @staticmethod
    def _verb(request: rendering.Request) -> str:
        if request.method == "GET":
            return "watch" if request.params.get("watch", "").lower() in ("true", "1") else \
                "get" if request.name else "list"
        return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(request.method, "")

    # ---- namespaces: kmock 0.8 cannot parse `/api/v1/namespaces` (no plural after "namespaces")
    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        if raw_request.path.rstrip("/") != "/api/v1/namespaces" or raw_request.method != "GET":
            return await super().__call__(raw_request)
        watching = raw_request.query.get("watch", "").lower() in ("true", "1")
        try:
            self.authorizer.check(raw_request.headers.get("Authorization"), "watch" if watching else "list",
                                  "", "namespaces", None)
        except ApiError as err:
            return self._error(err)
        names = sorted({ns for (_, _, ns, _) in self._store if ns} | {"default"})
        items = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "resourceVersion": "1"}}
                 for n in names]
        if not watching:
            return aiohttp.web.json_response({"kind": "NamespaceList", "apiVersion": "v1",
                                              "metadata": {"resourceVersion": str(self._rv)}, "items": items})
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(raw_request)  # namespaces never change here: the stream just idles
        epoch, timeout = self._epoch, float(raw_request.query.get("timeoutSeconds") or 60)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while loop.time() < deadline and epoch == self._epoch:
                await asyncio.sleep(min(0.5, max(0.0, deadline - loop.time())))
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response

    # ---- dispatch
    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        res = request.resource
        if res is None or not res.plural or request.action is None and request.method not in ("PUT",):
            return await super()._handle(request)
        kind = self._kind(res.group or "", res.version or "", res.plural)
        if kind is None:
            return self._error(ApiError(404, "NotFound", f"the server could not find the requested resource "
                                                        f"({res.group}/{res.version} {res.plural})"))
        if self._changed is None:
            self._changed = asyncio.Event()
        params = request.params
        try:
            resource = kind.plural + (f"/{request.subresource}" if request.subresource else "")
            self.authorizer.check(request.headers.get("Authorization"), self._verb(request), kind.group, resource,
                                  request.namespace if kind.namespaced else None)
            if request.method != "GET":
                for hook in list(self.before_write):
                    await hook(self._verb(request), kind.plural, request.namespace or "", request.name or "",
                               request.subresource or "")
            if request.method == "GET" and params.get("watch", "").lower() in ("true", "1"):
                return await self._watch(request, kind)
            if request.method == "GET" and request.name is None:
                return aiohttp.web.json_response(self._list(request, kind))
            if request.method == "GET":
                return aiohttp.web.json_response(self._fetch(kind, request.namespace, request.name))
            if request.method == "POST" and request.name is None:
                return aiohttp.web.json_response(await self._create(request, kind), status=201)
            if request.method in ("PATCH", "PUT") and request.name:
                return aiohttp.web.json_response(await self._update(request, kind))
            if request.method == "DELETE" and request.name:
                return aiohttp.web.json_response(await self._delete(kind, request.namespace or "", request.name))
            raise ApiError(405, "MethodNotAllowed", f"{request.method} not supported here")
        except ApiError as err:
            return self._error(err)

    def _kind(self, group: str, version: str, plural: str) -> Kind | None:
        for r in self.resources:
            if r.group == group and r.version == version and r.plural == plural:
                info = self.resources[r]
                return Kind(group, plural, info.kind or plural, bool(info.namespaced), "status" in info.subresources)
        return None

    @staticmethod
    def _error(err: ApiError) -> aiohttp.web.Response:
        return aiohttp.web.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                          "message": err.message, "reason": err.reason, "code": err.code},
                                         status=err.code)

    def _key(self, kind: Kind, namespace: str | None, name: str) -> tuple[str, str, str, str]:
        return (kind.group, kind.plural, namespace or "" if kind.namespaced else "", name)

    def _fetch(self, kind: Kind, namespace: str | None, name: str | None) -> dict[str, Any]:
        obj = self._store.get(self._key(kind, namespace, name or ""))
        if obj is None:
            raise ApiError(404, "NotFound", f'{kind.plural} "{name}" not found')
        return copy.deepcopy(obj)

    def _selected(self, request: rendering.Request, kind: Kind, obj: dict[str, Any]) -> bool:
        meta = obj.get("metadata", {})
        if kind.namespaced and request.namespace and meta.get("namespace") != request.namespace:
            return False
        if request.name and meta.get("name") != request.name:
            return False
        return (label_match(request.params.get("labelSelector"), meta.get("labels") or {})
                and field_match(request.params.get("fieldSelector"), obj))

    def _list(self, request: rendering.Request, kind: Kind) -> dict[str, Any]:
        self.lists.append((kind.plural, request.namespace))
        items = [copy.deepcopy(o) for (g, p, _, _), o in sorted(self._store.items())
                 if (g, p) == (kind.group, kind.plural) and self._selected(request, kind, o)]
        version = request.resource.version if request.resource else "v1"
        return {"kind": f"{kind.kind}List", "apiVersion": f"{kind.group}/{version}" if kind.group else version,
                "metadata": {"resourceVersion": str(self._rv)}, "items": items}

    async def _emit(self, kind: Kind, type_: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        self._events.append((self._rv, kind.group, kind.plural, type_, copy.deepcopy(obj), old))
        del self._events[:-HISTORY]
        # No lock: a Condition's lock can leak when wait_for and a client disconnect race.
        self._wake()

    def _bump(self, obj: dict[str, Any]) -> None:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)

    async def _create(self, request: rendering.Request, kind: Kind) -> dict[str, Any]:
        obj = copy.deepcopy(request.data) if isinstance(request.data, dict) else None
        if obj is None:
            raise ApiError(400, "BadRequest", "body must be a JSON object")
        meta = obj.setdefault("metadata", {})
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise ApiError(422, "Invalid", "metadata.name or metadata.generateName is required")
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if kind.namespaced:
            meta["namespace"] = request.namespace or meta.get("namespace") or "default"
        else:
            meta.pop("namespace", None)
        key = self._key(kind, meta.get("namespace"), meta["name"])
        if key in self._store:
            raise ApiError(409, "AlreadyExists", f'{kind.plural} "{meta["name"]}" already exists')
        for field in ("resourceVersion", "deletionTimestamp"):
            meta.pop(field, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _now()
        meta["generation"] = 1
        if kind.status:
            obj.pop("status", None)
        if (kind.group, kind.plural) == ("", "services"):  # the API server allocates a ClusterIP
            spec = obj.setdefault("spec", {})
            if not spec.get("clusterIP"):
                self._ips += 1
                spec["clusterIP"] = f"10.96.{self._ips // 250}.{self._ips % 250 + 1}"
        self._bump(obj)
        self._store[key] = obj
        self.writes.append(("create", kind.plural, meta.get("namespace", ""), meta["name"], ""))
        await self._emit(kind, "ADDED", obj, None)
        return copy.deepcopy(obj)

    async def _update(self, request: rendering.Request, kind: Kind) -> dict[str, Any]:
        key = self._key(kind, request.namespace, request.name or "")
        old = self._store.get(key)
        if old is None:
            raise ApiError(404, "NotFound", f'{kind.plural} "{request.name}" not found')
        body = request.data
        ctype = request.headers.get("Content-Type", "").split(";")[0].strip()
        status_only = request.subresource == "status"
        if request.subresource not in (None, "status"):
            raise ApiError(404, "NotFound", f"subresource {request.subresource} not served")
        sent_rv = None
        if request.method == "PUT":
            if not isinstance(body, dict):
                raise ApiError(400, "BadRequest", "body must be an object")
            sent_rv = (body.get("metadata") or {}).get("resourceVersion")
            if not sent_rv:
                raise ApiError(422, "Invalid", "metadata.resourceVersion must be specified for an update")
            new = copy.deepcopy(body)
        elif ctype == "application/json-patch+json":
            if not isinstance(body, list):
                raise ApiError(400, "BadRequest", "a JSON patch must be a list of operations")
            new = json_patch(old, body)
        elif ctype in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            if not isinstance(body, dict):
                raise ApiError(400, "BadRequest", "a merge patch must be an object")
            sent_rv = (body.get("metadata") or {}).get("resourceVersion")
            new = merge_patch(old, body)
        else:
            raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {ctype}")
        if sent_rv is not None and sent_rv != old["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {kind.plural} "{request.name}": '
                                            "the object has been modified; please apply your changes to the latest "
                                            "version and try again")
        if status_only:  # only .status changes
            result = copy.deepcopy(old)
            if "status" in new:
                result["status"] = new["status"]
            else:
                result.pop("status", None)
        else:
            result = new
            if kind.status:  # the main resource never changes status
                if "status" in old:
                    result["status"] = copy.deepcopy(old["status"])
                else:
                    result.pop("status", None)
            meta, old_meta = result.setdefault("metadata", {}), old["metadata"]
            for field in ("uid", "creationTimestamp", "generation", "name", "namespace", "deletionTimestamp"):
                if field in old_meta:
                    meta[field] = old_meta[field]
                else:
                    meta.pop(field, None)
            spec_old = {k: v for k, v in old.items() if k not in ("metadata", "status")}
            spec_new = {k: v for k, v in result.items() if k not in ("metadata", "status")}
            if spec_old != spec_new:
                meta["generation"] = int(old_meta.get("generation", 1)) + 1
        result["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        if result == old:
            return copy.deepcopy(old)  # a no-op write changes nothing, emits nothing
        self._bump(result)
        self._store[key] = result
        self.writes.append(("patch" if request.method == "PATCH" else "update", kind.plural, key[2], key[3],
                            request.subresource or ""))
        meta = result["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            del self._store[key]
            await self._emit(kind, "DELETED", result, None)
        else:
            await self._emit(kind, "MODIFIED", result, old)
        return copy.deepcopy(result)

    async def _delete(self, kind: Kind, namespace: str, name: str) -> dict[str, Any]:
        key = self._key(kind, namespace, name)
        obj = self._store.get(key)
        if obj is None:
            raise ApiError(404, "NotFound", f'{kind.plural} "{name}" not found')
        self.writes.append(("delete", kind.plural, key[2], name, ""))
        if obj["metadata"].get("finalizers"):
            if not obj["metadata"].get("deletionTimestamp"):
                old = copy.deepcopy(obj)
                obj["metadata"]["deletionTimestamp"] = _now()
                self._bump(obj)
                await self._emit(kind, "MODIFIED", obj, old)
            return copy.deepcopy(obj)
        del self._store[key]
        self._rv += 1
        gone = copy.deepcopy(obj)
        gone["metadata"]["resourceVersion"] = str(self._rv)
        await self._emit(kind, "DELETED", gone, None)
        await self._collect_garbage(obj["metadata"]["uid"])
        return gone

    async def _collect_garbage(self, owner_uid: str) -> None:
        for (group, plural, ns, name), obj in list(self._store.items()):
            refs = obj["metadata"].get("ownerReferences") or []
            if any(r.get("uid") == owner_uid for r in refs):
                kind = next(k for k in (self._kind(group, r.version, plural) for r in self.resources
                                        if r.group == group and r.plural == plural) if k)
                if self._store.get((group, plural, ns, name)) is obj:
                    await self._delete(kind, ns, name)

    async def _watch(self, request: rendering.Request, kind: Kind) -> aiohttp.web.StreamResponse:
        return await watch(self, request, kind)


# The test-side client lives in cluster.py; imported from here too, as the tests always have.
from .cluster import Cluster, eventually  # noqa: E402

__all__ = ["ApiError", "Cluster", "KubeAPI", "eventually"]
