"""Reading an OpenAI-style request body: checked once (openai_schema.py), then the model,
whether it streams, and the prompt text as the model will see it (for prefix matching)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from .errors import bad_request
from .openai_schema import MAX_DEPTH, MODEL_NAME_MAX, check, param_of, too_deep

_decode = msgspec.json.Decoder().decode


@dataclass(slots=True)
class InferenceRequest:
    body: dict[str, Any]
    model: str
    stream: bool
    prompt: str  # chat messages rendered in order: each turn's history is a prefix of the next


def content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": ...}, {"type": "image_url", ...}]
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def prompt_text(body: dict[str, Any]) -> str:
    messages = body.get("messages")
    if isinstance(messages, list):
        return "".join(
            f"<|{m.get('role', '')}|>{content_text(m.get('content'))}\n" for m in messages if isinstance(m, dict)
        )
    prompt = body.get("prompt")
    if isinstance(prompt, list):
        return "".join(str(p) for p in prompt)
    return "" if prompt is None else str(prompt)


def parse_request(raw: bytes) -> InferenceRequest:
    """Decode and check the body once, before anything is forwarded: every violation is a
    GatewayError (400, naming the parameter), never another exception."""
    try:
        body = _decode(raw)
    except RecursionError:
        raise bad_request(f"request body nests deeper than {MAX_DEPTH} levels") from None
    except (msgspec.DecodeError, UnicodeDecodeError) as err:
        raise bad_request(f"request body is not valid JSON in UTF-8: {err}") from None
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    if body.get("model") is None:
        raise bad_request("you must provide a model parameter", param="model")
    if too_deep(body):
        raise bad_request(f"request body nests deeper than {MAX_DEPTH} levels")
    try:
        checked = check(body)
    except msgspec.ValidationError as err:
        param, reason = param_of(err)
        if param == "model":
            reason = f"a model name is 1 to {MODEL_NAME_MAX} characters, none of them a control character"
        raise bad_request(f"invalid value for '{param}': {reason}", param=param) from None
    return InferenceRequest(body=body, model=checked.model, stream=bool(checked.stream), prompt=prompt_text(body))
