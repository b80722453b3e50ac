"""Watch requests of the emulated API server: resume from a resourceVersion or start with the
current objects, selector-aware event types, BOOKMARKs when asked for, 410 Gone after a
compaction (`KubeAPI.expire_watches`) or past the retained history."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import aiohttp.web
from kmock._internal import rendering

if TYPE_CHECKING:
    from .kubeapi import Kind, KubeAPI

HISTORY = 5000  # events retained for watch resumption; older resourceVersions get 410 Gone


async def watch(self: "KubeAPI", request: rendering.Request, kind: "Kind") -> aiohttp.web.StreamResponse:
    """One watch request, served as kube-apiserver does (see kubeapi.py's docstring)."""
    assert request._raw_request is not None and self._changed is not None
    params = request.params
    self.watches.append((kind.plural, request.namespace, dict(params)))
    since_param = params.get("resourceVersion", "")
    since = int(since_param) if since_param.isdigit() else 0
    timeout = float(params.get("timeoutSeconds") or 3600)
    bookmarks = params.get("allowWatchBookmarks", "").lower() in ("true", "1")
    epoch = self._epoch
    response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request._raw_request)

    async def send(type_: str, obj: dict[str, Any]) -> None:
        await response.write(json.dumps({"type": type_, "object": obj}).encode() + b"\n")

    if since and (since < self._compacted
                  or self._events and since < self._events[0][0] - 1 and since < self._rv - HISTORY):
        self.gone.append(kind.plural)
        await send("ERROR", {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 410,
                             "reason": "Expired", "message": f"too old resource version: {since} ({self._rv})"})
        return response
    cursor = since if since else self._rv
    if not since:  # "get state and start at most recent"
        for (g, p, _, _), o in sorted(self._store.items()):
            if (g, p) == (kind.group, kind.plural) and self._selected(request, kind, o):
                await send("ADDED", o)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    quiet_since = loop.time()
    version = request.resource.version if request.resource else "v1"
    try:
        while loop.time() < deadline and epoch == self._epoch:
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
                else:
                    continue
                quiet_since = loop.time()
            if bookmarks and loop.time() - quiet_since >= self.bookmark_interval:
                # "everything up to here was sent": a resume from it needs no relist
                self.bookmarks += 1
                self.bookmarked[kind.plural] = cursor
                quiet_since = loop.time()
                await send("BOOKMARK", {"kind": kind.kind, "apiVersion": f"{kind.group}/{version}".lstrip("/"),
                                        "metadata": {"resourceVersion": str(cursor)}})
            changed = self._changed
            if changed is not None and not (self._events and self._events[-1][0] > cursor):
                wait = min(1.0, deadline - loop.time())
                if bookmarks:
                    wait = min(wait, quiet_since + self.bookmark_interval - loop.time())
                try:
                    await asyncio.wait_for(changed.wait(), max(0.0, wait))
                except asyncio.TimeoutError:
                    pass
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    return response
