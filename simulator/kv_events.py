"""vLLM's KV-cache event wire format: types, block hash, encoder, decoder and ZMQ publisher.

Wire format (vLLM `vllm/distributed/kv_events.py`, ZmqEventPublisher, the array_like
msgspec structs of vLLM 0.9-0.11 that llm-d's kv-cache manager also decodes):
- ZMQ PUB, multipart message `[topic, seq, payload]`: topic bytes (vLLM's default is empty),
  seq an 8-byte big-endian counter starting at 0, payload msgpack;
- payload `KVEventBatch` = array `[ts: float, events: array, data_parallel_rank: int]`;
- each event is an array whose first element is the tag (the class name):
  `["BlockStored", block_hashes, parent_block_hash|nil, token_ids, block_size, lora_id|nil,
  medium|nil]`, `["BlockRemoved", block_hashes, medium|nil]`, `["AllBlocksCleared"]`.
Newer vLLM releases dropped `array_like` (structs become maps with a "type" tag) and added
trailing fields; `decode_batch` accepts both shapes and ignores extra fields.

Block hashes here are the simulator's own: xxh3-64 over the parent hash (8 bytes big-endian,
zeros for the first block) followed by the block's token ids as little-endian uint32
(`block_hash`). A subscriber that wants to look up a prompt computes the same chain.

SGLang (`--kv-events-config`, `sglang/srt/disaggregation/kv_events.py` and its radix cache)
publishes the same batch and event arrays over the same ZMQ framing, with three differences
the simulated SGLang engine reproduces:
- one event per page (`--page-size`, 1 token by default): `BlockStored` carries one hash, its
  page's tokens, `block_size` = the page's length, and the previous page's hash as parent;
  `BlockRemoved` one hash per event as the radix tree evicts a node;
- the hash chain is SHA-256 over the previous page's 32-byte digest (none for a page at the
  root) followed by the page's token ids as little-endian uint32 (`sglang_page_digest`); the
  event carries the digest's first 8 bytes as a signed big-endian int64 (`sglang_event_hash`,
  SGLang's `hash_str_to_int64`);
- `AllBlocksCleared` when the tree is reset (flush_cache).
"""

from __future__ import annotations

import hashlib
import logging
import struct
import time
from dataclasses import dataclass, field
from typing import Any, Sequence, Union

import msgpack
import xxhash

log = logging.getLogger(__name__)

MEDIUM_GPU = "GPU"


def block_hash(parent: int | None, token_ids: Sequence[int]) -> int:
    """Chained 64-bit hash of one full block."""
    data = (parent or 0).to_bytes(8, "big") + struct.pack(f"<{len(token_ids)}I", *token_ids)
    return xxhash.xxh3_64_intdigest(data)


def sglang_page_digest(prior: bytes | None, token_ids: Sequence[int]) -> bytes:
    """SGLang's chained page hash (its `get_hash_str`), as the raw 32-byte digest."""
    h = hashlib.sha256(prior or b"")
    h.update(struct.pack(f"<{len(token_ids)}I", *token_ids))
    return h.digest()


def sglang_event_hash(digest: bytes) -> int:
    """The int64 an SGLang event carries for a page digest."""
    return int.from_bytes(digest[:8], "big", signed=True)


@dataclass
class BlockStored:
    block_hashes: list[int]
    parent_block_hash: int | None
    token_ids: list[int]
    block_size: int
    lora_id: int | None = None
    medium: str | None = MEDIUM_GPU


@dataclass
class BlockRemoved:
    block_hashes: list[int]
    medium: str | None = MEDIUM_GPU


@dataclass
class AllBlocksCleared:
    pass


KVEvent = Union[BlockStored, BlockRemoved, AllBlocksCleared]


@dataclass
class KVEventBatch:
    ts: float
    events: list[KVEvent] = field(default_factory=list)
    data_parallel_rank: int | None = 0


# -- encoding --------------------------------------------------------------------------------
def _event_array(ev: KVEvent) -> list[Any]:
    if isinstance(ev, BlockStored):
        return ["BlockStored", ev.block_hashes, ev.parent_block_hash, ev.token_ids,
                ev.block_size, ev.lora_id, ev.medium]
    if isinstance(ev, BlockRemoved):
        return ["BlockRemoved", ev.block_hashes, ev.medium]
    return ["AllBlocksCleared"]


