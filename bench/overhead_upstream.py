"""The trivial model server of `make bench-overhead`: a raw asyncio HTTP/1.1 server.

- POST with `"stream": true`: an SSE stream of `max_tokens` events, one per token (as vLLM
  sends them), each written and flushed on its own, `pace` seconds apart; the usage event
  when `stream_options.include_usage` is set; `[DONE]`. The `model` echoes the request's.
- other POSTs: one fixed small chat completion (the body is read, never parsed).
- GET /metrics: an idle vLLM's gauges and token histograms, so the router sees a healthy pod.

    python -P -m inference_gateway.bench.overhead_upstream HOST PORT [PACE_SECONDS]
"""

from __future__ import annotations

import asyncio
import json
import sys

BODY = json.dumps({"id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": "bench-model",
                   "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                                "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}}).encode()
OK = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: " + str(len(BODY)).encode() \
    + b"\r\n\r\n" + BODY
METRICS = (b'vllm:num_requests_waiting{model_name="bench-model"} 0\n'
           b'vllm:num_requests_running{model_name="bench-model"} 0\n'
           b'vllm:kv_cache_usage_perc{model_name="bench-model"} 0.0\n'
           + b"".join(b'vllm:request_%s_tokens_bucket{le="%d",model_name="bench-model"} 0\n' % (kind, le)
                      for kind in (b"prompt", b"generation") for le in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000))
           + b'vllm:request_prompt_tokens_sum{model_name="bench-model"} 0\n'
           + b'vllm:request_prompt_tokens_count{model_name="bench-model"} 0\n')
MET = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: " + str(len(METRICS)).encode() \
    + b"\r\n\r\n" + METRICS
SSE_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def stream(writer: asyncio.StreamWriter, request: dict, pace: float) -> None:
    model = json.dumps(request.get("model", "bench-model"))
    tokens = int(request.get("max_tokens") or 16)
    head = ('data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":0,"model":%s,'
            '"choices":[{"index":0,"delta":{"content":"tok "},"logprobs":null,"finish_reason":null}]}\n\n'
            % model).encode()
    writer.write(SSE_HEAD)
    for _ in range(tokens):
        writer.write(_chunk(head))
        await writer.drain()
        await asyncio.sleep(pace)
    if (request.get("stream_options") or {}).get("include_usage"):
        usage = {"prompt_tokens": 5, "completion_tokens": tokens, "total_tokens": 5 + tokens}
        writer.write(_chunk(('data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":0,'
                             '"model":%s,"choices":[],"usage":%s}\n\n' % (model, json.dumps(usage))).encode()))
    writer.write(_chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
    await writer.drain()


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pace: float) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            n = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    n = int(line[15:])
            body = await reader.readexactly(n) if n else b""
            if head.startswith(b"GET /metrics"):
                writer.write(MET)
            elif b'"stream":true' in body or b'"stream": true' in body:
                await stream(writer, json.loads(body), pace)
            else:
                writer.write(OK)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(host: str, port: int, pace: float) -> None:
    server = await asyncio.start_server(lambda r, w: handle(r, w, pace), host, port, backlog=1024)
    print("READY", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 0.001))
