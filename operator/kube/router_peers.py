"""Router replicas find each other for peer sync (router/peer_sync.py) through the Kubernetes
API: the ready addresses in the EndpointSlices of the router's own Service (label
`kubernetes.io/service-name`), each at the same peer-sync port as ours.

Polled rather than watched: the list is tiny, a few seconds of lag only delays when a new
replica is followed (it catches up by snapshot anyway), and a failed poll keeps the last
known peers, so the API server being away never disconnects replicas from each other.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

import structlog
from kubernetes_asyncio import client

log = structlog.get_logger("kube.router-peers")

POLL_INTERVAL = 5.0


def peer_endpoints(slices: list[dict[str, Any]], port: int) -> list[str]:
    """`tcp://ip:port` of every ready endpoint (an endpoint without conditions counts as ready,
    as the EndpointSlice API says)."""
    out = set()
    for s in slices:
        for endpoint in s.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            for address in endpoint.get("addresses") or []:
                host = f"[{address}]" if ":" in address else address
                out.add(f"tcp://{host}:{port}")
    return sorted(out)


class RouterPeers:
    def __init__(self, api: client.ApiClient, namespace: str, service: str, port: int,
                 on_change: Callable[[list[str]], None], interval: float = POLL_INTERVAL) -> None:
        self.discovery = client.DiscoveryV1Api(api)
        self.namespace, self.service, self.port = namespace, service, port
        self.on_change = on_change
        self.interval = interval
        self.peers: list[str] | None = None

    async def poll(self) -> None:
        listing = await self.discovery.list_namespaced_endpoint_slice(
            self.namespace, label_selector=f"kubernetes.io/service-name={self.service}", _preload_content=False)
        try:
            body = await listing.json(content_type=None)
        finally:
            listing.release()
        if listing.status >= 300:
            raise RuntimeError(f"listing EndpointSlices: {listing.status} {(body or {}).get('message', '')}")
        peers = peer_endpoints(body.get("items") or [], self.port)
        if peers != self.peers:
            self.peers = peers
            self.on_change(peers)

    async def run(self) -> None:
        while True:  # ends when the gateway cancels it
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception as err:  # keep the last peers; try again next round
                log.warning("router peers not listed; keeping the last known", error=str(err))
            await asyncio.sleep(self.interval)
