"""An ADS (aggregated discovery, state of the world, v3) server that feeds Envoy our resources.

Both providers use it: the file provider for local runs and the Kopf operator in a cluster, so
Envoy is configured one way everywhere and changes never need an Envoy restart.

Rules that keep Envoy safe (NOTES.md): never answer before the first snapshot exists (an empty
one would wipe Envoy); push clusters, then endpoints, then listeners; send every resource of a
type each time (a missing one is deleted); a NACK keeps Envoy on its last accepted version and
is logged and remembered (`rejections`) for status reporting, never retried in a loop.

Snapshots can be per group of nodes (in a cluster: one group per Gateway, named by the
`node.cluster` its provisioned Envoys send, so each gets only its own listeners). Nodes whose
group has no snapshot get the default one (`set_resources(resources)`, the standalone path),
or nothing until one exists.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

import grpc
import structlog
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from google.protobuf import any_pb2, json_format, symbol_database

# Every message type that appears in our resources (including inside typed_config) must be
# imported so json_format can resolve its "@type".
from envoy.config.cluster.v3 import cluster_pb2  # noqa: F401
from envoy.config.endpoint.v3 import endpoint_pb2  # noqa: F401
from envoy.config.listener.v3 import listener_pb2  # noqa: F401
from envoy.config.route.v3 import route_pb2  # noqa: F401
from envoy.extensions.access_loggers.file.v3 import file_pb2  # noqa: F401  (access_log.py)
from envoy.extensions.access_loggers.filters.cel.v3 import cel_pb2  # noqa: F401  (edge.py's local replies)
from envoy.extensions.access_loggers.stream.v3 import stream_pb2  # noqa: F401  (access_log.py)
from envoy.extensions.filters.http.buffer.v3 import buffer_pb2  # noqa: F401
from envoy.extensions.filters.http.ext_proc.v3 import ext_proc_pb2  # noqa: F401
from envoy.extensions.filters.http.header_mutation.v3 import header_mutation_pb2  # noqa: F401
from envoy.extensions.filters.http.header_to_metadata.v3 import header_to_metadata_pb2  # noqa: F401
from envoy.extensions.filters.http.router.v3 import router_pb2  # noqa: F401
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2  # noqa: F401
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2  # noqa: F401

from .translate.envoy import CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, EnvoyResources

log = structlog.get_logger("xds")

PUSH_ORDER = (CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE)
_db = symbol_database.Default()


def pack(type_url: str, resource: dict[str, Any]) -> any_pb2.Any:
    message = _db.GetSymbol(type_url.rpartition("/")[2])()
    json_format.ParseDict(resource, message)
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def _resource_name(type_url: str, resource: dict[str, Any]) -> str:
    return resource["cluster_name"] if type_url == ENDPOINT_TYPE else resource["name"]


@dataclass(frozen=True)
class Snapshot:
    version: str
    resources: dict[str, list[tuple[str, any_pb2.Any]]]  # type → [(name, packed)]


@dataclass(frozen=True)
class Rejection:
    node: str
    type_url: str
    version: str
    message: str


@dataclass
class _StreamState:
    node: str = ""
    group: str = ""  # node.cluster: which snapshot this Envoy gets
    subscribed: dict[str, tuple[str, ...]] = field(default_factory=dict)  # type → names asked
    sent: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)  # type → (version, names)
    nonces: dict[str, str] = field(default_factory=dict)
    counter: int = 0


class AdsServer(ads_pb2_grpc.AggregatedDiscoveryServiceServicer):
    def __init__(self) -> None:
        self._snapshot: Snapshot | None = None  # the default snapshot (nodes of no known group)
        self._groups: dict[str, Snapshot] = {}
        self._version = 0
        self._last: dict[tuple[str, str, str], tuple[str, str]] = {}  # (group, node, type) → (version, error or "")
        self._wakers: set[asyncio.Event] = set()
        self.acked: dict[tuple[str, str], str] = {}  # (node, type) → last accepted version
        self.rejections: list[Rejection] = []
        self._acked_changed = asyncio.Event()

    @property
    def version(self) -> str:
        return self._snapshot.version if self._snapshot else ""

    def set_resources(self, resources: EnvoyResources, group: str | None = None) -> str:
        """Pack and publish a new snapshot (for the nodes of `group`, else the default one);
        raises if a resource does not fit Envoy's schema (the caller keeps serving the
        previous one)."""
        packed = {t: [(_resource_name(t, r), pack(t, r)) for r in items] for t, items in resources.by_type().items()}
        self._version += 1
        snapshot = Snapshot(str(self._version), packed)
        if group is None:
            self._snapshot = snapshot
        else:
            self._groups[group] = snapshot
        for waker in self._wakers:
            waker.set()
        return snapshot.version

    def groups(self) -> set[str]:
        return set(self._groups)

    def remove_group(self, group: str) -> None:
        """Forget a group's snapshot (its Gateway is gone); its Envoys keep what they have."""
        self._groups.pop(group, None)
        for key in [k for k in self._last if k[0] == group]:
            del self._last[key]

    def rejected(self, group: str) -> list[str]:
        """Errors of the group's Envoys whose latest answer to some type was a NACK: the
        configuration they run is older than ours (kept by Envoy as the last good one)."""
        return sorted({error for (g, _, _), (_, error) in self._last.items() if g == group and error})

    async def wait_acked(self, version: str, type_url: str = LISTENER_TYPE, timeout: float = 10.0) -> None:
        """Until some Envoy has accepted `version` of `type_url` (or newer)."""
        async def accepted() -> None:
            while not any(t == type_url and int(v or 0) >= int(version) for (_, t), v in self.acked.items()):
                self._acked_changed.clear()
                await self._acked_changed.wait()
        await asyncio.wait_for(accepted(), timeout)

    async def StreamAggregatedResources(self, request_iterator: AsyncIterator[discovery_pb2.DiscoveryRequest],
                                        context: grpc.aio.ServicerContext) -> None:
        state = _StreamState()
        waker = asyncio.Event()
        inbox: asyncio.Queue[discovery_pb2.DiscoveryRequest | None] = asyncio.Queue()

        async def read() -> None:
            try:
                async for request in request_iterator:
                    inbox.put_nowait(request)
                    waker.set()
            finally:
                inbox.put_nowait(None)
                waker.set()

        reader = asyncio.create_task(read())
        self._wakers.add(waker)
        try:
            while True:  # ends when Envoy closes the stream (reader puts None)
                await waker.wait()
                waker.clear()
                while not inbox.empty():
                    request = inbox.get_nowait()
                    if request is None:
                        return
                    self._receive(state, request)
                for response in self._due(state):
                    await context.write(response)
        finally:
            self._wakers.discard(waker)
            reader.cancel()
            for key in [k for k in self._last if k[:2] == (state.group, state.node)]:
                del self._last[key]  # a gone Envoy's rejections are no longer anyone's problem

    def _receive(self, state: _StreamState, request: discovery_pb2.DiscoveryRequest) -> None:
        if request.node.id:
            state.node = request.node.id
        if request.node.cluster:
            state.group = request.node.cluster
        type_url = request.type_url
        if request.response_nonce and request.response_nonce != state.nonces.get(type_url):
            return  # answer to a response we have since replaced: ignore
        if request.HasField("error_detail"):
            rejection = Rejection(state.node, type_url, state.sent.get(type_url, ("", ()))[0],
                                  request.error_detail.message)
            self.rejections.append(rejection)
            del self.rejections[:-50]
            log.error("envoy rejected configuration", node=state.node, group=state.group,
                      type=type_url.rpartition(".")[2], version=rejection.version,
                      kept_version=request.version_info, error=rejection.message)
            self._last[(state.group, state.node, type_url)] = (rejection.version, rejection.message)
        elif request.response_nonce:
            self.acked[(state.node, type_url)] = request.version_info
            self._last[(state.group, state.node, type_url)] = (request.version_info, "")
            self._acked_changed.set()
        state.subscribed[type_url] = tuple(sorted(request.resource_names))
        if request.HasField("error_detail"):
            # Do not resend the rejected version; wait for the next snapshot.
            version, _ = state.sent.get(type_url, ("", ()))
            state.sent[type_url] = (version, state.subscribed[type_url])

    def _due(self, state: _StreamState) -> list[discovery_pb2.DiscoveryResponse]:
        snapshot = self._groups.get(state.group) or self._snapshot
        if snapshot is None:
            return []
        out = []
        for type_url in PUSH_ORDER:
            if type_url not in state.subscribed:
                continue
            names = state.subscribed[type_url]
            if state.sent.get(type_url) == (snapshot.version, names):
                continue
            resources = snapshot.resources.get(type_url, [])
            if type_url in (ENDPOINT_TYPE, ROUTE_TYPE) and names:
                resources = [(n, r) for n, r in resources if n in names]
            state.counter += 1
            nonce = str(state.counter)
            state.nonces[type_url] = nonce
            state.sent[type_url] = (snapshot.version, names)
            out.append(discovery_pb2.DiscoveryResponse(
                version_info=snapshot.version, type_url=type_url, nonce=nonce,
                resources=[r for _, r in resources]))
        return out


async def start_ads_server(server: AdsServer, host: str, port: int) -> grpc.aio.Server:
    grpc_server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    ads_pb2_grpc.add_AggregatedDiscoveryServiceServicer_to_server(server, grpc_server)
    grpc_server.add_insecure_port(f"{host}:{port}")
    await grpc_server.start()
    return grpc_server
