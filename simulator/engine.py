"""The engine: one continuous-batching loop per process, paced by asyncio sleeps.

Each iteration (a "step") schedules like vLLM V1: running requests first (a decode token
each, or the next chunk of a chunked prefill), preempting the most recently admitted request
when KV blocks run out; then, if nothing was preempted, waiting requests in arrival order
while `max_num_seqs`, the `max_num_batched_tokens` budget and free KV allow. The step's
duration comes from the profile; the loop sleeps that long, then emits one token for every
request whose tokens are all computed. When idle it waits on an Event: no busy loop and no
per-request timers.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from typing import Callable, Protocol

from .profiles import Profile
from .request import SimRequest
from .text_gen import Filler

log = logging.getLogger(__name__)


class KVCacheManager(Protocol):
    capacity_tokens: int

    def lookup(self, req: SimRequest) -> int: ...
    def admit(self, req: SimRequest, num_new_tokens: int) -> bool: ...
    def allocate(self, req: SimRequest, num_new_tokens: int) -> bool: ...
    def on_scheduled(self, req: SimRequest, num_tokens: int) -> None: ...
    def on_computed(self, req: SimRequest) -> None: ...
    def free(self, req: SimRequest) -> None: ...
    def usage(self) -> float: ...
    def reset(self) -> bool: ...
    def take_events(self) -> list: ...


class EngineObserver(Protocol):
    def on_admitted(self, req: SimRequest, cached_tokens: int, queue_time: float) -> None: ...
    def on_first_token(self, req: SimRequest, ttft: float) -> None: ...
    def on_step(self, new_tokens: int, itls: list[float], prefill_tokens: int) -> None: ...
    def on_finished(self, req: SimRequest, e2e: float) -> None: ...
    def on_preempted(self, req: SimRequest) -> None: ...


@dataclass
class StepPlan:
    scheduled: list[tuple[SimRequest, int]]
    prefill_tokens: int
    decode_seqs: int
    attended_tokens: int


class Engine:
    def __init__(
        self,
        profile: Profile,
        kv: KVCacheManager,
        filler: Filler,
        observer: EngineObserver,
        time_scale: float = 1.0,
        publish_events: Callable[[list], None] | None = None,
    ) -> None:
        self.profile = profile
        self.kv = kv
        self.filler = filler
        self.observer = observer
        self.time_scale = time_scale
        self.publish_events = publish_events
        self.waiting: deque[SimRequest] = deque()
        self.running: list[SimRequest] = []
        self._wake = asyncio.Event()
        self._has_aborts = False
        self.steps = 0

    # -- public ----------------------------------------------------------------------------
    def submit(self, req: SimRequest) -> None:
        self.waiting.append(req)
        self._wake.set()

    def abort(self, req: SimRequest) -> None:
        """Client went away: drop the request at the next step boundary."""
        if req.finished:
            return
        req.aborted = True
        self._has_aborts = True
        self._wake.set()

    @property
    def num_waiting(self) -> int:
        return len(self.waiting)

    @property
    def num_running(self) -> int:
        return len(self.running)

    def step_time(self, plan: StepPlan) -> float:
        p = self.profile
        return (p.step_fixed_s + p.prefill_token_s * plan.prefill_tokens
                + p.decode_seq_s * plan.decode_seqs + p.attention_token_s * plan.attended_tokens)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            if not self.waiting and not self.running:
                self._wake.clear()
                await self._wake.wait()
                deadline = loop.time()
            plan = self._schedule(loop.time())
            if not plan.scheduled:
                # Nothing could run (only aborted or failed requests were queued): wait for news.
                if not self.waiting and not self.running:
                    continue
                self._wake.clear()
                await self._wake.wait()
                continue
            dt = self.step_time(plan) * self.time_scale
            # Pace by deadline so Python overhead does not stretch simulated time, but catch
            # up at most one step when the process was starved of CPU.
            now = loop.time()
            deadline = max(deadline, now - dt) + dt
            await asyncio.sleep(max(0.0, deadline - now))
            self._complete(plan, loop.time())
            self.steps += 1

    # -- scheduling ------------------------------------------------------------------------
    def _purge_aborted(self) -> None:
        if not self._has_aborts:
            return
        self._has_aborts = False
        keep = []
        for r in self.running:
            if r.aborted:
                self.kv.free(r)
            else:
                keep.append(r)
        self.running = keep
        if any(r.aborted for r in self.waiting):
            self.waiting = deque(r for r in self.waiting if not r.aborted)

    def _preempt(self, victim: SimRequest) -> None:
        self.kv.free(victim)
        victim.num_computed_tokens = 0
        victim.num_preemptions += 1
        victim.kv_transferred = False  # its KV is gone: recompute locally
        self.waiting.appendleft(victim)
        self.observer.on_preempted(victim)

    def _schedule(self, now: float) -> StepPlan:
        self._purge_aborted()
        budget = self.profile.max_num_batched_tokens
        scheduled: list[tuple[SimRequest, int]] = []
        preempted = False
        running = self.running
        i = 0
        while i < len(running) and budget > 0:
            req = running[i]
            n = min(req.num_tokens - req.num_computed_tokens, budget)
            if n <= 0:
                i += 1
                continue
            ok = self.kv.allocate(req, n)
            while not ok:  # bounded: each pass removes one running request
                victim = running.pop()
                self._preempt(victim)
                preempted = True
                if victim is req:
                    break
                ok = self.kv.allocate(req, n)
            if not ok:
                break
            self.kv.on_scheduled(req, req.num_computed_tokens + n)
            scheduled.append((req, n))
            budget -= n
            i += 1

        # vLLM admits nothing new in a step that had to preempt.
        while not preempted and self.waiting and len(running) < self.profile.max_num_seqs and budget > 0:
            req = self.waiting[0]
            hits = self.kv.lookup(req)
            transferred = req.kv_transferred and not req.scheduled_once
            n_alloc = req.num_tokens - hits if transferred else min(req.num_tokens - hits, budget)
            if not self.kv.admit(req, n_alloc):
                if not running and not scheduled:
                    self.waiting.popleft()
                    self._fail(req, "request does not fit in the KV cache")
                    continue
                break
            self.waiting.popleft()
            running.append(req)
            if transferred:
                req.num_computed_tokens = req.num_tokens - 1  # only the last token runs here
                n = 1
            else:
                req.num_computed_tokens = hits
                n = n_alloc
                self.kv.on_scheduled(req, hits + n)
            if not req.scheduled_once:
                req.scheduled_once = True
                req.num_cached_tokens = hits
                self.observer.on_admitted(req, hits, now - req.arrival_time)
            scheduled.append((req, n))
            budget -= n

        prefill = decode = attended = 0
        for req, n in scheduled:
            if n == 1 and (req.output_token_ids or req.kv_transferred):
                decode += 1
                attended += req.num_computed_tokens
            else:
                prefill += n
        return StepPlan(scheduled, prefill, decode, attended)

    def _fail(self, req: SimRequest, message: str) -> None:
        req.error = message
        self.kv.free(req)
        req.wakeup.set()

    def _complete(self, plan: StepPlan, now: float) -> None:
        finished = False
        itls: list[float] = []
        new_tokens = 0
        for req, n in plan.scheduled:
            if req.aborted:
                continue
            req.num_computed_tokens += n
            self.kv.on_computed(req)
            if req.num_computed_tokens < req.num_tokens:
                continue  # a prefill chunk that did not reach the end
            req.output_token_ids.append(self.filler.token(req.seed, len(req.output_token_ids)))
            new_tokens += 1
            if req.first_token_time is None:
                req.first_token_time = now
                self.observer.on_first_token(req, now - req.arrival_time)
            elif req.last_token_time is not None:
                itls.append(now - req.last_token_time)
            req.last_token_time = now
            if len(req.output_token_ids) >= req.max_tokens:
                req.finish_reason = "length"
                req.finish_time = now
                finished = True
                self.observer.on_finished(req, now - req.arrival_time)
            req.wakeup.set()
        if finished:
            keep = []
            for r in self.running:
                if r.finish_reason is not None:
                    self.kv.free(r)
                else:
                    keep.append(r)
            self.running = keep
        self.observer.on_step(new_tokens, itls, plan.prefill_tokens)
        if self.publish_events is not None:
            events = self.kv.take_events()
            if events:
                self.publish_events(events)
