"""Stopping a child process we started: by its PID, politely first, bounded."""

from __future__ import annotations

import asyncio


async def stop_child(proc: asyncio.subprocess.Process | None, grace: float = 5.0) -> None:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL. A process already gone is left alone."""
    if proc is None or proc.returncode is not None:
        return
    proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except asyncio.TimeoutError:
        try:
            proc.kill()
        except ProcessLookupError:  # it exited between the timeout and the kill
            pass
        await proc.wait()
