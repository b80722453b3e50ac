"""Following each pod's KV cache through its KV events (ZMQ PUB, msgpack), for the precise
prefix index. vLLM and SGLang publish the same framing and event arrays; they differ in how
blocks are hashed and cut (SGLang: one event per page, SHA-256 chain), which the scorer
follows from each pod's pool runtime (`PreciseIndex.scheme`; router/tokenization.py).

Wire format (vLLM `kv_events.py`): multipart `[topic, seq (8-byte big-endian), payload]`;
payload `[ts, [event, ...], data_parallel_rank]`, each event an array with its tag first —
`["BlockStored", block_hashes, parent_hash, token_ids, block_size, lora_id, medium]`,
`["BlockRemoved", block_hashes, medium]`, `["AllBlocksCleared"]` — or, in newer vLLM, a map
with a "type" key. A gap in `seq` or a reconnect means events were lost: the pod's entries are
dropped and rebuilt from new events (the estimate index covers the pod meanwhile).
"""

from __future__ import annotations

import asyncio

import msgpack
import structlog
import zmq
import zmq.asyncio

from .precise_index import PreciseIndex
from .table import RoutingTable
from .tokenization import sampled

log = structlog.get_logger("kv-events")


def apply_payload(index: PreciseIndex, address: str, payload: bytes) -> None:
    raw = msgpack.unpackb(payload, raw=False, strict_map_key=False)
    events = raw.get("events", []) if isinstance(raw, dict) else raw[1]
    sglang = index.scheme.get(address) == "sglang"
    for event in events:
        if isinstance(event, dict):
            tag, hashes = event.get("type"), event.get("block_hashes") or []
            block_size = event.get("block_size")
        else:
            tag = event[0]
            hashes = event[1] if len(event) > 1 else []
            block_size = event[4] if tag == "BlockStored" and len(event) > 4 else None
        if sglang:  # the index keeps SGLang's per-token pages sampled (tokenization.SAMPLE_TOKENS)
            hashes = sampled(hashes, block_size or index.block_size.get(address, 1))
        if tag == "BlockStored":
            index.stored(address, hashes, block_size)
        elif tag == "BlockRemoved":
            index.removed(address, hashes)
        elif tag == "AllBlocksCleared":
            index.clear(address)


class KVEventSubscriber:
    """One SUB socket per pod whose pool asks for precise mode."""

    def __init__(self, index: PreciseIndex) -> None:
        self.index = index
        self._ctx = zmq.asyncio.Context()
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}

    def on_table(self, table: RoutingTable) -> None:
        wanted: set[tuple[str, str]] = set()
        for pool in table.pools.values():
            port = getattr(pool, "kv_events_port", None)
            if not port:
                continue
            for ep in pool.endpoints:
                wanted.add((ep.address, f"tcp://{ep.ip}:{port}"))
                self.index.scheme[ep.address] = str(getattr(pool, "runtime", "vllm"))
        for key in [k for k in self._tasks if k not in wanted]:
            self._tasks.pop(key).cancel()
            self.index.clear(key[0], known=False)
        for key in wanted - self._tasks.keys():
            self._tasks[key] = asyncio.get_running_loop().create_task(self._follow(*key))
        self.index.retain({address for address, _ in wanted})

    async def _follow(self, address: str, endpoint: str) -> None:
        sock = self._ctx.socket(zmq.SUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SUBSCRIBE, b"")
        sock.connect(endpoint)
        expected: int | None = None
        try:
            while True:  # ends when the pod leaves the table (task cancelled)
                frames = await sock.recv_multipart()
                if len(frames) != 3:
                    continue
                seq = int.from_bytes(frames[1], "big")
                if expected is not None and seq != expected:
                    log.warning("kv events lost; rebuilding the pod's index", address=address,
                                expected=expected, got=seq)
                    self.index.clear(address, known=False)
                expected = seq + 1
                try:
                    apply_payload(self.index, address, frames[2])
                except Exception as err:  # one bad message must not stop following the pod
                    log.warning("bad kv event", address=address, error=str(err))
        finally:
            sock.close(linger=0)

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()
        self._ctx.term()
