"""The conformance environment, locally: one gateway (router + real Envoy) shared by every
test, echo pods standing in for model servers, and our router in picker mode standing in for
each endpoint-picker Deployment.

Tests apply their scenario's objects into the watched directory, assert, and remove them, as
the upstream suite applies and cleans each test's manifests. By default the objects are our
own (scenarios.py). With `IGW_CONFORMANCE_MANIFESTS=DIR`, DIR being the `conformance/`
directory of a gateway-api-inference-extension checkout (`resources/base.yaml`,
`tests/**/<name>.yaml`), the harness loads upstream's manifests as shipped instead.

Local substitutions, made at load time in either case:
- the Gateways' class → ours; each Gateway's listener port → a free port (the Gateways share
  one Envoy, which cannot bind one port twice);
- each Deployment → its Pods as manifests (labels from the template, one 127.8.x.y address per
  pod, Ready): model-server pods are echo servers (echo.py; a port named by an `H2C_PORT` env
  speaks h2c), picker pods (a container passing `--pool-name`) are our router in picker mode
  (`igw run --pool NS/NAME`, with the conformance test header on; the first picker runs whole,
  the others share the gateway's routing table);
- each picker Service's targetPort → the free port its picker listens on.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from inference_gateway.operator.ports import free_port
from inference_gateway.cli.standalone import Standalone, StandaloneSettings
from inference_gateway.router.server import Router, RouterSettings

from . import scenarios
from .echo import EchoPod
from .scenarios import APP_NS, INFRA_NS, V1

MANIFESTS_ENV = "IGW_CONFORMANCE_MANIFESTS"
GATEWAY_CLASS = "inference-gateway-class"
V1ALPHA2 = "inference.networking.x-k8s.io"


def manifests_dir() -> Path | None:
    """The upstream `conformance/` directory to run instead of our scenarios, if one is given."""
    value = os.environ.get(MANIFESTS_ENV)
    if not value:
        return None
    root = Path(value)
    if not (root / "resources" / "base.yaml").is_file():
        raise FileNotFoundError(f"{MANIFESTS_ENV}={value}: no resources/base.yaml there")
    return root


def _docs(name: str) -> list[dict[str, Any]]:
    """A scenario's objects: upstream's manifest when one is given, else ours."""
    root = manifests_dir()
    if root is None:
        return scenarios.scenario(name)
    if name == "base.yaml":
        path = root / "resources" / name
    else:
        # Flat under tests/ in v1.6.0; some releases group them (tests/basic/…).
        found = sorted((root / "tests").rglob(name))
        if not found:
            raise FileNotFoundError(f"{MANIFESTS_ENV}={root}: no tests/**/{name}")
        path = found[0]
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def to_v1alpha2(doc: dict[str, Any]) -> dict[str, Any]:
    """The same object in the seed's version: v1 pools as v1alpha2, backendRefs to that group."""
    doc = copy.deepcopy(doc)
    if doc.get("kind") == "InferencePool" and doc["apiVersion"] == f"{V1}/v1":
        spec = doc["spec"]
        new = {"selector": spec["selector"]["matchLabels"], "targetPortNumber": spec["targetPorts"][0]["number"]}
        ref = spec.get("endpointPickerRef")
        if ref:
            new["extensionRef"] = {"name": ref["name"], "portNumber": ref["port"]["number"],
                                   **({"failureMode": ref["failureMode"]} if "failureMode" in ref else {})}
        doc["apiVersion"], doc["spec"] = f"{V1ALPHA2}/v1alpha2", new
    if doc.get("kind") == "HTTPRoute":
        for rule in doc["spec"].get("rules") or []:
            for ref in rule.get("backendRefs") or []:
                if ref.get("group") == V1:
                    ref["group"] = V1ALPHA2
    return doc


@dataclass(frozen=True)
class PodInfo:
    name: str
    ip: str
    labels: dict[str, str] = field(compare=False, hash=False)


