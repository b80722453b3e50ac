"""Fault injection for reliability tests: a server that refuses, resets, stalls or dies.

Modes (set with `--fault` at start, or at run time with `POST /sim/fault`):
- `refuse`: stop listening (clients get ECONNREFUSED) and drop requests on kept-alive
  connections; listening resumes after `duration_s`, or when cleared through the control
  port / Python API;
- `reset`: accept, then close the connection without answering;
- `stall`: accept, read the request and never answer, until `stall_max_s` passes, then close;
- `die-mid-stream`: streams close the connection after `after_chunks` SSE events;
  non-streaming requests are closed before the answer.
Paths under /sim/ are never affected, so a test can always clear the fault.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from typing import Awaitable, Callable

from aiohttp import web

from .config import FaultSpec

log = logging.getLogger(__name__)

MODES = ("none", "refuse", "reset", "stall", "die-mid-stream")


class ConnectionKilled(Exception):
    """Raised inside a handler after the fault closed its connection."""


class FaultController:
    def __init__(self, spec: FaultSpec, set_listening: Callable[[bool], Awaitable[None]]) -> None:
        self.spec = FaultSpec()
        self._set_listening = set_listening
        self._timer: asyncio.Task | None = None
        self._initial = spec

    async def apply_initial(self) -> None:
        await self.set(self._initial)

    async def set(self, spec: FaultSpec) -> None:
        if spec.mode not in MODES:
            raise ValueError(f"fault mode must be one of {', '.join(MODES)}")
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.spec = spec
        await self._set_listening(spec.mode != "refuse")
        if spec.mode != "none" and spec.duration_s:
            self._timer = asyncio.create_task(self._expire(spec.duration_s))
        log.info("fault set: %s", asdict(spec))

    async def _expire(self, after: float) -> None:
        await asyncio.sleep(after)
        self._timer = None
        await self.set(FaultSpec())

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def as_dict(self) -> dict:
        return asdict(self.spec)

    @property
    def dies_mid_stream(self) -> bool:
        return self.spec.mode == "die-mid-stream"

    @staticmethod
    def kill(request: web.Request) -> None:
        if request.transport is not None:
            request.transport.abort()

    @web.middleware
    async def middleware(self, request: web.Request, handler):  # type: ignore[no-untyped-def]
        # After a kill, aiohttp's attempt to send the returned response meets a closed
        # transport, which it treats as a client disconnect (no error log).
        mode = self.spec.mode
        if mode == "none" or request.path.startswith("/sim/"):
            pass
        elif mode in ("refuse", "reset"):
            self.kill(request)
            return web.Response(status=503)
        elif mode == "stall":
            try:
                await asyncio.sleep(self.spec.stall_max_s)
            finally:
                self.kill(request)
            return web.Response(status=503)
        try:
            return await handler(request)
        except ConnectionKilled:
            return web.Response(status=503)
