"""A fixed chat template.

Each message renders as `<|role|>\ncontent<|end|>\n` and the generation prompt
`<|assistant|>\n` is appended only at the very end, so the rendering of a conversation's
earlier turns is a true text (and token) prefix of the rendering of its later turns.
"""

from __future__ import annotations

from typing import Any


def _content_text(content: Any) -> str:
    """OpenAI content is a string or a list of parts; only text parts count here."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


def render_messages(messages: list[dict[str, Any]], add_generation_prompt: bool = True) -> str:
    parts = [f"<|{m.get('role', 'user')}|>\n{_content_text(m.get('content'))}<|end|>\n" for m in messages]
    if add_generation_prompt:
        parts.append("<|assistant|>\n")
    return "".join(parts)
