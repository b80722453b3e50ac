"""Helpers for tests that run simulators in-process (also usable by other test suites)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from .config import SimConfig
from .profiles import get_profile

TEST_MODEL = "sim-model"


def tiny_config(**kw: Any) -> SimConfig:
    """A `test-tiny` simulator on an ephemeral loopback port, serving TEST_MODEL.

    Profile fields are overridden with `profile_<field>=value`, e.g. `profile_max_num_seqs=2`.
    """
    prof = {k[len("profile_"):]: kw.pop(k) for k in list(kw) if k.startswith("profile_")}
    kw.setdefault("port", 0)
    kw.setdefault("served_model_names", [TEST_MODEL])
    return SimConfig(profile=get_profile(kw.pop("profile", "test-tiny")).with_overrides(**prof), **kw)


async def read_sse(resp: aiohttp.ClientResponse) -> list[Any]:
    """Parsed `data:` events of a stream; the literal "[DONE]" stays a string."""
    events: list[Any] = []
    async for raw in resp.content:
        line = raw.decode().strip()
        if line.startswith("data: "):
            data = line[len("data: "):]
            events.append(data if data == "[DONE]" else json.loads(data))
    return events
