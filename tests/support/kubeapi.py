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
- watch: `?watch=true|True|1`; with `?resourceVersion=N` (N > 0) replays only later events
  (410 Gone past the retained history), else sends the current objects as ADDED first;
  selector-filtered watches see DELETED/ADDED when an object stops/starts matching;
  `timeoutSeconds` honoured; no BOOKMARKs;
- Services get a ClusterIP on create (10.96.x.y); no other controller runs (tests play the
  kube-controller-manager, e.g. by patching a Deployment's status);
- DELETE: finalizers → deletionTimestamp; objects owned (ownerReferences uid) are deleted too
  (background cascading, immediately; no orphan policy).
- not emulated: schema pruning/validation, admission, server-side apply, BOOKMARKs.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import json
import re
import uuid
from pathlib import Path
from typing import Any

import time
from typing import Awaitable, Callable

import aiohttp
import aiohttp.web
import attrs
import kmock
import yaml
from kmock._internal import rendering
from kubernetes_asyncio import client

REPO = Path(__file__).resolve().parents[2]
HISTORY = 5000  # events retained for watch resumption; older resourceVersions get 410 Gone


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def json_patch(doc: Any, ops: list[dict[str, Any]]) -> Any:
    """RFC 6902 (add, remove, replace, test, copy, move); ApiError 422 when an op fails."""
    doc = copy.deepcopy(doc)

    def parent(path: str) -> tuple[Any, str]:
        parts = _pointer(path)
        node = doc
        for p in parts[:-1]:
            node = node[int(p)] if isinstance(node, list) else node[p]
        return node, parts[-1]

    def get(path: str) -> Any:
        node = doc
        for p in _pointer(path):
            node = node[int(p)] if isinstance(node, list) else node[p]
        return node

    for op in ops:
        kind, path = op.get("op"), op.get("path", "")
        try:
            if kind == "test":
                if get(path) != op.get("value"):
                    raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our "
                                                   f"request: test operation failed at {path}")
                continue
            if kind in ("add", "replace", "copy", "move"):
                value = copy.deepcopy(op["value"]) if kind in ("add", "replace") else get(op["from"])
                if kind == "move":
                    p, k = parent(op["from"])
                    del p[int(k) if isinstance(p, list) else k]
                p, k = parent(path)
                if isinstance(p, list):
                    if k == "-":
                        p.append(value)
                    elif kind == "replace":
                        p[int(k)] = value
                    else:
                        p.insert(int(k), value)
                else:
                    if kind == "replace" and k not in p:
                        raise KeyError(k)
                    p[k] = value
            elif kind == "remove":
                p, k = parent(path)
                del p[int(k) if isinstance(p, list) else k]
            else:
                raise ApiError(422, "Invalid", f"unknown JSON-patch op {kind!r}")
        except ApiError:
            raise
        except (KeyError, IndexError, ValueError, TypeError) as err:
            raise ApiError(422, "Invalid", f"JSON-patch {kind} {path} failed: {err!r}")
    return doc


_REQ = re.compile(r"^\s*(!?)([A-Za-z0-9_./-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9_./-]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*$")


