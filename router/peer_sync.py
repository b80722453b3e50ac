"""Shared prefix knowledge across router replicas (estimate mode), over ZeroMQ publish/subscribe.

Envoy spreads ext_proc streams over the router replicas, so each replica routes only part of
the traffic, and an estimate index fed by its own picks alone misses the rest: the next turn
of a conversation another replica routed scores no prefix. Here every replica publishes its
picks and applies everyone else's, so each index converges on the union of all decisions.
Eventually consistent, no leader, and nothing on the request path waits for a peer: a pick is
recorded locally at once and published a few milliseconds later.

Wire protocol (each replica binds one XPUB socket at `--peer-listen`, and one SUB socket
connects to every peer's):
- decisions: multipart `[b"D", sender, seq, payload]`; seq an 8-byte big-endian counter per
  sender; payload msgpack `[[address, capacity | nil, hashes], ...]`, hashes the chained block
  hashes of the prompt as little-endian uint64 bytes, in prompt order (applying them touches
  the LRU as the pick did). Picks are batched for FLUSH_INTERVAL, one message per batch.
- catch-up: besides `D`, the SUB subscribes to `S` + its own id. XPUB reports every
  subscription it receives (XPUB_VERBOSE: repeated ones too), and ZeroMQ reconnects and
  resubscribes by itself; so whenever a replica (re)connects to a peer, that peer sends it a
  snapshot of its whole index (what it routed and what it learned), one message per endpoint,
  least recently used blocks first, then an end marker `[topic, sender, b"end", b""]`. A
  restarted replica thus catches up from every live peer with no request of its own.
- best effort: a PUB socket drops past its high-water mark; a lost batch costs some affinity,
  never a request. Gaps in a sender's seq are counted (`igw_peer_sync_gaps_total`), and the
  replica resubscribes to its snapshot topic (at most every RESYNC_INTERVAL), so the peers'
  snapshots fill in what was lost.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from array import array
from typing import Iterable

import msgpack
import structlog
import zmq
import zmq.asyncio
from prometheus_client import CollectorRegistry, Counter

from .prefix_index import PrefixIndex
from .table import RoutingTable

log = structlog.get_logger("peer-sync")

DEFAULT_PORT = 5600
FLUSH_INTERVAL = 0.005    # seconds picks wait to share one message
SNAPSHOT_CHUNK = 65_536   # hashes per snapshot message (512 KiB)
HWM = 100_000             # messages queued per peer before ZeroMQ drops
RESYNC_INTERVAL = 5.0     # seconds between snapshot requests after lost messages
DECISIONS = b"D"
SNAPSHOT = b"S"
END = b"end"


def pack_hashes(hashes: list[int]) -> bytes:
    a = array("Q", hashes)
    if sys.byteorder != "little":
        a.byteswap()
    return a.tobytes()


def unpack_hashes(data: bytes) -> list[int]:
    a = array("Q")
    a.frombytes(data)
    if sys.byteorder != "little":
        a.byteswap()
    return a.tolist()


class PeerSyncMetrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        r = registry or CollectorRegistry()
        self.sent_bytes = Counter("igw_peer_sync_sent_bytes", "Bytes published to peers (payloads).", ["kind"],
                                  registry=r)
        self.received_bytes = Counter("igw_peer_sync_received_bytes", "Bytes received from peers (payloads).",
                                      ["kind"], registry=r)
        self.picks_sent = Counter("igw_peer_sync_picks_sent", "Local picks published.", registry=r)
        self.picks_applied = Counter("igw_peer_sync_picks_applied", "Peers' picks applied to the index.",
                                     registry=r)
        self.snapshots = Counter("igw_peer_sync_snapshots", "Snapshots sent to or received from peers.",
                                 ["direction"], registry=r)
        self.gaps = Counter("igw_peer_sync_gaps", "Peer messages lost (gaps in a sender's sequence).", registry=r)
        self.seconds = Counter("igw_peer_sync_seconds", "Time spent encoding, applying and snapshotting.",
                               ["op"], registry=r)
        self.sent = {k: self.sent_bytes.labels(k) for k in ("decisions", "snapshot")}
        self.received = {k: self.received_bytes.labels(k) for k in ("decisions", "snapshot")}
        self.spent = {k: self.seconds.labels(k) for k in ("publish", "apply", "snapshot")}


class PeerSync:
    def __init__(self, index: PrefixIndex, listen: str, peers: Iterable[str] = (),
                 registry: CollectorRegistry | None = None, replica_id: str | None = None,
                 flush_interval: float = FLUSH_INTERVAL) -> None:
        self.index = index
        self.listen = listen
        self.id = (replica_id or uuid.uuid4().hex[:12]).encode()
        self.flush_interval = flush_interval
        self.metrics = PeerSyncMetrics(registry)
        self.peers: set[str] = set()
        self._wanted = set(peers)
        self._ctx = zmq.asyncio.Context()
        self._pub: zmq.asyncio.Socket | None = None
        self._sub: zmq.asyncio.Socket | None = None
        self._pending: list[tuple[str, list[int]]] = []
        self._flush: asyncio.TimerHandle | None = None
        self._seq = 0
        self._last_seq: dict[bytes, int] = {}
        self._resynced_at = float("-inf")
        self._addresses: frozenset[str] | None = None  # the table's endpoints (None: no table yet)
        self._tasks: list[asyncio.Task[None]] = []
        self.caught_up_from: set[bytes] = set()  # peers whose snapshot arrived whole

    async def start(self) -> None:
        pub = self._pub = self._ctx.socket(zmq.XPUB)
        pub.setsockopt(zmq.XPUB_VERBOSE, 1)
        pub.setsockopt(zmq.SNDHWM, HWM)
        pub.setsockopt(zmq.LINGER, 0)
        try:
            pub.bind(self.listen)
        except zmq.ZMQError as err:
            pub.close(linger=0)
            self._ctx.term()
            raise ValueError(f"peer sync cannot listen on {self.listen!r} (--peer-listen): {err}") from err
        sub = self._sub = self._ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.RCVHWM, HWM)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.SUBSCRIBE, DECISIONS)
        sub.setsockopt(zmq.SUBSCRIBE, SNAPSHOT + self.id)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._serve_subscriptions()), loop.create_task(self._receive())]
        self.index.on_record = self._recorded
        self.set_peers(self._wanted)
        log.info("peer sync started", listen=self.listen, replica=self.id.decode(), peers=sorted(self.peers))

    def set_peers(self, endpoints: Iterable[str]) -> None:
        """Follow these peers (`tcp://host:port`); called again whenever discovery changes."""
        wanted = {e for e in endpoints if e and e != self.listen}
        self._wanted = wanted
        if self._sub is None:
            return
        for endpoint in self.peers - wanted:
            self._sub.disconnect(endpoint)
        for endpoint in sorted(wanted - self.peers):
            try:
                self._sub.connect(endpoint)
            except zmq.ZMQError as err:  # a malformed peer must not stop following the others
                log.warning("bad peer endpoint", endpoint=endpoint, error=str(err))
                wanted.discard(endpoint)
        if wanted != self.peers:
            log.info("peers", peers=sorted(wanted))
        self.peers = wanted

    def on_table(self, table: RoutingTable) -> None:
        # An empty table (none loaded yet, at start) filters nothing: the next retain() will.
        self._addresses = frozenset(ep.address for ep in table.endpoints()) or None

    # -- publishing --------------------------------------------------------------------------

    def _recorded(self, address: str, hashes: list[int]) -> None:
        self._pending.append((address, hashes))
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(self.flush_interval, self.flush)

    def flush(self) -> None:
        """Publish the picks recorded since the last flush, as one message."""
        self._flush = None
        pending, self._pending = self._pending, []
        if not pending or self._pub is None:
            return
        started = time.perf_counter()
        capacity = self.index.capacity
        payload = msgpack.packb([[a, capacity(a), pack_hashes(h)] for a, h in pending])
        self._send([DECISIONS, self.id, self._seq.to_bytes(8, "big"), payload])
        self._seq += 1
        m = self.metrics
        m.sent["decisions"].inc(len(payload))
        m.picks_sent.inc(len(pending))
        m.spent["publish"].inc(time.perf_counter() - started)

    def _send(self, frames: list[bytes]) -> None:
        assert self._pub is not None
        try:
            self._pub.send_multipart(frames, flags=zmq.NOBLOCK).add_done_callback(_dropped_ok)
        except zmq.Again:  # no room for some peer: it loses this message (best effort)
            pass

    async def _serve_subscriptions(self) -> None:
        """A peer that subscribes to its snapshot topic (it just connected) gets our index."""
        assert self._pub is not None
        while True:  # ends when stop() cancels it
            message = await self._pub.recv()
            if message[:1] == b"\x01" and message[1:2] == SNAPSHOT and len(message) > 2:
                self._send_snapshot(message[1:])

    def _send_snapshot(self, topic: bytes) -> None:
        started = time.perf_counter()
        size = 0
        capacity = self.index.capacity
        for address, hashes in self.index.export():
            for i in range(0, len(hashes), SNAPSHOT_CHUNK):
                payload = msgpack.packb([address, capacity(address), pack_hashes(hashes[i:i + SNAPSHOT_CHUNK])])
                self._send([topic, self.id, b"", payload])
                size += len(payload)
        self._send([topic, self.id, END, b""])
        m = self.metrics
        m.sent["snapshot"].inc(size)
        m.snapshots.labels("sent").inc()
        m.spent["snapshot"].inc(time.perf_counter() - started)
        log.info("snapshot sent", to=topic[1:].decode(errors="replace"), bytes=size)

    # -- receiving ---------------------------------------------------------------------------

    async def _receive(self) -> None:
        assert self._sub is not None
        while True:  # ends when stop() cancels it
            frames = await self._sub.recv_multipart()
            if len(frames) != 4 or frames[1] == self.id:
                continue
            try:
                if frames[0] == DECISIONS:
                    self._apply_decisions(frames[1], int.from_bytes(frames[2], "big"), frames[3])
                else:
                    self._apply_snapshot(frames[1], frames[2], frames[3])
            except Exception as err:  # one bad message must not stop the replica following its peers
                log.warning("bad peer message", sender=frames[1].decode(errors="replace"), error=str(err))

    def _apply_decisions(self, sender: bytes, seq: int, payload: bytes) -> None:
        last = self._last_seq.get(sender)
        if last is not None and seq > last + 1:
            self.metrics.gaps.inc(seq - last - 1)
            self.resync()
        self._last_seq[sender] = seq
        started = time.perf_counter()
        picks = msgpack.unpackb(payload)
        for address, capacity, hashes in picks:
            self._apply(address, capacity, hashes)
        m = self.metrics
        m.received["decisions"].inc(len(payload))
        m.picks_applied.inc(len(picks))
        m.spent["apply"].inc(time.perf_counter() - started)

    def resync(self) -> None:
        """Ask every peer for its snapshot again (a new subscription to our topic)."""
        now = time.monotonic()
        if self._sub is None or now - self._resynced_at < RESYNC_INTERVAL:
            return
        self._resynced_at = now
        topic = SNAPSHOT + self.id
        self._sub.setsockopt(zmq.UNSUBSCRIBE, topic)
        self._sub.setsockopt(zmq.SUBSCRIBE, topic)
        log.info("peer messages lost; asking the peers for snapshots")

    def _apply_snapshot(self, sender: bytes, marker: bytes, payload: bytes) -> None:
        if marker == END:
            self.caught_up_from.add(sender)
            self.metrics.snapshots.labels("received").inc()
            log.info("caught up from peer", peer=sender.decode(errors="replace"), blocks=len(self.index))
            return
        started = time.perf_counter()
        address, capacity, hashes = msgpack.unpackb(payload)
        self._apply(address, capacity, hashes)
        self.metrics.received["snapshot"].inc(len(payload))
        self.metrics.spent["snapshot"].inc(time.perf_counter() - started)

    def _apply(self, address: str, capacity: int | None, hashes: bytes) -> None:
        if self._addresses is not None and address not in self._addresses:
            return  # a pod we do not route to (it left, or our table lags); never resurrect it
        if capacity:
            self.index.set_capacity(address, capacity)
        self.index.apply(address, unpack_hashes(hashes))

    async def stop(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
        self.flush()  # the last picks still reach the peers (best effort)
        if self.index.on_record == self._recorded:
            self.index.on_record = None
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for sock in (self._pub, self._sub):
            if sock is not None:
                sock.close(linger=100)
        self._pub = self._sub = None
        self._ctx.term()


def _dropped_ok(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: a dropped best-effort message is not an error worth a traceback
