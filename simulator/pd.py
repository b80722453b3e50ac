"""SGLang prefill/decode disaggregation, emulated.

The router sends the same body, carrying `bootstrap_host`, `bootstrap_port` and
`bootstrap_room`, to a prefill server and a decode server at once. Here the prefill server
computes the prompt and marks the room ready on its bootstrap endpoint (an HTTP server on
`--bootstrap-port`, same host); the decode server long-polls that endpoint (bounded) before
it decodes, and fails clearly when the room never becomes ready. Either may arrive first.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

ROOM_PATH = "/sim/bootstrap/rooms/{room}"
MAX_ROOMS = 100_000
MAX_POLL_S = 30.0


class PDError(Exception):
    """A disaggregated request cannot be served; the message says why."""


@dataclass
class PDPlan:
    """What prefill/decode disaggregation changes for one request."""

    kv_transferred: bool = False  # decode: the prompt's KV came from the prefill server
    prefill_room: "BootstrapInfo | None" = None  # prefill: mark this room ready after prefill


@dataclass
class BootstrapInfo:
    host: str
    port: int
    room: int


def bootstrap_from_body(body: dict[str, Any]) -> BootstrapInfo | None:
    """The bootstrap fields, or None when the body has none. Raises PDError when partial."""
    keys = ("bootstrap_host", "bootstrap_port", "bootstrap_room")
    present = [k for k in keys if body.get(k) is not None]
    if not present:
        return None
    if len(present) != len(keys):
        raise PDError(f"incomplete bootstrap fields: need {', '.join(keys)}")
    try:
        return BootstrapInfo(str(body["bootstrap_host"]), int(body["bootstrap_port"]), int(body["bootstrap_room"]))
    except (TypeError, ValueError) as exc:
        raise PDError(f"bad bootstrap fields: {exc}") from None


@dataclass
class _Room:
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    prompt_tokens: int = 0
    prompt_digest: int = 0
    ready_at: float = 0.0


class RoomRegistry:
    """Prefill side: rooms whose KV is ready, with a long-poll HTTP view."""

    def __init__(self) -> None:
        self._rooms: OrderedDict[int, _Room] = OrderedDict()

    def _room(self, room: int) -> _Room:
        r = self._rooms.get(room)
        if r is None:
            r = self._rooms[room] = _Room()
            while len(self._rooms) > MAX_ROOMS:
                self._rooms.popitem(last=False)
        return r

    def mark_ready(self, room: int, prompt_tokens: int, prompt_digest: int) -> None:
        r = self._room(room)
        r.prompt_tokens, r.prompt_digest, r.ready_at = prompt_tokens, prompt_digest, time.time()
        r.ready.set()

    async def handle_room(self, request: web.Request) -> web.Response:
        try:
            room = int(request.match_info["room"])
            wait = min(float(request.query.get("wait", "0")), MAX_POLL_S)
        except ValueError:
            return web.json_response({"error": "bad room or wait"}, status=400)
        r = self._room(room)
        if not r.ready.is_set() and wait > 0:
            try:
                await asyncio.wait_for(r.ready.wait(), wait)
            except asyncio.TimeoutError:
                pass
        if not r.ready.is_set():
            return web.json_response({"room": room, "ready": False}, status=404)
        return web.json_response({"room": room, "ready": True, "prompt_tokens": r.prompt_tokens,
                                  "prompt_digest": r.prompt_digest})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(ROOM_PATH, self.handle_room)
        app.router.add_get("/health", _ok)
        return app


async def _ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def await_prefill(session: aiohttp.ClientSession, info: BootstrapInfo, prompt_digest: int,
                        max_wait_s: float) -> dict[str, Any]:
    """Decode side: wait until the prefill server has the room's KV, or raise PDError."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_wait_s
    url = f"http://{info.host}:{info.port}" + ROOM_PATH.format(room=info.room)
    last_error = "not ready"
    while True:  # bounded by the deadline
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise PDError(
                f"KV for bootstrap room {info.room} never arrived from prefill server "
                f"{info.host}:{info.port} within {max_wait_s:.2f}s ({last_error}); was the "
                "request also sent to a prefill server?")
        try:
            async with session.get(url, params={"wait": f"{remaining:.3f}"},
                                   timeout=aiohttp.ClientTimeout(total=remaining + 1.0)) as resp:
                if resp.status == 200:
                    data = await resp.json()
                    if data.get("prompt_digest") not in (None, prompt_digest):
                        raise PDError(f"bootstrap room {info.room} holds a different prompt")
                    return data
                last_error = f"bootstrap answered {resp.status}"
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            last_error = f"bootstrap unreachable: {exc.__class__.__name__}"
            await asyncio.sleep(min(0.05, max(0.0, deadline - loop.time())))
