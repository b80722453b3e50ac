"""Errors the gateway answers itself, in OpenAI's JSON shape, so clients' SDKs surface them."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass
class GatewayError(Exception):
    status: int
    message: str
    type: str = "invalid_request_error"
    param: str | None = None
    reason: str | None = None  # admission refusals: shed | queue-full | waited-too-long (a metric label)

    def body(self) -> bytes:
        return json.dumps({"error": {"message": self.message, "type": self.type,
                                     "param": self.param, "code": self.status}}).encode()


def bad_request(message: str, param: str | None = None) -> GatewayError:
    return GatewayError(400, message, "invalid_request_error", param)


def unavailable(message: str) -> GatewayError:
    return GatewayError(503, message, "service_unavailable")


def too_many_requests(message: str) -> GatewayError:
    return GatewayError(429, message, "rate_limit_exceeded")


def internal(message: str) -> GatewayError:
    return GatewayError(500, message, "internal_error")