class Conformance:
    def __init__(self, root: Path, version: str = "v1") -> None:
        self.root = root
        self.version = version
        self.dir = root / "manifests"
        self.dir.mkdir(parents=True)
        self.gateway_ports: dict[str, int] = {}
        self.pods: list[PodInfo] = []
        self.echo: list[EchoPod] = []
        self.pickers: list[Standalone | Router] = []
        self.gateway: Standalone | None = None
        self.http: aiohttp.ClientSession | None = None
        self._base: list[dict[str, Any]] = []

    # ---- setup

    def _convert(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return docs if self.version == "v1" else [to_v1alpha2(d) for d in docs]

    def _substitute(self) -> tuple[list[dict[str, Any]], list[tuple[str, str, str, int]]]:
        """base.yaml with the local substitutions; returns the docs and the pickers to start
        (ip, pool namespace, pool name, port)."""
        docs = _docs("base.yaml")
        out: list[dict[str, Any]] = []
        pickers: list[tuple[str, str, str, int]] = []
        picker_ports: dict[tuple[str, str], int] = {}  # (namespace, app label) → port
        for index, doc in enumerate(docs):
            kind = doc.get("kind")
            if kind == "Gateway":
                doc["spec"]["gatewayClassName"] = GATEWAY_CLASS
                port = free_port("127.0.0.1")
                self.gateway_ports[doc["metadata"]["name"]] = port
                for listener in doc["spec"]["listeners"]:
                    listener["port"] = port
            elif kind == "Deployment":
                template = doc["spec"]["template"]
                labels = template["metadata"]["labels"]
                ns = doc["metadata"]["namespace"]
                containers = template["spec"]["containers"]
                for replica in range(doc["spec"].get("replicas", 1)):
                    pod = PodInfo(f"{doc['metadata']['name']}-{replica}", f"127.8.{index}.{replica + 2}", dict(labels))
                    self.pods.append(pod)
                    if any("--pool-name" in (c.get("args") or []) for c in containers):
                        args = containers[0]["args"]
                        pool = args[args.index("--pool-name") + 1]
                        pool_ns = args[args.index("--pool-namespace") + 1]
                        port = picker_ports.setdefault((ns, labels["app"]), free_port(pod.ip))
                        pickers.append((pod.ip, pool_ns, pool, port))
                    else:
                        ports = sorted({p["containerPort"] for c in containers for p in c.get("ports") or []})
                        h2c = {int(e["value"]) for c in containers for e in c.get("env") or []
                               if e["name"] == "H2C_PORT"} & set(ports)
                        self.echo.append(EchoPod(pod.name, ns, pod.ip, ports, h2c))
                out.extend({"apiVersion": "v1", "kind": "Pod",
                            "metadata": {"name": pod.name, "namespace": ns, "labels": labels},
                            "status": {"podIP": pod.ip, "phase": "Running",
                                       "conditions": [{"type": "Ready", "status": "True"}]}}
                           for pod in self.pods[-doc["spec"].get("replicas", 1):])
                continue
            out.append(doc)
        for doc in out:
            if doc.get("kind") == "Service":
                port = picker_ports[(doc["metadata"]["namespace"], doc["spec"]["selector"]["app"])]
                for p in doc["spec"]["ports"]:
                    p["targetPort"] = port
        gateway_class = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
                         "metadata": {"name": GATEWAY_CLASS},
                         "spec": {"controllerName": "inference.networking.x-k8s.io/gateway-controller"}}
        return [gateway_class, *self._convert(out)], pickers

    def _write(self, name: str, docs: list[dict[str, Any]]) -> None:
        # Atomically, as `kubectl apply` replaces an object: a half-written file is never read.
        tmp = self.dir / f".{name}.tmp"
        tmp.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        tmp.replace(self.dir / name)

    async def start(self) -> None:
        docs, pickers = self._substitute()
        self._base = docs
        self._write("base.yaml", docs)
        for pod in self.echo:
            await pod.start()
        self.gateway = Standalone(StandaloneSettings(
            manifests=[self.dir], reload_interval=0.1,
            router=RouterSettings(ext_proc_port=free_port(), health_port=0, metrics_port=0, scrape_interval=0.5,
                                  stale_after=30),
            xds_port=free_port(), admin_port=free_port(), envoy_concurrency=1, workdir=self.root / "envoy"))
        await self.gateway.start()
        for index, (ip, ns, pool, port) in enumerate(pickers):
            settings = RouterSettings(host=ip, ext_proc_port=port, health_port=0, metrics_port=0, scrape_interval=0.5,
                                      stale_after=30, pool=f"{ns}/{pool}", test_endpoint_selection=True)
            if index == 0:
                # The first picker is a whole `igw run --pool NS/NAME --manifests DIR`.
                picker: Standalone | Router = Standalone(StandaloneSettings(
                    manifests=[self.dir], reload_interval=0.1, router=settings))
            else:
                # The others are the same router in picker mode on the gateway's routing table
                # (the same manifests): reading every manifest once per picker costs seconds.
                picker = Router(self.gateway.holder, settings)
            await picker.start()
            self.pickers.append(picker)
        # A new connection per request: a route change replaces the Envoy listener, and a kept-alive
        # connection would keep the old routes while it drains.
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20),
                                          connector=aiohttp.TCPConnector(force_close=True))

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()
        for s in [*self.pickers, *([self.gateway] if self.gateway else [])]:
            await s.stop()
        for pod in self.echo:
            await pod.stop()

    # ---- manifests

    async def _reloaded(self, change) -> None:
        everyone = [self.gateway, *(p for p in self.pickers if isinstance(p, Standalone))]
        before = [s._version for s in everyone]
        change()
        deadline = time.monotonic() + 10
        while any(s._version == v for s, v in zip(everyone, before)):
            assert time.monotonic() < deadline, "manifests not reloaded"
            await asyncio.sleep(0.02)
        await self.gateway.ads.wait_acked(self.gateway.ads.version)

    async def apply(self, name: str, docs: list[dict[str, Any]] | None = None) -> None:
        """Apply the scenario `name` (or `docs`) as the file `name`."""
        docs = self._convert(docs if docs is not None else _docs(name))
        await self._reloaded(lambda: self._write(name, docs))

    async def delete(self, name: str) -> None:
        if (self.dir / name).exists():
            await self._reloaded(lambda: (self.dir / name).unlink())

    async def delete_objects(self, name: str, kind: str, object_name: str) -> None:
        """Delete one object of an applied manifest (kubectl delete KIND NAME)."""
        docs = [d for d in yaml.safe_load_all((self.dir / name).read_text()) if d
                and not (d["kind"] == kind and d["metadata"]["name"] == object_name)]
        # A blank file reads as one being written (its last contents stay): remove it instead.
        await self._reloaded(lambda: self._write(name, docs) if docs else (self.dir / name).unlink())

    async def edit_base(self, edit) -> None:
        docs = copy.deepcopy(self._base)
        edit(docs)
        await self._reloaded(lambda: self._write("base.yaml", docs))

    async def restore_base(self) -> None:
        await self._reloaded(lambda: self._write("base.yaml", self._base))

    # ---- observations

    def status(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        if kind == "InferencePool" and self.version == "v1":
            kind = f"InferencePool.{V1}"
        return self.gateway.statuses.get((kind, namespace, name), {})

    def pool_parent(self, pool: str, gateway: str) -> dict[str, Any] | None:
        status = self.status("InferencePool", APP_NS, pool)
        for parent in status.get("parents" if self.version == "v1" else "parent") or []:
            ref = parent["parentRef"]
            if ref.get("name") == gateway and ref.get("namespace") == INFRA_NS:
                return parent
        return None

    def pool_parents(self, pool: str) -> list[dict[str, Any]]:
        status = self.status("InferencePool", APP_NS, pool)
        parents = status.get("parents" if self.version == "v1" else "parent") or []
        return [p for p in parents if p["parentRef"].get("kind") != "Status"]

    def route_condition(self, route: str, gateway: str, type_: str) -> dict[str, Any] | None:
        for parent in self.status("HTTPRoute", APP_NS, route).get("parents") or []:
            if parent["parentRef"]["name"] == gateway:
                return next((c for c in parent["conditions"] if c["type"] == type_), None)
        return None

    def pods_of(self, app: str) -> list[PodInfo]:
        return [p for p in self.pods if p.labels.get("app") == app]

    async def request(self, gateway: str, path: str, host: str | None = None, method: str = "GET",
                      body: str | None = None, headers: dict[str, str] | None = None
                      ) -> tuple[int, dict[str, str], dict[str, Any] | None]:
        url = f"http://127.0.0.1:{self.gateway_ports[gateway]}{path}"
        hdrs = dict(headers or {})
        if host:
            hdrs["Host"] = host
        if body is not None:
            hdrs["Content-Type"] = "application/json"
        async with self.http.request(method, url, data=body, headers=hdrs) as resp:
            text = await resp.text()
            try:
                payload = json.loads(text)
            except ValueError:
                payload = None
            return resp.status, dict(resp.headers), payload

    async def eventually(self, gateway: str, path: str, want: int | tuple[int, ...] = 200, attempts: int = 50,
                         **kw: Any) -> tuple[int, dict[str, str], dict[str, Any] | None]:
        """Upstream's MakeRequestAndExpectEventuallyConsistentResponse, bounded: the first
        answer with the wanted status (a route may take a reload to appear or go)."""
        wanted = (want,) if isinstance(want, int) else want
        last = None
        for _ in range(attempts):
            last = await self.request(gateway, path, **kw)
            if last[0] in wanted:
                return last
            await asyncio.sleep(0.1)
        raise AssertionError(f"{path}: wanted {wanted}, last answer {last[0]}: {last[2]}")
