"""Slow and incomplete uploads are cut by Envoy's timeouts and limits, and Envoy's memory stays
bounded while they try (the body limit, not the client, decides how much is buffered)."""

from __future__ import annotations

import asyncio
import json

import pytest

from inference_gateway.operator.translate.edge_limits import MIB, EdgeLimits

from support.edge import MODEL, edge_gateway, exchange, http_request, parse_answer, rss_mb

pytestmark = pytest.mark.envoy

CHAT = "/v1/chat/completions"
LIMITS = EdgeLimits(request_headers_timeout_s=1, request_timeout_s=2)  # the default body limit (16 MiB)


async def incomplete_upload(host: str, port: int, declared: int, sent: int) -> tuple[int, bool]:
    """Declare `declared` bytes, send `sent` of them, then wait: (status answered, closed by
    the server). A refused upload may close before all is written: that is also a cut."""
    reader, writer = await asyncio.open_connection(host, port)
    head = (f"POST {CHAT} HTTP/1.1\r\nhost: g\r\ncontent-type: application/json\r\n"
            f"content-length: {declared}\r\n\r\n").encode()
    chunk = b"x" * MIB
    try:
        writer.write(head)
        for offset in range(0, sent, MIB):
            writer.write(chunk[:min(MIB, sent - offset)])
            await writer.drain()
    except ConnectionError:
        pass
    data, closed = b"", True
    try:
        async with asyncio.timeout(30):  # bounded: Envoy's timeouts are 1–2 s
            data = await reader.read()
    except ConnectionError:  # reset: Envoy closed while we were still writing
        pass
    except TimeoutError:
        closed = False
    finally:
        writer.close()
    return parse_answer(data).status, closed


async def test_slow_and_incomplete_uploads_are_cut_and_memory_stays_bounded(tmp_path):
    async with edge_gateway(tmp_path, "127.4.3", LIMITS) as gw:
        host, port = gw.host, gw.port
        before = rss_mb(gw.envoy_pid)
        peak = before
        stop = asyncio.Event()

        async def watch() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, rss_mb(gw.envoy_pid))
                await asyncio.sleep(0.05)

        watcher = asyncio.create_task(watch())
        # Slowloris: headers that never end, 20 connections → each cut by the header timeout.
        slow = [asyncio.create_task(exchange(host, port, f"POST {CHAT} HTTP/1.1\r\nhost: g\r\nx-a: ".encode(),
                                             timeout=30)) for _ in range(20)]
        # 8 × 40 MB, 1 byte short: refused at the body limit (413) and closed.
        big = [incomplete_upload(host, port, 40_000_000, 40_000_000 - 1) for _ in range(8)]
        # 8 × 12 MB of a declared 13 MB (under the limit, so buffered): cut by the request timeout.
        short = [incomplete_upload(host, port, 13_000_000, 12_000_000) for _ in range(8)]
        big_results = await asyncio.gather(*big)
        short_results = await asyncio.gather(*short)
        slow_results = await asyncio.gather(*slow)
        stop.set()
        await watcher
        after = rss_mb(gw.envoy_pid)
        valid = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
        ok = await exchange(host, port, http_request("POST", CHAT, valid.encode()))
        admin = gw.gateway.settings.admin_port
        stats = (await exchange("127.0.0.1", admin, http_request("GET", "/stats?filter=downstream_rq_too_large"))).body
        too_large = sum(int(line.rsplit(b":", 1)[1]) for line in stats.splitlines()
                        if line.startswith(b"http.") and b"downstream_rq_too_large" in line)

    assert all(closed for _, closed in big_results + short_results), (big_results, short_results)
    # Envoy answers 413 and closes; the client, still writing, usually sees the reset instead.
    assert {status for status, _ in big_results} <= {413, 0}, big_results
    assert too_large == 8, stats
    assert {status for status, _ in short_results} == {408}, short_results
    assert {a.status for a in slow_results} <= {408, 0}, [a.status for a in slow_results]
    assert all(a.status == 0 or "error" in a.json() for a in slow_results)
    print(f"Envoy RSS {before:.0f} MB before, {peak:.0f} MB at the peak, {after:.0f} MB after")
    assert peak - before < 200, f"Envoy RSS rose {peak - before:.0f} MB (from {before:.0f} MB)"
    assert after - before < 200
    assert ok.status == 200
