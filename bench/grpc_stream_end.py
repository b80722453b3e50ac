"""grpc.aio's native leak when a bidi stream ends as Envoy ends ext_proc streams, and the cure.

Envoy ends an ext_proc stream by half-closing it and resetting it at once. A grpc.aio server
(1.85) whose handler returns on the half-close sends its final status on an already-cancelled
call; that batch fails and its C operation array is never freed (grpc/grpc#43360). This runs a
bare grpc.aio ExternalProcessor server in a child process, 20,000 one-message streams per
case, and prints the server's malloc'd bytes in use (glibc's mallinfo2) per stream:

- `status`: the client half-closes and reads the status (a plain gRPC client): no leak;
- `reset`: the client half-closes and resets at once (Envoy), handler returns on the half-close;
- `reset+wait`: the same, the handler waiting for the reset after the half-close
  (router/stream_end.py): grpc.aio cancels it with no batch in flight.

    .venv/bin/python -P bench/grpc_stream_end.py        # ~1 minute
"""

from __future__ import annotations

import asyncio
import multiprocessing
import sys

import grpc
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as pb_grpc

from inference_gateway.operator.ports import free_port
from inference_gateway.router import allocator
from inference_gateway.router.stream_end import await_peer_reset

HOST = "127.14.0.1"
STREAMS = 20_000
CONCURRENCY = 16
ANSWER = pb.ProcessingResponse(request_headers=pb.HeadersResponse())


def malloc_in_use() -> int:
    got = allocator.usage()
    return got[0] if got else 0


class Processor(pb_grpc.ExternalProcessorServicer):
    def __init__(self, wait: bool) -> None:
        self.wait = wait

    async def Process(self, request_iterator, context):  # type: ignore[no-untyped-def]
        while True:
            message = await context.read()
            if message is grpc.aio.EOF:
                if self.wait:
                    await await_peer_reset()
                return
            await context.write(ANSWER)


def serve(port: int, wait: bool, ready, report) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        pb_grpc.add_ExternalProcessorServicer_to_server(Processor(wait), server)
        server.add_insecure_port(f"{HOST}:{port}")
        await server.start()
        ready.set()
        loop = asyncio.get_running_loop()
        while True:  # answers each "measure" from the parent until it closes the pipe
            if not await loop.run_in_executor(None, report.poll, 60):
                return
            report.recv()
            report.send(malloc_in_use())
    asyncio.run(main())


async def streams(port: int, reset: bool, count: int) -> None:
    request = pb.ProcessingRequest(request_headers=pb.HttpHeaders(end_of_stream=True))
    async with grpc.aio.insecure_channel(f"{HOST}:{port}") as channel:
        stub = pb_grpc.ExternalProcessorStub(channel)
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one() -> None:
            async with gate:
                call = stub.Process()
                await call.write(request)
                await call.read()
                await call.done_writing()
                if reset:
                    call.cancel()
                else:
                    await call.code()
        for _ in range(count // 1000):
            await asyncio.gather(*(one() for _ in range(1000)))


def case(name: str, reset: bool, wait: bool) -> None:
    port = free_port(HOST)
    ready = multiprocessing.Event()
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve, args=(port, wait, ready, child), daemon=True)
    server.start()
    try:
        if not ready.wait(30):
            raise RuntimeError("the server did not start")

        def measure() -> int:
            parent.send("measure")
            if not parent.poll(30):
                raise RuntimeError("the server did not answer")
            return parent.recv()
        asyncio.run(streams(port, reset, 2_000))  # warm-up: buffers, pools
        before = measure()
        asyncio.run(streams(port, reset, STREAMS))
        after = measure()
        print(f"{name:12}{(after - before) / 2**20:>12.2f}{(after - before) / STREAMS:>14.0f}", flush=True)
    finally:
        parent.close()
        server.terminate()
        server.join(10)


def main() -> int:
    print(f"grpcio {grpc.__version__}; {STREAMS} streams per case, {CONCURRENCY} at a time")
    print(f"{'case':12}{'grown MB':>12}{'bytes/stream':>14}")
    case("status", reset=False, wait=False)
    case("reset", reset=True, wait=False)
    case("reset+wait", reset=True, wait=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
