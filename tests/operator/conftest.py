"""Fixtures for the operator suite: the Kubernetes API emulator and a client of it."""

from __future__ import annotations

from typing import AsyncIterator

import aiohttp
import kmock
import pytest

from support.kubeapi import Cluster, KubeAPI


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    async with KubeAPI() as api, kmock.Server(api) as server:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            yield Cluster(api, str(server.url), session)
