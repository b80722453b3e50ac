"""The OpenAI request fields the gateway checks before anything is forwarded: their types and
ranges as the OpenAI API defines them for chat and completions. Fields not named here pass
through unchecked (the model server judges them); a field named here with a wrong type or an
out-of-range value is a 400 that names it, instead of a model server's 500 or a request that
streams when the client said `"stream": "false"`.

msgspec checks these in C (`msgspec.convert` on the decoded body); see
`bench/parse_cost.py` for what it costs against the hand-written checks it replaced.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

# The InferenceModel CRD's limit on a model name, and no control characters: the name becomes
# a request header (x-gateway-model-name) and a metric label.
MODEL_NAME_MAX = 256
ModelName = Annotated[str, Meta(min_length=1, max_length=MODEL_NAME_MAX, pattern=r"^[^\x00-\x1f\x7f]+$")]
# Deeper JSON than this is refused: legitimate bodies (tool schemas included) stay far below.
MAX_DEPTH = 64

PositiveInt = Annotated[int, Meta(ge=1, le=2**31 - 1)]
Penalty = Annotated[float, Meta(ge=-2.0, le=2.0)]


class ContentPart(Struct, forbid_unknown_fields=False):
    type: str
    text: str | UnsetType = UNSET


class Message(Struct, forbid_unknown_fields=False):
    role: Annotated[str, Meta(min_length=1)]
    content: str | list[ContentPart] | None = None


class StreamOptions(Struct, forbid_unknown_fields=False):
    include_usage: bool | None = None
    continuous_usage_stats: bool | None = None


class OpenAIRequest(Struct, forbid_unknown_fields=False):
    """Chat (`messages`) and completions (`prompt`) share every checked field but those two."""

    model: ModelName
    messages: Annotated[list[Message], Meta(min_length=1)] | UnsetType = UNSET
    # A string, a list of strings, a list of token ids, or a list of token-id lists.
    prompt: str | list[str | int | list[int]] | UnsetType = UNSET
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    max_tokens: PositiveInt | None = None
    max_completion_tokens: PositiveInt | None = None
    n: Annotated[int, Meta(ge=1, le=128)] | None = None
    temperature: Annotated[float, Meta(ge=0.0, le=2.0)] | None = None
    top_p: Annotated[float, Meta(ge=0.0, le=1.0)] | None = None
    presence_penalty: Penalty | None = None
    frequency_penalty: Penalty | None = None
    logprobs: bool | Annotated[int, Meta(ge=0)] | None = None  # chat: bool; completions: a count
    top_logprobs: Annotated[int, Meta(ge=0, le=20)] | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    user: str | None = None
    logit_bias: dict[str, float] | None = None
    echo: bool | None = None
    best_of: PositiveInt | None = None
    tool_choice: str | dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    response_format: dict[str, Any] | None = None


def check(body: dict[str, Any]) -> OpenAIRequest:
    """The checked view of a decoded body; msgspec.ValidationError names the offending path."""
    return msgspec.convert(body, OpenAIRequest)


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether containers nest deeper than `limit` (iterative: a hostile body cannot make this
    recurse). Walks containers only; strings, however long, cost nothing here."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return False


def param_of(err: msgspec.ValidationError) -> tuple[str, str]:
    """(`param`, the reason) from msgspec's "Expected `int`, got `str` - at `$.n`"."""
    text = str(err)
    reason, _, where = text.partition(" - at `")
    path = where.rstrip("`").removeprefix("$").lstrip(".")
    if reason.startswith("Object missing required field `"):
        field = reason.split("`")[1]
        path = f"{path}.{field}" if path else field
    return path or "body", reason
