"""Keeps the gateway's Envoy running: an Envoy that exits is started again with the current
configuration (the ADS server still holds it), and a crash loop ends the gateway.

While Envoy is down the gateway says so (gRPC health NOT_SERVING, an error log line); when
it is back and its listeners accept connections, SERVING again. More than `max_restarts`
exits within `window` seconds raise `EnvoyCrashLoop`: the gateway then exits non-zero and
Kubernetes (or whoever started it) restarts the whole pod, which is better than a gateway
that keeps flapping.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Awaitable, Callable

import structlog

from .envoy_process import EnvoyProcess

log = structlog.get_logger("envoy")


class EnvoyCrashLoop(RuntimeError):
    pass


@dataclass(frozen=True)
class RestartPolicy:
    max_restarts: int = 3
    window: float = 60.0   # seconds in which more than max_restarts exits mean a crash loop
    backoff: float = 0.2   # before each restart: a crashing binary must not spin a core


class EnvoySupervisor:
    def __init__(self, envoy: EnvoyProcess, serving: Callable[[bool], Awaitable[None]],
                 ready: Callable[[], Awaitable[None]], policy: RestartPolicy = RestartPolicy()) -> None:
        self.envoy = envoy
        self.serving = serving  # reports the gateway's health
        self.ready = ready      # returns once a (re)started Envoy carries traffic again
        self.policy = policy
        self.restarts = 0

    async def run(self) -> None:
        """Runs until cancelled (the gateway stopping on purpose) or a crash loop (raises)."""
        recent: deque[float] = deque()
        while True:
            code = await self.envoy.wait_exit()
            await self.serving(False)
            log.error("envoy exited; the gateway is NOT_SERVING until it is restarted",
                      returncode=code, log_tail=self.envoy.tail(5))
            while not await self._restart(recent):
                pass
            self.restarts += 1
            await self.serving(True)
            log.info("envoy restarted; serving again", pid=self.envoy.process.pid if self.envoy.process else None,
                     restarts=self.restarts)

    async def _restart(self, recent: deque[float]) -> bool:
        now = asyncio.get_running_loop().time()
        while recent and now - recent[0] > self.policy.window:
            recent.popleft()
        if len(recent) >= self.policy.max_restarts:
            log.error("envoy keeps exiting; giving up", restarts=len(recent), window_s=self.policy.window,
                      log_tail=self.envoy.tail(5))
            raise EnvoyCrashLoop(f"envoy exited {len(recent) + 1} times within {self.policy.window:.0f}s")
        recent.append(now)
        await asyncio.sleep(self.policy.backoff)
        try:
            await self.envoy.start()
            await self.ready()
            return True
        except Exception as err:  # counts as one more exit
            log.error("envoy restart failed", error=str(err) or type(err).__name__)
            await self.envoy.stop(grace=1.0)
            return False
