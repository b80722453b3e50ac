"""The test side of the emulated API server: a client that talks to it over HTTP, as kubectl
would, and a bounded poll."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable

import aiohttp
import yaml
from kubernetes_asyncio import client

if TYPE_CHECKING:
    from .kubeapi import KubeAPI


class Cluster:
    """The emulated API server plus helpers that talk to it over HTTP, as kubectl would."""

    def __init__(self, api: KubeAPI, url: str, session: aiohttp.ClientSession) -> None:
        self.api = api
        self.url = url.rstrip("/")
        self.http = session

    def config(self, token: str | None = None) -> client.Configuration:
        """A client configuration; with `token`, requests carry it and RBAC applies (kuberbac.py)."""
        if token is None:
            return client.Configuration(host=self.url)
        return client.Configuration(host=self.url, api_key={"BearerToken": token},
                                    api_key_prefix={"BearerToken": "Bearer"})

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
