"""SGLang's native endpoints: /generate, /server_info, /model_info, /get_load, ..."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .errors import GenerationError, HTTPError
from .openai_api import SSEWriter, check_stream_options, error_response, generate_all, read_json
from .pd import PDPlan

if TYPE_CHECKING:
    from .server import Simulator

SGLANG_VERSION = "0.5.5+sim"


class SGLangRoutes:
    def __init__(self, sim: "Simulator") -> None:
        self.sim = sim

    def _meta(self, req, finished: bool) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        meta: dict[str, Any] = {
            "id": req.request_id,
            "finish_reason": {"type": "length", "length": len(req.output_token_ids)} if finished else None,
            "prompt_tokens": len(req.prompt_token_ids),
            "completion_tokens": len(req.output_token_ids),
            "cached_tokens": req.num_cached_tokens,
        }
        if finished and req.finish_time is not None:
            meta["e2e_latency"] = req.finish_time - req.arrival_time
        return meta

    async def generate(self, request: web.Request) -> web.StreamResponse:
        sim = self.sim
        try:
            body = await read_json(request)
            if body.get("input_ids") is not None:
                prompt_ids = sim.tokenize_prompt(body["input_ids"])
            elif body.get("text") is not None:
                prompt_ids = sim.tokenize_prompt(body["text"])
            else:
                raise HTTPError(400, "Either text or input_ids should be provided.", "BadRequestError", "text")
            params = body.get("sampling_params") or {}
            if not isinstance(params, dict):
                raise HTTPError(400, "sampling_params must be an object", "BadRequestError", "sampling_params")
            check_stream_options(body)
            max_tokens = sim.resolve_max_tokens(params.get("max_new_tokens", 128), len(prompt_ids))
            pd = await sim.plan_pd(body, prompt_ids)
        except HTTPError as err:
            return error_response(sim, err)
        req = sim.new_request(prompt_ids, max_tokens, pd, "gen")
        if body.get("rid"):
            req.request_id = str(body["rid"])
        if body.get("stream"):
            w = SSEWriter(sim, request)
            await w.start()
            try:
                async for _ in sim.generate(req, pd):
                    # SGLang streams the cumulative text by default.
                    await w.send({"text": sim.filler.text(req.output_token_ids),
                                  "output_ids": list(req.output_token_ids),
                                  "meta_info": self._meta(req, req.finish_reason is not None)})
            except GenerationError as exc:
                await w.send({"error": {"message": str(exc)}})
            return await w.done()
        failed = await generate_all(sim, request, req, pd)
        if failed is not None:
            return failed
        return web.json_response({"text": sim.filler.text(req.output_token_ids),
                                  "output_ids": list(req.output_token_ids),
                                  "meta_info": self._meta(req, True)})

    async def health_generate(self, request: web.Request) -> web.Response:
        sim = self.sim
        if sim.config.role == "decode":  # a decode server cannot generate without a prefill
            return web.Response(status=200)
        req = sim.new_request(sim.tokenizer.encode("health"), 1, PDPlan(), "health")
        try:
            async with asyncio.timeout(20):
                async for _ in sim.generate(req):
                    pass
        except (GenerationError, TimeoutError):
            return web.Response(status=503)
        return web.Response(status=200)

    async def model_info(self, request: web.Request) -> web.Response:
        cfg = self.sim.config
        return web.json_response({
            "model_path": cfg.model, "tokenizer_path": cfg.tokenizer or cfg.model,
            "is_generation": True, "preferred_sampling_params": None, "weight_version": "default",
            "has_image_understanding": False, "has_audio_understanding": False,
            "model_type": "simulated", "architectures": ["SimulatedForCausalLM"],
        })

    async def server_info(self, request: web.Request) -> web.Response:
        sim = self.sim
        cfg, p = sim.config, sim.config.profile
        return web.json_response({
            "model_path": cfg.model, "tokenizer_path": cfg.tokenizer or cfg.model,
            "served_model_name": cfg.model_names[0], "host": cfg.host, "port": cfg.port,
            "tp_size": p.tp_size, "dp_size": 1, "page_size": 1,
            "chunked_prefill_size": p.max_num_batched_tokens, "max_running_requests": p.max_num_seqs,
            "max_total_num_tokens": sim.kv.capacity_tokens, "context_length": p.max_model_len,
            "disaggregation_mode": cfg.role or "null",
            "disaggregation_bootstrap_port": cfg.bootstrap_port,
            "disable_radix_cache": False, "schedule_policy": "fcfs", "version": SGLANG_VERSION,
            "simulator_profile": p.name,
            "internal_states": [{"last_gen_throughput": 0.0, "max_total_num_tokens": sim.kv.capacity_tokens}],
        })

    async def get_load(self, request: web.Request) -> web.Response:
        e = self.sim.engine
        used = round(self.sim.kv.usage() * self.sim.kv.capacity_tokens)
        waiting_tokens = sum(len(r.prompt_token_ids) for r in e.waiting)
        return web.json_response({
            "load": used + waiting_tokens, "dp_rank": 0, "num_reqs": e.num_running + e.num_waiting,
            "num_waiting_reqs": e.num_waiting, "num_tokens": used,
        })

    async def flush_cache(self, request: web.Request) -> web.Response:
        ok = self.sim.kv.reset()
        return web.Response(status=200 if ok else 400,
                            text="Cache flushed." if ok else "Cache not flushed: requests are running.")


def add_sglang_routes(app: web.Application, sim: "Simulator") -> None:
    r = SGLangRoutes(sim)
    app.router.add_post("/generate", r.generate)
    app.router.add_get("/health_generate", r.health_generate)
    for path in ("/model_info", "/get_model_info"):
        app.router.add_get(path, r.model_info)
    for path in ("/server_info", "/get_server_info"):
        app.router.add_get(path, r.server_info)
    app.router.add_get("/get_load", r.get_load)
    app.router.add_route("*", "/flush_cache", r.flush_cache)
