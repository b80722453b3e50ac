"""OpenAI-compatible endpoints as vLLM serves them, plus vLLM's /tokenize and friends."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .chat_template import render_messages
from .faults import ConnectionKilled
from .errors import GenerationError, HTTPError

if TYPE_CHECKING:
    from .pd import PDPlan
    from .server import Simulator

log = logging.getLogger(__name__)
SIM_KEY: web.AppKey[Any] = web.AppKey("sim")


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def error_body(sim: "Simulator", status: int, message: str, err_type: str, param: str | None = None) -> dict:
    """vLLM (>= 0.10) nests the error; SGLang keeps the older flat shape."""
    if sim.config.runtime == "sglang":
        return {"object": "error", "message": message, "type": err_type, "param": param, "code": status}
    return {"error": {"message": message, "type": err_type, "param": param, "code": status}}


async def generate_all(sim: "Simulator", request: web.Request, req, pd) -> web.Response | None:  # type: ignore[no-untyped-def]
    """Run a non-streaming request to the end; an error response, or None when it finished.
    A die-mid-stream fault kills the connection here, as it would mid-answer."""
    try:
        async for _ in sim.generate(req, pd):
            pass
    except GenerationError as exc:
        return error_response(sim, HTTPError(400, str(exc), "BadRequestError"))
    if sim.faults.dies_mid_stream:
        sim.faults.kill(request)
        raise ConnectionKilled("die-mid-stream")
    return None


def error_response(sim: "Simulator", err: HTTPError) -> web.Response:
    return web.json_response(error_body(sim, err.status, err.message, err.err_type, err.param), status=err.status)


async def read_json(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read() or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPError(400, f"Invalid JSON body: {exc}", "BadRequestError") from None
    if not isinstance(body, dict):
        raise HTTPError(400, "The request body must be a JSON object", "BadRequestError")
    return body


def check_messages(messages: Any) -> list[dict[str, Any]]:
    """The shape vLLM's request model (pydantic) enforces before anything runs: a 400 naming the
    message, not an exception deep in the chat template."""
    if not isinstance(messages, list) or not messages:
        raise HTTPError(400, "messages must be a non-empty list", "BadRequestError", "messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise HTTPError(400, f"messages.{i} must be an object with a string role", "BadRequestError",
                            f"messages.{i}")
        content = m.get("content")
        parts_ok = isinstance(content, list) and all(isinstance(p, dict) for p in content)
        if content is not None and not isinstance(content, str) and not parts_ok:
            raise HTTPError(400, f"messages.{i}.content must be a string or a list of content parts",
                            "BadRequestError", f"messages.{i}.content")
    return messages


def check_stream_options(body: dict[str, Any]) -> bool:
    """Whether usage is to be streamed; a malformed `stream`/`stream_options` is a 400."""
    stream, opts = body.get("stream"), body.get("stream_options")
    if stream is not None and not isinstance(stream, bool):
        raise HTTPError(400, "stream must be a boolean", "BadRequestError", "stream")
    if opts is not None and not isinstance(opts, dict):
        raise HTTPError(400, "stream_options must be an object", "BadRequestError", "stream_options")
    return bool(stream) and bool((opts or {}).get("include_usage"))


@web.middleware
async def json_errors(request: web.Request, handler) -> web.StreamResponse:  # type: ignore[no-untyped-def]
    """Every error the server itself makes is JSON, as vLLM's and SGLang's FastAPI apps answer:
    `{"detail": ...}` for an unknown path or method or a refused body, and the runtime's error
    shape with 500 for a failure inside a handler (never aiohttp's plain text)."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return web.json_response({"detail": exc.reason}, status=exc.status)
    except UnicodeEncodeError:
        # A lone surrogate (\ud800) in a prompt: valid JSON, but not text a tokenizer can read.
        sim = request.app[SIM_KEY]
        return error_response(sim, HTTPError(400, "the request contains an unpaired surrogate, which is "
                                             "not valid text", "BadRequestError"))
    except (ConnectionKilled, asyncio.CancelledError):
        raise
    except Exception as exc:  # noqa: BLE001  (vLLM's exception handler: 500 in its JSON shape)
        log.exception("handler failed")
        return error_response(request.app[SIM_KEY], HTTPError(500, str(exc) or type(exc).__name__,
                                                            "InternalServerError"))


class SSEWriter:
    """Writes `data: ...` events; applies the die-mid-stream fault."""

    def __init__(self, sim: "Simulator", request: web.Request) -> None:
        self.sim, self.request = sim, request
        self.resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                                "Cache-Control": "no-cache"})
        self.events = 0

    async def start(self) -> None:
        await self.resp.prepare(self.request)

    async def send(self, obj: Any) -> None:
        faults = self.sim.faults
        if faults.dies_mid_stream and self.events >= faults.spec.after_chunks:
            faults.kill(self.request)
            raise ConnectionKilled("die-mid-stream")
        await self.resp.write(b"data: " + dumps(obj).encode() + b"\n\n")
        self.events += 1

    async def done(self) -> web.StreamResponse:
        await self.resp.write(b"data: [DONE]\n\n")
        await self.resp.write_eof()
        return self.resp