def encode_batch(batch: KVEventBatch) -> bytes:
    body: list[Any] = [batch.ts, [_event_array(e) for e in batch.events]]
    if batch.data_parallel_rank is not None:  # msgspec omit_defaults drops a None rank
        body.append(batch.data_parallel_rank)
    return msgpack.packb(body, use_bin_type=True)


# -- decoding --------------------------------------------------------------------------------
def _hashes(v: Any) -> list[Any]:
    return list(v or [])


def _decode_event(raw: Any) -> KVEvent:
    if isinstance(raw, dict):  # newer vLLM: map with a "type" tag
        tag = raw.get("type")
        if tag == "BlockStored":
            return BlockStored(_hashes(raw.get("block_hashes")), raw.get("parent_block_hash"),
                               list(raw.get("token_ids") or []), int(raw.get("block_size", 0)),
                               raw.get("lora_id"), raw.get("medium"))
        if tag == "BlockRemoved":
            return BlockRemoved(_hashes(raw.get("block_hashes")), raw.get("medium"))
        if tag == "AllBlocksCleared":
            return AllBlocksCleared()
        raise ValueError(f"unknown KV event {tag!r}")
    tag, *f = raw
    if tag == "BlockStored":
        f += [None] * (6 - len(f))
        return BlockStored(_hashes(f[0]), f[1], list(f[2] or []), int(f[3] or 0), f[4], f[5])
    if tag == "BlockRemoved":
        f += [None] * (2 - len(f))
        return BlockRemoved(_hashes(f[0]), f[1])
    if tag == "AllBlocksCleared":
        return AllBlocksCleared()
    raise ValueError(f"unknown KV event {tag!r}")


def decode_batch(payload: bytes) -> KVEventBatch:
    raw = msgpack.unpackb(payload, raw=False, strict_map_key=False)
    if isinstance(raw, dict):
        return KVEventBatch(float(raw["ts"]), [_decode_event(e) for e in raw.get("events", [])],
                            raw.get("data_parallel_rank"))
    ts, events, *rest = raw
    return KVEventBatch(float(ts), [_decode_event(e) for e in events], rest[0] if rest else None)


def decode_message(frames: Sequence[bytes]) -> tuple[bytes, int, KVEventBatch]:
    """A multipart message `[topic, seq, payload]` → (topic, seq, batch)."""
    topic, seq, payload = frames
    return topic, int.from_bytes(seq, "big"), decode_batch(payload)


# -- publishing ------------------------------------------------------------------------------
class KVEventPublisher:
    """ZMQ PUB socket publishing one batch per engine step that changed the cache.

    Endpoint follows vLLM's heuristic: an address with `*` is bound (the `*` is replaced by
    `bind_host`, keeping us on loopback), any other tcp address is connected to (for a
    subscriber that binds). Sends never block: past the high-water mark ZMQ drops.
    """

    def __init__(self, endpoint: str, bind_host: str, topic: str = "", dp_rank: int = 0) -> None:
        import zmq  # imported here so the simulator runs without pyzmq when events are off

        self._zmq = zmq
        self._ctx = zmq.Context.instance()
        self._sock = self._ctx.socket(zmq.PUB)
        self._sock.setsockopt(zmq.SNDHWM, 100_000)
        self._sock.setsockopt(zmq.LINGER, 0)
        if "*" in endpoint:
            self.endpoint = endpoint.replace("*", bind_host)
            self._sock.bind(self.endpoint)
        else:
            self.endpoint = endpoint
            self._sock.connect(endpoint)
        self._topic = topic.encode()
        self._seq = 0
        self._dp_rank = dp_rank

    def publish(self, events: list[KVEvent]) -> None:
        if not events:
            return
        payload = encode_batch(KVEventBatch(time.time(), events, self._dp_rank))
        try:
            self._sock.send_multipart(
                [self._topic, self._seq.to_bytes(8, "big"), payload], flags=self._zmq.NOBLOCK
            )
        except self._zmq.Again:  # no subscriber buffer room: drop, as a PUB socket does
            pass
        self._seq += 1

    def close(self) -> None:
        self._sock.close(linger=0)
