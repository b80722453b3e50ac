"""`Simulator`: one simulated model server (HTTP API + engine), startable in-process.

    sim = Simulator(SimConfig(runtime="vllm", host="127.0.0.2", port=8000))
    await sim.start()        # listening on sim.base_url
    ...
    await sim.stop()
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
import uuid
from typing import Any, AsyncIterator

import aiohttp
import xxhash
from aiohttp import web

from .block_cache import BlockCache
from .config import FaultSpec, SimConfig
from .engine import Engine
from .errors import GenerationError, HTTPError
from .faults import FaultController
from .kv_events import KVEventPublisher
from .metrics import SimMetrics
from .openai_api import SIM_KEY, add_openai_routes, json_errors
from .pd import PDError, PDPlan, RoomRegistry, await_prefill, bootstrap_from_body
from .radix_cache import RadixCache
from .request import SimRequest
from .sglang_api import add_sglang_routes
from .text_gen import Filler
from .tokenizer import load_tokenizer

log = logging.getLogger(__name__)


def prompt_digest(ids: list[int]) -> int:
    return xxhash.xxh3_64_intdigest(struct.pack(f"<{len(ids)}I", *ids))


class Simulator:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        p = config.profile
        self.tokenizer = load_tokenizer(config.tokenizer)
        self.filler = Filler.build(self.tokenizer)
        self.publisher: KVEventPublisher | None = None
        emit = bool(config.kv_events)
        self.kv: BlockCache | RadixCache = (
            BlockCache(p.kv_capacity_tokens, p.block_size, emit_events=emit)
            if config.runtime == "vllm" else RadixCache(p.kv_capacity_tokens, emit_events=emit)
        )
        num_blocks = self.kv.capacity_tokens // p.block_size
        self.metrics = SimMetrics(config.runtime, config.model_names[0], p.block_size, num_blocks, p.max_model_len)
        self.engine = Engine(p, self.kv, self.filler, self.metrics, config.time_scale, self._publish)
        self.metrics.attach(self.engine)
        self.faults = FaultController(config.fault, self._set_listening)
        self.rooms = RoomRegistry() if config.role == "prefill" else None
        self.started_at = time.time()
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._aux_runners: list[web.AppRunner] = []
        self._engine_task: asyncio.Task | None = None

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.config.host}:{self.config.port}"

    async def start(self) -> None:
        cfg = self.config
        if cfg.kv_events:
            self.publisher = KVEventPublisher(cfg.kv_events, cfg.host, cfg.kv_events_topic)
        app = web.Application(middlewares=[json_errors, self.faults.middleware], client_max_size=64 * 1024 * 1024)
        app[SIM_KEY] = self
        add_openai_routes(app, self)
        if cfg.runtime == "sglang":
            add_sglang_routes(app, self)
        app.router.add_get("/sim/fault", self._get_fault)
        app.router.add_post("/sim/fault", self._post_fault)
        app.router.add_get("/sim/state", self._get_state)
        self._engine_task = asyncio.create_task(self.engine.run(), name=f"engine {cfg.name}")
        self._engine_task.add_done_callback(self._engine_stopped)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None,
                                     handler_cancellation=True, shutdown_timeout=0.2)
        await self._runner.setup()
        await self._set_listening(True)
        if self.rooms is not None:
            cfg.bootstrap_port = await self._start_aux(self.rooms.app(), cfg.bootstrap_port or 0)
        await self.faults.apply_initial()
        log.info("simulator %s (%s, %s) listening on %s", cfg.name, cfg.runtime, cfg.profile.name, self.base_url)

    def _engine_stopped(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("engine of %s crashed", self.config.name, exc_info=task.exception())

    async def _start_aux(self, app: web.Application, port: int) -> int:
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.2)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, port)
        await site.start()
        self._aux_runners.append(runner)
        return site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        await self.faults.close()
        if self._engine_task is not None:
            self._engine_task.cancel()
            await asyncio.gather(self._engine_task, return_exceptions=True)
            self._engine_task = None
        for runner in [self._runner, *self._aux_runners]:
            if runner is not None:
                await runner.cleanup()
        self._runner, self._site, self._aux_runners = None, None, []
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self.publisher is not None:
            self.publisher.close()
            self.publisher = None

    async def __aenter__(self) -> "Simulator":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _set_listening(self, on: bool) -> None:
        if self._runner is None:
            return
        if on and self._site is None:
            self._site = web.TCPSite(self._runner, self.config.host, self.config.port, reuse_address=True)
            await self._site.start()
            if self.config.port == 0:  # an ephemeral port: remember it, so refuse can re-listen
                server = self._site._server
                self.config.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        elif not on and self._site is not None:
            site, self._site = self._site, None
            await site.stop()

    async def set_fault(self, spec: FaultSpec) -> None:
        await self.faults.set(spec)

    def _publish(self, events: list) -> None:
        if self.publisher is not None:
            self.publisher.publish(events)

    # -- generation (used by the API modules) ----------------------------------------------
    def tokenize_prompt(self, prompt: Any) -> list[int]:
        if isinstance(prompt, str):
            return self.tokenizer.encode(prompt)
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], (str, list)):
            return self.tokenize_prompt(prompt[0])
        if isinstance(prompt, list) and prompt and all(isinstance(t, int) for t in prompt):
            return list(prompt)
        raise HTTPError(400, "prompt must be a string, a list of token ids, or a list of one of those "
                        "(batches are not simulated)", "BadRequestError", "prompt")

    def resolve_max_tokens(self, requested: Any, prompt_len: int) -> int:
        limit = self.config.profile.max_model_len
        if requested is None:
            return max(1, min(self.config.default_max_tokens, limit - prompt_len))
        if not isinstance(requested, int) or isinstance(requested, bool) or requested < 1:
            raise HTTPError(400, "max_tokens must be an integer >= 1", "BadRequestError", "max_tokens")
        if prompt_len + requested > limit:
            raise HTTPError(
                400,
                f"This model's maximum context length is {limit} tokens. However, you requested "
                f"{prompt_len + requested} tokens ({prompt_len} in the messages, {requested} in the "
                "completion). Please reduce the length of the messages or completion.",
                "BadRequestError", "max_tokens")
        return requested

    async def plan_pd(self, body: dict[str, Any], prompt_ids: list[int]) -> PDPlan:
        """Apply the disaggregation role; for decode, wait for the prefill's KV."""
        role = self.config.role
        if role is None:
            return PDPlan()
        try:
            info = bootstrap_from_body(body)
        except PDError as exc:
            raise HTTPError(400, str(exc), "BadRequestError", "bootstrap_room") from None
        if role == "prefill":
            return PDPlan(prefill_room=info)
        if info is None:
            raise HTTPError(400, "this is a decode server (prefill/decode disaggregation): the request "
                            "needs bootstrap_host, bootstrap_port and bootstrap_room, and must also be "
                            "sent to the prefill server", "BadRequestError", "bootstrap_room")
        if self._session is None:
            self._session = aiohttp.ClientSession()
        wait = max(0.5, self.config.pd_wait_s * self.config.time_scale)
        try:
            await await_prefill(self._session, info, prompt_digest(prompt_ids), wait)
        except PDError as exc:
            raise HTTPError(500, str(exc), "InternalServerError") from None
        return PDPlan(kv_transferred=True)

    def new_request(self, prompt_ids: list[int], max_tokens: int, pd: PDPlan, prefix: str) -> SimRequest:
        digest = prompt_digest(prompt_ids)
        return SimRequest(
            request_id=f"{prefix}-{uuid.uuid4().hex}",
            prompt_token_ids=prompt_ids,
            max_tokens=1 if pd.prefill_room is not None else max_tokens,
            arrival_time=asyncio.get_running_loop().time(),
            kv_transferred=pd.kv_transferred,
            seed=digest & 0xFFFF,
        )

    async def generate(self, req: SimRequest, pd: PDPlan | None = None) -> AsyncIterator[list[int]]:
        """Submit `req` and yield its new token ids as they come (several per batch when the
        reader is slower than the engine). Aborts the request if the consumer goes away."""
        self.engine.submit(req)
        sent = 0
        try:
            while True:  # ends when the request finishes or fails
                await req.wakeup.wait()
                req.wakeup.clear()
                if req.error is not None:
                    raise GenerationError(req.error)
                new = req.output_token_ids[sent:]
                if new:
                    if sent == 0 and pd is not None and pd.prefill_room is not None and self.rooms is not None:
                        self.rooms.mark_ready(pd.prefill_room.room, len(req.prompt_token_ids),
                                              prompt_digest(req.prompt_token_ids))
                    sent += len(new)
                    yield new
                if req.finish_reason is not None:
                    return
        finally:
            if not req.finished:
                self.engine.abort(req)

    # -- control endpoints -----------------------------------------------------------------
    async def _get_fault(self, request: web.Request) -> web.Response:
        return web.json_response(self.faults.as_dict())

    async def _post_fault(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            spec = FaultSpec(**body)
            if spec.mode == "refuse" and not spec.duration_s:
                raise ValueError("refuse over HTTP needs duration_s (the listener closes)")
            current = self.faults.spec
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        if spec.mode == "refuse":
            # Answer first, then stop listening.
            asyncio.get_running_loop().call_later(0.01, lambda: asyncio.ensure_future(self.faults.set(spec)))
        else:
            await self.faults.set(spec)
        return web.json_response({"previous": current.__dict__, "fault": spec.__dict__})

    async def _get_state(self, request: web.Request) -> web.Response:
        e = self.engine
        return web.json_response({
            "name": self.config.name, "runtime": self.config.runtime, "role": self.config.role,
            "profile": self.config.profile.name, "waiting": e.num_waiting, "running": e.num_running,
            "kv_usage": self.kv.usage(), "steps": e.steps, "fault": self.faults.as_dict(),
        })
