"""Reading and fixing model-server responses: token usage, and the model name the client asked
for when the router sent the request to another target model (a canary of `targetModels`).

JSON responses arrive whole (ext_proc BUFFERED); SSE streams arrive chunk by chunk (STREAMED),
and a `data:` line may be split across chunks, so the rewriter holds back an incomplete last
line until the next chunk (or the end of the stream).
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


def _usage(obj: object) -> Usage | None:
    if isinstance(obj, dict):
        u = obj.get("usage")
        if isinstance(u, dict):
            return Usage(int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0))
    return None


def _model_patterns(name: str) -> list[bytes]:
    encoded = json.dumps(name, ensure_ascii=False)
    return [f'"model":{encoded}'.encode(), f'"model": {encoded}'.encode()]


class ResponseProcessor:
    """One response's processing: `rewrite_from` → `rewrite_to` in `model` fields, usage found."""

    def __init__(self, rewrite_from: str | None = None, rewrite_to: str | None = None) -> None:
        self.usage: Usage | None = None
        self._carry = b""
        self._replace: list[tuple[bytes, bytes]] = []
        if rewrite_from is not None and rewrite_to is not None and rewrite_from != rewrite_to:
            new = json.dumps(rewrite_to, ensure_ascii=False)
            self._replace = [(old, old.split(b":", 1)[0] + b":" + (b" " if b": " in old else b"") + new.encode())
                             for old in _model_patterns(rewrite_from)]
        self.rewrite_to = rewrite_to if self._replace else None

    @property
    def rewrites(self) -> bool:
        return bool(self._replace)

    def json_body(self, body: bytes) -> bytes | None:
        """A whole JSON response: read its usage; the new body when the model is rewritten."""
        try:
            obj = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return None
        self.usage = _usage(obj) or self.usage
        if self._replace and isinstance(obj, dict) and "model" in obj:
            obj["model"] = self.rewrite_to
            return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
        return None

    def sse_chunk(self, chunk: bytes, end: bool) -> bytes | None:
        """One piece of an SSE stream → what to send on (None: unchanged)."""
        if not self._replace:  # chunks pass unchanged; only usage is read
            self._scan(chunk, end)
            return None
        data = self._carry + chunk
        if end:
            head, self._carry = data, b""
        else:
            cut = data.rfind(b"\n") + 1
            head, self._carry = data[:cut], data[cut:]
        self._scan_lines(head)
        for old, new in self._replace:
            head = head.replace(old, new)
        return head

    # usage is in the last event of a stream that asked for it (`stream_options.include_usage`)
    def _scan(self, chunk: bytes, end: bool) -> None:
        data = self._carry + chunk if self._carry else chunk
        if end:
            self._scan_lines(data)
            self._carry = b""
            return
        cut = data.rfind(b"\n") + 1
        if cut:
            self._scan_lines(data[:cut])
        tail = data[cut:]
        self._carry = tail if len(tail) < 1 << 20 else b""

    def _scan_lines(self, data: bytes) -> None:
        if b'"usage"' not in data:
            return
        for line in data.split(b"\n"):
            if line.startswith(b"data:") and b'"usage"' in line:
                try:
                    usage = _usage(json.loads(line[5:]))
                except (ValueError, UnicodeDecodeError):
                    continue
                if usage is not None:
                    self.usage = usage
