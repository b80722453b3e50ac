"""Router replicas share their estimate prefix index over ZeroMQ (router/peer_sync.py): each
replica's picks reach the others, and a replica that (re)starts catches up from a peer."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import pytest

from inference_gateway.router.peer_sync import PeerSync, pack_hashes, unpack_hashes
from inference_gateway.router.prefix_index import PrefixIndex, block_hashes

from support.env import free_port

POD_A, POD_B = "10.0.0.1:8000", "10.0.0.2:8000"


def endpoint(host: str) -> str:
    return f"tcp://{host}:{free_port(host)}"


async def until(predicate, what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.01)


@pytest.fixture
async def replicas():
    started: list[PeerSync] = []

    async def start(host: str, peers: list[str] = (), listen: str | None = None) -> PeerSync:
        sync = PeerSync(PrefixIndex(), listen or endpoint(host), peers, flush_interval=0.001)
        await sync.start()
        started.append(sync)
        return sync

    yield start
    for sync in started:
        await sync.stop()


def test_hashes_survive_the_wire():
    hashes = block_hashes("some prompt text " * 40, "model")
    assert unpack_hashes(pack_hashes(hashes)) == hashes and len(pack_hashes(hashes)) == 8 * len(hashes)


async def test_each_replica_learns_the_others_picks(replicas):
    a_listen, b_listen = endpoint("127.6.0.1"), endpoint("127.6.0.2")
    a = await replicas("127.6.0.1", [b_listen], listen=a_listen)
    b = await replicas("127.6.0.2", [a_listen], listen=b_listen)
    await until(lambda: a.caught_up_from and b.caught_up_from, "both replicas joined")
    conversation = block_hashes("conversation one, a long history " * 20, "m")
    other = block_hashes("conversation two, another history " * 20, "m")
    a.index.record(POD_A, conversation)
    b.index.record(POD_B, other)
    await until(lambda: b.index.match(conversation) == {POD_A: len(conversation)}, "b learned a's pick")
    await until(lambda: a.index.match(other) == {POD_B: len(other)}, "a learned b's pick")
    assert a.metrics.picks_sent._value.get() == 1 and b.metrics.picks_applied._value.get() == 1
    # Applied picks are not published again (no echo between replicas).
    await asyncio.sleep(0.05)
    assert b.metrics.picks_sent._value.get() == 1


async def test_a_restarted_replica_catches_up_from_a_peer(replicas):
    a_listen = endpoint("127.6.0.3")
    a = await replicas("127.6.0.3", listen=a_listen)
    a.index.set_capacity(POD_A, 500)
    history = [block_hashes(f"conversation {i}: " + "words " * 100, "m") for i in range(20)]
    for i, hashes in enumerate(history):
        a.index.record(POD_A if i % 2 else POD_B, hashes)
    late = await replicas("127.6.0.4", [a_listen])  # started after every pick: it saw none of them
    await until(lambda: late.caught_up_from, "the snapshot arrived")
    assert list(late.index.export()) == list(a.index.export())
    assert late.index.capacity(POD_A) == 500
    for i, hashes in enumerate(history):
        assert late.index.match(hashes) == {POD_A if i % 2 else POD_B: len(hashes)}


async def test_picks_for_pods_the_table_does_not_have_are_ignored(replicas):
    a_listen = endpoint("127.6.0.5")
    a = await replicas("127.6.0.5", listen=a_listen)
    b = await replicas("127.6.0.6", [a_listen])
    b.on_table(SimpleNamespace(endpoints=lambda: [SimpleNamespace(address=POD_A)]))
    await until(lambda: b.caught_up_from, "b joined")
    gone, kept = block_hashes("x" * 640, "m"), block_hashes("y" * 640, "m")
    a.index.record(POD_B, gone)
    a.index.record(POD_A, kept)
    await until(lambda: b.index.match(kept) == {POD_A: len(kept)}, "b learned the pick it routes to")
    assert b.index.match(gone) == {}


async def test_lost_messages_bring_the_peers_snapshots_again(replicas):
    a_listen = endpoint("127.6.0.7")
    a = await replicas("127.6.0.7", listen=a_listen)
    b = await replicas("127.6.0.8", [a_listen])
    await until(lambda: b.caught_up_from, "b joined")
    snapshots = b.metrics.snapshots.labels("received")
    assert snapshots._value.get() == 1
    hashes = block_hashes("z" * 640, "m")
    a.index.record(POD_A, hashes)
    await until(lambda: b.index.match(hashes) == {POD_A: len(hashes)}, "b learned a's pick")
    b.index.retain(set())  # b forgets it, as if the messages carrying it were lost...
    a._seq += 3            # ...and a's next batch says three went missing
    a.index.record(POD_B, block_hashes("w" * 640, "m"))
    await until(lambda: snapshots._value.get() == 2, "a sent its snapshot again")
    assert b.metrics.gaps._value.get() == 3
    assert b.index.match(hashes) == {POD_A: len(hashes)}


async def test_bad_endpoints_are_named():
    with pytest.raises(ValueError, match="--peer-listen"):
        await PeerSync(PrefixIndex(), "tcp://not an address").start()
    sync = PeerSync(PrefixIndex(), endpoint("127.6.0.9"), ["garbage", endpoint("127.6.0.10")])
    await sync.start()
    try:
        assert len(sync.peers) == 1
    finally:
        await sync.stop()
