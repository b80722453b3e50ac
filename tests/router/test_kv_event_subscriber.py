"""The router follows a live simulated pod's KV events (vLLM's or SGLang's hashing and block
size) and finds the prompt it cached."""

import asyncio
import time
from types import SimpleNamespace

import aiohttp

from inference_gateway.router.kv_events import KVEventSubscriber
from inference_gateway.router.precise_index import PreciseIndex
import pytest

from inference_gateway.router.tokenization import ChatTemplate, PieceHashTokenizer, prompt_block_hashes
from inference_gateway.simulator.server import Simulator
from inference_gateway.simulator.testing import TEST_MODEL, tiny_config

from support.env import free_port


@pytest.mark.parametrize("runtime, block_size", [("vllm", 16), ("sglang", 1)])
async def test_subscriber_tracks_blocks_a_pod_stores(runtime, block_size):
    kv_port = free_port("127.0.0.31")
    sim = Simulator(tiny_config(host="127.0.0.31", runtime=runtime, kv_events=f"tcp://*:{kv_port}"))
    await sim.start()
    index = PreciseIndex()
    subscriber = KVEventSubscriber(index)
    address = sim.base_url.removeprefix("http://")
    endpoint = SimpleNamespace(ip="127.0.0.31", address=address)
    table = SimpleNamespace(pools={"p": SimpleNamespace(kv_events_port=kv_port, endpoints=[endpoint], runtime=runtime)})
    try:
        subscriber.on_table(table)
        await asyncio.sleep(0.3)  # ZMQ's slow joiner: let the subscription reach the publisher
        body = {"model": TEST_MODEL, "max_tokens": 2,
                "messages": [{"role": "user", "content": "a long shared system prompt " * 20}]}
        async with aiohttp.ClientSession() as session:
            async with session.post(sim.base_url + "/v1/chat/completions", json=body) as resp:
                assert resp.status == 200
        hashes = prompt_block_hashes(PieceHashTokenizer().encode(ChatTemplate().render(body)), block_size, runtime)
        deadline = time.monotonic() + 3
        while index.match(hashes, [address])[address] < len(hashes) - 1:
            assert time.monotonic() < deadline, f"index has {index.match(hashes, [address])} of {len(hashes)}"
            await asyncio.sleep(0.02)
        assert index.known(address) and index.block_size[address] == block_size
    finally:
        await subscriber.stop()
        await sim.stop()