def _split_selector(selector: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in selector:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return parts


def label_match(selector: str | None, labels: dict[str, str]) -> bool:
    for req in _split_selector(selector or ""):
        m = _REQ.match(req)
        if not m:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {req!r}")
        neg, key, op, value, setop, values = m.groups()
        if op in ("=", "=="):
            ok = labels.get(key) == value
        elif op == "!=":
            ok = labels.get(key) != value
        elif setop:
            choices = {v.strip() for v in values.split(",")}
            ok = labels.get(key) in choices if setop == "in" else labels.get(key) not in choices
        else:
            ok = (key in labels) != bool(neg)
        if not ok:
            return False
    return True


def field_match(selector: str | None, obj: dict[str, Any]) -> bool:
    for req in _split_selector(selector or ""):
        key, op, value = re.match(r"^\s*([^=!]+?)\s*(==|=|!=)\s*(.*?)\s*$", req).groups()  # type: ignore[union-attr]
        node: Any = obj
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if (str(node or "") == value) != (op != "!="):
            return False
    return True


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
        items = [copy.deepcopy(o) for (g, p, _, _), o in sorted(self._store.items())
                 if (g, p) == (kind.group, kind.plural) and self._selected(request, kind, o)]
        version = request.resource.version if request.resource else "v1"
        return {"kind": f"{kind.kind}List", "apiVersion": f"{kind.group}/{version}" if kind.group else version,
                "metadata": {"resourceVersion": str(self._rv)}, "items": items}

    async def _emit(self, kind: Kind, type_: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        self._events.append((self._rv, kind.group, kind.plural, type_, copy.deepcopy(obj), old))
        del self._events[:-HISTORY]
        # No lock: a Condition's lock can leak when wait_for and a client disconnect race.
        changed, self._changed = self._changed, asyncio.Event()
        if changed is not None:
            changed.set()

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
        assert request._raw_request is not None and self._changed is not None
        since_param = request.params.get("resourceVersion", "")
        since = int(since_param) if since_param.isdigit() else 0
        timeout = float(request.params.get("timeoutSeconds") or 3600)
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request._raw_request)

        async def send(type_: str, obj: dict[str, Any]) -> None:
            await response.write(json.dumps({"type": type_, "object": obj}).encode() + b"\n")

        if since and self._events and since < self._events[0][0] - 1 and since < self._rv - HISTORY:
            await send("ERROR", {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 410,
                                 "reason": "Expired", "message": f"too old resource version: {since}"})
            return response
        cursor = since if since else self._rv
        if not since:  # "get state and start at most recent"
            for (g, p, _, _), o in sorted(self._store.items()):
                if (g, p) == (kind.group, kind.plural) and self._selected(request, kind, o):
                    await send("ADDED", o)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while loop.time() < deadline:
                for rv, g, p, type_, obj, old in [e for e in self._events if e[0] > cursor]:
                    cursor = rv
                    if (g, p) != (kind.group, kind.plural):
                        continue
                    now_ok = self._selected(request, kind, obj)
                    was_ok = old is not None and self._selected(request, kind, old)
                    if type_ == "DELETED":
                        if now_ok:
                            await send("DELETED", obj)
                    elif type_ == "ADDED":
                        if now_ok:
                            await send("ADDED", obj)
                    elif now_ok:
                        await send("MODIFIED" if was_ok else "ADDED", obj)  # ADDED: started matching
                    elif was_ok:
                        await send("DELETED", obj)  # stopped matching the selector
                changed = self._changed
                if changed is not None and not (self._events and self._events[-1][0] > cursor):
                    try:
                        await asyncio.wait_for(changed.wait(), max(0.0, min(1.0, deadline - loop.time())))
                    except asyncio.TimeoutError:
                        pass
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response


# ---------------------------------------------------------------- test-side helpers

class Cluster:
    """The emulated API server plus helpers that talk to it over HTTP, as kubectl would."""

    def __init__(self, api: KubeAPI, url: str, session: aiohttp.ClientSession) -> None:
        self.api = api
        self.url = url.rstrip("/")
        self.http = session

    def config(self) -> client.Configuration:
        return client.Configuration(host=self.url)

    def _path(self, api_version: str, kind: str, namespace: str | None, name: str | None = None,
              sub: str | None = None) -> str:
        group, _, version = api_version.rpartition("/")
        for r in self.api.resources:
            info = self.api.resources[r]
            if r.group == group and r.version == version and info.kind == kind:
                base = f"/apis/{group}/{version}" if group else f"/api/{version}"
                if info.namespaced:
                    base += f"/namespaces/{namespace or 'default'}"
                return base + f"/{r.plural}" + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")
        raise KeyError(f"{api_version} {kind}")

    async def _call(self, method: str, path: str, body: Any = None,
                    content_type: str = "application/merge-patch+json") -> dict[str, Any]:
        headers = {"Content-Type": content_type} if body is not None else {}
        async with self.http.request(method, self.url + path, json=body, headers=headers) as resp:
            data = await resp.json(content_type=None)
            if resp.status >= 300:
                raise AssertionError(f"{method} {path}: {resp.status} {data}")
            return data

    async def create(self, doc: dict[str, Any]) -> dict[str, Any]:
        """POST, then PATCH /status when the doc carries a status (as a kubelet or controller would)."""
        meta = doc.get("metadata", {})
        created = await self._call("POST", self._path(doc["apiVersion"], doc["kind"], meta.get("namespace")),
                                   doc, "application/json")
        if doc.get("status"):
            created = await self.patch_status(doc, doc["status"])
        return created

    async def apply_yaml(self, text: str) -> list[dict[str, Any]]:
        return [await self.create(d) for d in yaml.safe_load_all(text) if d]

    async def patch(self, doc: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
        meta = doc["metadata"]
        return await self._call("PATCH", self._path(doc["apiVersion"], doc["kind"], meta.get("namespace"),
                                                    meta["name"]), patch)

    async def patch_status(self, doc: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
        meta = doc["metadata"]
        return await self._call("PATCH", self._path(doc["apiVersion"], doc["kind"], meta.get("namespace"),
                                                    meta["name"], "status"), {"status": status})

    async def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict[str, Any]:
        return await self._call("DELETE", self._path(api_version, kind, namespace, name))

    async def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        async with self.http.get(self.url + self._path(api_version, kind, namespace, name)) as resp:
            return await resp.json() if resp.status == 200 else None


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 10.0, interval: float = 0.05,
                     what: str = "condition") -> Any:
    """Poll `check` until it returns something truthy (bounded); the last error explains a timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            result = await check()
            if result:
                return result
            last = result
        except AssertionError as err:
            last = err
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}: {last!r}")
