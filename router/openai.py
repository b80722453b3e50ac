"""Reading an OpenAI-style request body: the model, whether it streams, and the prompt text as
the model will see it (for prefix matching)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .errors import bad_request


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
    """Parse and check what routing needs; anything else is the model server's to judge."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise bad_request(f"request body is not valid JSON: {err}") from None
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("you must provide a model parameter", param="model")
    return InferenceRequest(body=body, model=model, stream=bool(body.get("stream")), prompt=prompt_text(body))
