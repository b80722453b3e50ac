"""The router restates two protocols of the model server (it may not import the simulator):
how a prompt becomes token ids, and how KV blocks are hashed and announced. These tests pin
the router's side to the simulator's, so precise prefix routing looks up what pods store."""

import json

from inference_gateway.router.kv_events import apply_payload
from inference_gateway.router.precise_index import PreciseIndex
from inference_gateway.router.tokenization import ChatTemplate, PieceHashTokenizer, token_block_hashes
from inference_gateway.simulator import kv_events as sim_events
from inference_gateway.simulator.chat_template import render_messages
from inference_gateway.simulator.tokenizer import SimpleTokenizer

from support.env import EXAMPLES

ROUND2 = json.loads((EXAMPLES / "requests" / "round2.json").read_text())
TEXTS = ["Hello, world! 12345 naïve café—dash\n\n  spaces", "x" * 100, "", "日本語のテキスト。", ROUND2["messages"][2]["content"]]


def test_tokenizers_agree():
    router, sim = PieceHashTokenizer(), SimpleTokenizer()
    for text in TEXTS:
        assert router.encode(text) == sim.encode(text)


def test_chat_templates_agree():
    assert ChatTemplate().render(ROUND2) == render_messages(ROUND2["messages"])


def test_block_hashes_agree():
    ids = SimpleTokenizer().encode(render_messages(ROUND2["messages"]))
    ours = token_block_hashes(ids, 16)
    theirs, parent = [], None
    for start in range(0, len(ids) - 15, 16):
        parent = sim_events.block_hash(parent, ids[start:start + 16])
        theirs.append(parent)
    assert ours == theirs and len(ours) == len(ids) // 16


def test_kv_event_payloads_apply_in_both_shapes():
    index = PreciseIndex()
    batch = sim_events.KVEventBatch(1.0, [sim_events.BlockStored([1, 2, 3], None, list(range(48)), 16),
                                          sim_events.BlockRemoved([2])])
    apply_payload(index, "a", sim_events.encode_batch(batch))
    assert index.match([1, 2, 3], ["a"]) == {"a": 1}
    assert index.block_size["a"] == 16
    apply_payload(index, "a", sim_events.encode_batch(sim_events.KVEventBatch(2.0, [sim_events.AllBlocksCleared()])))
    assert index.match([1], ["a"]) == {"a": 0}


def test_lost_track_falls_back_but_cleared_is_known():
    index = PreciseIndex()
    index.stored("a", [1])
    index.clear("a", known=False)
    assert not index.known("a") and len(index) == 0
    index.stored("a", [1])
    index.clear("a")
    assert index.known("a") and index.match([1], ["a"]) == {"a": 0}


def test_sglang_page_hashes_agree():
    """SGLang's chain (SHA-256 over the previous digest and the page's ids; the event carries
    the digest's first 8 bytes as a signed int64), pinned to a digest computed by hand."""
    from inference_gateway.router.tokenization import sglang_page_hashes

    ids = SimpleTokenizer().encode(render_messages(ROUND2["messages"]))
    theirs, prior = [], None
    for token in ids:
        prior = sim_events.sglang_page_digest(prior, [token])
        theirs.append(sim_events.sglang_event_hash(prior))
    assert sglang_page_hashes(ids, 1) == theirs
    import hashlib
    first = hashlib.sha256(ids[0].to_bytes(4, "little")).hexdigest()
    as_int64 = int(first[:16], 16)
    assert theirs[0] == (as_int64 - 2**64 if as_int64 >= 2**63 else as_int64)
