"""Errors the simulated servers answer with; shared by the server and its API modules (kept
apart so that `server` can import the APIs without the APIs importing `server`)."""

from __future__ import annotations


class GenerationError(Exception):
    """The engine could not serve a request (e.g. it does not fit in the KV cache)."""


class HTTPError(Exception):
    def __init__(self, status: int, message: str, err_type: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.err_type, self.param = status, message, err_type, param
