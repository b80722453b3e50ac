"""How an ext_proc stream ends without leaking gRPC's native memory.

Envoy ends every ext_proc stream by half-closing it and resetting it at once (its
`ExternalProcessorStreamImpl::close()` calls `closeStream()` then `resetStream()`). grpc.aio
(1.85; grpc/grpc#43360, unfixed in any release) leaks the C array of a batch that fails or
whose awaiting task is cancelled. A handler that returns as soon as it reads the half-close
makes grpc.aio send the final status on a call the reset has already cancelled: that batch
fails and ~80-100 bytes stay allocated per stream, in scattered chunks that also pin glibc's
heap. That was the router's steady growth under load (measured: bench/heap_growth.py
--distinct 500, ~90 bytes per request in glibc's bytes in use while Python's objects held flat).

Waiting briefly after the half-close lets the reset arrive first: grpc.aio then cancels the
handler while it awaits a plain timer, with no batch in flight, and sends no status. A client
that half-closes and waits for the status (a test, a plain gRPC client) gets it after the wait.
"""

from __future__ import annotations

import asyncio

# Envoy writes the half-close and the reset back to back, so the reset is normally already
# read when the handler sees the half-close; the wait only has to cover event-loop lag.
PEER_RESET_WAIT = 0.05


async def await_peer_reset(wait: float = PEER_RESET_WAIT) -> None:
    """Call after reading the half-close, before returning from the handler."""
    await asyncio.sleep(wait)