class OpenAIRoutes:
    def __init__(self, sim: "Simulator") -> None:
        self.sim = sim

    # -- helpers ---------------------------------------------------------------------------
    def check_model(self, body: dict[str, Any]) -> str:
        model = body.get("model")
        names = self.sim.config.model_names
        if model is None:
            return names[0]
        if model not in names:
            raise HTTPError(404, f"The model `{model}` does not exist.", "NotFoundError", "model")
        return model

    def usage(self, req) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        p, c = len(req.prompt_token_ids), len(req.output_token_ids)
        return {"prompt_tokens": p, "total_tokens": p + c, "completion_tokens": c,
                "prompt_tokens_details": {"cached_tokens": req.num_cached_tokens}}

    async def _run(self, request: web.Request, chat: bool) -> web.StreamResponse:
        sim = self.sim
        try:
            body = await read_json(request)
            model = self.check_model(body)
            include_usage = check_stream_options(body)
            if chat:
                messages = check_messages(body.get("messages"))
                prompt_ids = sim.tokenizer.encode(render_messages(messages, body.get("add_generation_prompt", True)))
            else:
                if "prompt" not in body:
                    raise HTTPError(400, "prompt is required", "BadRequestError", "prompt")
                prompt_ids = sim.tokenize_prompt(body["prompt"])
            if not prompt_ids:
                raise HTTPError(400, "the prompt is empty", "BadRequestError", "prompt")
            requested = body.get("max_completion_tokens") if chat else None
            if requested is None:
                requested = body.get("max_tokens")
            max_tokens = sim.resolve_max_tokens(requested, len(prompt_ids))
            pd = await sim.plan_pd(body, prompt_ids)
        except HTTPError as err:
            return error_response(sim, err)
        req = sim.new_request(prompt_ids, max_tokens, pd, "chatcmpl" if chat else "cmpl")
        created = int(time.time())
        if body.get("stream"):
            return await self._stream(request, req, pd, model, created, chat, include_usage)
        return await self._complete(request, req, pd, model, created, chat)

    async def _complete(self, request, req, pd: "PDPlan", model: str, created: int, chat: bool):  # type: ignore[no-untyped-def]
        sim = self.sim
        failed = await generate_all(sim, request, req, pd)
        if failed is not None:
            return failed
        text = sim.filler.text(req.output_token_ids)
        if chat:
            choice = {"index": 0, "message": {"role": "assistant", "content": text, "reasoning_content": None,
                                              "tool_calls": []},
                      "logprobs": None, "finish_reason": req.finish_reason, "stop_reason": None}
            obj = "chat.completion"
        else:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": req.finish_reason,
                      "stop_reason": None, "prompt_logprobs": None}
            obj = "text_completion"
        return web.json_response({"id": req.request_id, "object": obj, "created": created, "model": model,
                                  "choices": [choice], "usage": self.usage(req), "prompt_logprobs": None,
                                  "kv_transfer_params": None})

    async def _stream(self, request, req, pd: "PDPlan", model: str, created: int, chat: bool,  # type: ignore[no-untyped-def]
                      include_usage: bool):
        sim = self.sim
        w = SSEWriter(sim, request)
        await w.start()
        obj = "chat.completion.chunk" if chat else "text_completion"
        head = {"id": req.request_id, "object": obj, "created": created, "model": model}

        def chunk(text: str, finish: str | None, first: bool = False) -> dict:
            if chat:
                delta = {"role": "assistant", "content": text} if first else {"content": text}
                c = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            else:
                c = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish, "stop_reason": None}
            return {**head, "choices": [c]}

        try:
            if chat:
                await w.send(chunk("", None, first=True))
            async for new in sim.generate(req, pd):
                await w.send(chunk(sim.filler.text(new), req.finish_reason))
        except GenerationError as exc:
            await w.send(error_body(sim, 400, str(exc), "BadRequestError"))
            return await w.done()
        if include_usage:
            await w.send({**head, "choices": [], "usage": self.usage(req)})
        return await w.done()

    # -- handlers --------------------------------------------------------------------------
    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        return await self._run(request, chat=True)

    async def completions(self, request: web.Request) -> web.StreamResponse:
        return await self._run(request, chat=False)

    async def models(self, request: web.Request) -> web.Response:
        cfg = self.sim.config
        owner = "sglang" if cfg.runtime == "sglang" else "vllm"
        data = [{"id": n, "object": "model", "created": int(self.sim.started_at), "owned_by": owner,
                 "root": cfg.model, "parent": None, "max_model_len": cfg.profile.max_model_len}
                for n in cfg.model_names]
        return web.json_response({"object": "list", "data": data})

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def metrics(self, request: web.Request) -> web.Response:
        # `?name[]=…` restricts the page to those samples, as prometheus_client's exposition
        # app (vLLM's and SGLang's /metrics) does.
        return web.Response(body=self.sim.metrics.render(request.query.getall("name[]", ())),
                            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

    async def tokenize(self, request: web.Request) -> web.Response:
        sim = self.sim
        try:
            body = await read_json(request)
            self.check_model(body)
            if "messages" in body:
                messages = check_messages(body["messages"])
                ids = sim.tokenizer.encode(render_messages(messages, body.get("add_generation_prompt", True)))
            else:
                ids = sim.tokenize_prompt(body.get("prompt", ""))
        except HTTPError as err:
            return error_response(sim, err)
        return web.json_response({"count": len(ids), "max_model_len": sim.config.profile.max_model_len,
                                  "tokens": ids, "token_strs": None})

    async def detokenize(self, request: web.Request) -> web.Response:
        try:
            body = await read_json(request)
            self.check_model(body)
        except HTTPError as err:
            return error_response(self.sim, err)
        return web.json_response({"prompt": self.sim.tokenizer.decode(list(body.get("tokens") or []))})

    async def reset_prefix_cache(self, request: web.Request) -> web.Response:
        return web.Response(status=200 if self.sim.kv.reset() else 409)

    async def version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": "0.11.0+sim"})


def add_openai_routes(app: web.Application, sim: "Simulator") -> None:
    r = OpenAIRoutes(sim)
    app.router.add_post("/v1/chat/completions", r.chat_completions)
    app.router.add_post("/v1/completions", r.completions)
    app.router.add_get("/v1/models", r.models)
    app.router.add_get("/health", r.health)
    app.router.add_get("/metrics", r.metrics)
    app.router.add_post("/tokenize", r.tokenize)
    app.router.add_post("/detokenize", r.detokenize)
    app.router.add_post("/reset_prefix_cache", r.reset_prefix_cache)
    app.router.add_get("/version", r.version)
