"""Shared fixtures: real services in private run folders on free ports."""
from __future__ import annotations

import pytest

from hotline.procs import RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A real redis-server for the whole test session (torn down after)."""
    server = RedisServer(tmp_path_factory.mktemp("redis-run"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def redis_client(redis_server):
    """A redis.asyncio client on a freshly flushed database."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(redis_server.url, decode_responses=True)
    await client.flushdb()
    yield client
    await client.aclose()
