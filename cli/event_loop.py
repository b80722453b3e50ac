"""The event loop `igw run` serves on: uvloop's rather than asyncio's own.

Under `make bench-overhead`'s sustained load the router spent ~10% less CPU per request on it
(`python -P bench/overhead_profile.py uvloop`: medians of 5 runs side by side, 331 against
366 µs); most of the router's CPU is grpc.aio's per-stream work, which the loop schedules.
Kopf runs on uvloop too when it is installed. `IGW_ASYNCIO=1` keeps asyncio's loop, to compare.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Coroutine, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    if os.environ.get("IGW_ASYNCIO"):
        return asyncio.run(main)
    import uvloop  # noqa: PLC0415

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
