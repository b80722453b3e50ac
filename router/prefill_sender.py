"""The alternative prefill delivery: the router itself posts the prefill request.

The default is an Envoy mirror (translate/envoy.py), which costs the router nothing; this
sender exists so the two can be measured side by side (bench/pd_delivery.py) and as a
fallback for proxies without request mirroring. The prefill response is read and discarded;
a failure is logged, and the decode pod then fails the request with its own clear error.
"""

from __future__ import annotations

import asyncio

import aiohttp
import structlog

log = structlog.get_logger("prefill")


class PrefillSender:
    def __init__(self, timeout: float = 600.0) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, address: str, path: str, body: bytes) -> None:
        task = asyncio.get_running_loop().create_task(self._post(address, path or "/v1/chat/completions", body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, address: str, path: str, body: bytes) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.post(f"http://{address}{path}", data=body,
                                          headers={"content-type": "application/json"}) as resp:
                await resp.read()
                if resp.status >= 400:
                    log.warning("prefill failed", address=address, status=resp.status)
        except (aiohttp.ClientError, asyncio.TimeoutError) as err:
            log.warning("prefill failed", address=address, error=str(err) or type(err).__name__)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
