"""Envoy's access log (`igw run --envoy-access-log`, operator/translate/access_log.py) through
real Envoy: one JSON line per request, naming the pod the router chose and the time each
ext_proc message to the router took; response phases only on pools that rename a model, and
response chunks only for the renamed model's requests."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest

from inference_gateway.cli.sim_fleet import SimFleet
from inference_gateway.operator.translate.access_log import FIELDS

from support.env import free_port
from support.scenario import POOL, chat, model_doc, pool_doc, post, start

pytestmark = pytest.mark.envoy


async def _lines(path, request_ids: set[str]) -> dict[str, dict]:
    """The access log's lines by request id, once all of them are in. Our Envoys flush their
    access log once a second (access_log.FLUSH_ARGS); Envoy's own default, ten seconds, would
    miss this deadline."""
    deadline = time.monotonic() + 5
    while True:
        text = path.read_text() if path.exists() else ""
        lines = [json.loads(line) for line in text.splitlines() if line.strip()]
        by_id = {line["request_id"]: line for line in lines}
        if request_ids <= by_id.keys():
            return by_id
        assert time.monotonic() < deadline, f"access log lines missing: {request_ids - by_id.keys()}: {text[-2000:]}"
        await asyncio.sleep(0.2)


async def test_access_log_names_the_pod_and_the_ext_proc_times(tmp_path, start_gateway):
    fleet = SimFleet(count=2, labels={"app": "sim"}, port=free_port("127.0.0.2"),
                     extra_args=["--served-model-name", "qwen-v1", "qwen-v2"])
    await fleet.start()
    log_path = tmp_path / "access.log"
    try:
        docs = [pool_doc(POOL, fleet.port, {"app": "sim"}, strategy="PREFIX_CACHE"),
                model_doc("qwen-v1", POOL), model_doc("qwen", POOL, targets=[("qwen-v2", 100)])]
        gw = await start(tmp_path, start_gateway, [fleet], docs, standalone={"access_log": str(log_path)})
        async with aiohttp.ClientSession() as session:
            plain = await post(session, gw.url, chat("qwen-v1", "hello there"), "r-plain")
            renamed = await post(session, gw.url, chat("qwen", "stream please", max_tokens=8, stream=True,
                                                       stream_options={"include_usage": True}), "r-renamed")
            async with session.post(gw.url + "/v1/chat/completions", data=b'{"model": "qwen-v1", "messages": [',
                                    headers={"content-type": "application/json", "x-request-id": "r-bad"}) as resp:
                bad = resp.status
        assert (plain[0], renamed[0], bad) == (200, 200, 400)
        lines = await _lines(log_path, {"r-plain", "r-renamed", "r-bad"})
    finally:
        await fleet.stop()

    for line in lines.values():
        assert set(line) == set(FIELDS), line  # every key, every line: a stable shape
        # both request messages went to the router, each answered in a measured time (Envoy
        # renders filter-state fields as text)
        assert int(line["ext_proc_request_headers_us"]) > 0 and int(line["ext_proc_request_body_us"]) > 0, line
    for rid in ("r-plain", "r-renamed"):
        line = lines[rid]
        assert line["status"] == 200 and line["method"] == "POST" and line["path"] == "/v1/chat/completions", line
        assert line["upstream_host"] == gw.decisions[rid].address, line
        assert line["duration_ms"] >= line["upstream_first_byte_ms"] >= 0, line
    # The pool renames a model, so the router sees its responses' headers; this one's model is
    # not renamed, so none of its body passes through the router.
    assert int(lines["r-plain"]["ext_proc_response_headers_us"]) > 0, lines["r-plain"]
    assert lines["r-plain"]["ext_proc_response_body_messages"] is None, lines["r-plain"]
    # A canary's stream: the router renames the model back in every chunk, and the log says
    # what those response messages cost.
    renamed_line = lines["r-renamed"]
    assert int(renamed_line["ext_proc_response_headers_us"]) > 0, renamed_line
    assert int(renamed_line["ext_proc_response_body_messages"]) >= 2, renamed_line
    assert int(renamed_line["ext_proc_response_body_us"]) > 0, renamed_line
    # The router's own answer (a body that is not JSON): no pod, the status it chose.
    bad_line = lines["r-bad"]
    assert bad_line["status"] == 400 and bad_line["upstream_host"] is None, bad_line
    assert bad_line["ext_proc_response_headers_us"] is None, bad_line
