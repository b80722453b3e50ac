"""KV events: what the simulator publishes decodes as vLLM's format."""

from __future__ import annotations

import asyncio

import msgpack
import zmq
import zmq.asyncio

from inference_gateway.simulator.kv_events import (
    AllBlocksCleared, BlockRemoved, BlockStored, KVEventBatch, block_hash, decode_batch, decode_message,
    encode_batch,
)
from inference_gateway.simulator.testing import TEST_MODEL as MODEL
from support.env import free_port


def test_encoding_is_vllm_array_like():
    batch = KVEventBatch(1.5, [BlockStored([1, 2], None, list(range(32)), 16), BlockRemoved([3]), AllBlocksCleared()], 0)
    raw = msgpack.unpackb(encode_batch(batch))
    assert raw == [1.5, [["BlockStored", [1, 2], None, list(range(32)), 16, None, "GPU"],
                         ["BlockRemoved", [3], "GPU"], ["AllBlocksCleared"]], 0]
    assert decode_batch(encode_batch(batch)) == batch
    # Newer vLLM (structs as maps with a "type" tag) decodes too.
    as_map = msgpack.packb({"ts": 2.0, "events": [{"type": "BlockRemoved", "block_hashes": [9], "medium": "GPU",
                                                   "group_idx": 0}], "data_parallel_rank": 0})
    assert decode_batch(as_map).events == [BlockRemoved([9], "GPU")]


async def test_published_events_decode(start_sim, http):
    port = free_port()
    sim = await start_sim(kv_events=f"tcp://*:{port}", profile_kv_capacity_tokens=512)
    ctx = zmq.asyncio.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(f"tcp://127.0.0.1:{port}")
    try:
        await asyncio.sleep(0.2)  # let the subscription reach the publisher
        prompt_ids = list(range(1000, 1000 + 40))
        async with http.post(sim.base_url + "/v1/completions",
                             json={"model": MODEL, "prompt": prompt_ids, "max_tokens": 1}) as r:
            assert r.status == 200
        topic, seq, batch = decode_message(await asyncio.wait_for(sub.recv_multipart(), 5))
        assert topic == b"" and seq == 0 and batch.data_parallel_rank == 0
        [stored] = batch.events
        assert isinstance(stored, BlockStored)
        h1 = block_hash(None, prompt_ids[:16])
        assert stored.block_hashes == [h1, block_hash(h1, prompt_ids[16:32])]
        assert stored.token_ids == prompt_ids[:32] and stored.block_size == 16 and stored.parent_block_hash is None
        # Fill the 32-block cache with other prompts: the first prompt's blocks get evicted.
        removed: list[int] = []
        for i in range(3):
            other = list(range(5000 + i * 1000, 5000 + i * 1000 + 200))
            async with http.post(sim.base_url + "/v1/completions",
                                 json={"model": MODEL, "prompt": other, "max_tokens": 1}) as r:
                assert r.status == 200
        while True:
            _, seq2, b = decode_message(await asyncio.wait_for(sub.recv_multipart(), 5))
            removed += [h for e in b.events if isinstance(e, BlockRemoved) for h in e.block_hashes]
            if set(stored.block_hashes) <= set(removed):
                break
        assert seq2 > seq
    finally:
        sub.close(linger=0)
        ctx.term()
