"""Scenario helpers for end-to-end tests: pools and models as manifests, a gateway over
simulated fleets that waits until every pod is scraped, and small request helpers."""

from __future__ import annotations

import asyncio
import re
import time

import aiohttp

from inference_gateway.cli.sim_fleet import SimFleet

from .env import free_port, gateway_yaml, write_manifests

GROUP = "inference.networking.x-k8s.io"
POOL = "qwen-inference-pool"  # the name the seed's HTTPRoute (examples/gateway.yaml) sends to


def pool_doc(name: str, port: int, selector: dict, strategy: str | None = None, runtime: str | None = None) -> dict:
    annotations = {}
    if strategy:
        annotations[f"{GROUP}/routing-strategy"] = strategy
    if runtime:
        annotations[f"{GROUP}/model-server-runtime"] = runtime
    return {"apiVersion": f"{GROUP}/v1alpha2", "kind": "InferencePool",
            "metadata": {"name": name, "annotations": annotations},
            "spec": {"targetPortNumber": port, "selector": selector,
                     "extensionRef": {"name": "inference-gateway-ext-proc"}}}


def model_doc(name: str, pool: str, criticality: str = "Standard", targets: list | None = None) -> dict:
    spec = {"modelName": name, "criticality": criticality, "poolRef": {"group": GROUP, "kind": "InferencePool",
                                                                       "name": pool}}
    if targets:
        spec["targetModels"] = [{"name": n, "weight": w} for n, w in targets]
    return {"apiVersion": f"{GROUP}/v1alpha2", "kind": "InferenceModel",
            "metadata": {"name": re.sub(r"[^a-z0-9-]", "-", name.lower()).strip("-")}, "spec": spec}


async def start(tmp_path, start_gateway, fleets: list[SimFleet], docs: list[dict], gateway: str | None = None,
                **router):
    port = free_port()
    d = tmp_path / "manifests"
    d.mkdir()
    write_manifests(d, "pools.yaml", docs)
    write_manifests(d, "gateway.yaml", gateway.replace("PORT", str(port)) if gateway else gateway_yaml(port))
    write_manifests(d, "pods.yaml", "---\n".join(f.pods_yaml() for f in fleets))
    gw = await start_gateway(d, port, **router)
    # Every pod scraped at least once: decisions below depend on live metrics.
    deadline = time.monotonic() + 10
    pods = [p for f in fleets for p in f.pods]
    while not all(gw.gateway.router.state.fresh(p.address) for p in pods):
        assert time.monotonic() < deadline, "pods never scraped"
        await asyncio.sleep(0.05)
    return gw


def chat(model: str, text: str, max_tokens: int = 2, **extra) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": max_tokens, **extra}


async def post(session: aiohttp.ClientSession, url: str, body: dict, request_id: str | None = None):
    headers = {"x-request-id": request_id} if request_id else {}
    async with session.post(url + "/v1/chat/completions", json=body, headers=headers) as resp:
        if body.get("stream") and resp.status == 200:
            return resp.status, [line async for line in resp.content]
        return resp.status, await resp.json(content_type=None)


async def backlog(session: aiohttp.ClientSession, address: str, model: str, n: int, max_tokens: int) -> list:
    """Requests sent straight to one pod (not through the gateway), to make it busy."""
    return [asyncio.create_task(session.post(f"http://{address}/v1/chat/completions",
                                             json=chat(model, f"busy {i}", max_tokens=max_tokens)))
            for i in range(n)]


async def wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def close_all(tasks: list) -> None:
    for resp in await asyncio.gather(*tasks, return_exceptions=True):
        if isinstance(resp, aiohttp.ClientResponse):
            resp.release()
