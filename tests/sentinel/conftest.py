"""A private Redis Sentinel group per test (devstack/redis_sentinel.py): master, replica and three
sentinels on free loopback ports, torn down after. Per test, because the tests kill the master."""
from __future__ import annotations

import asyncio

import pytest

from devstack.redis_sentinel import SentinelGroup


@pytest.fixture
async def sentinel_group(tmp_path):
    group = SentinelGroup(tmp_path, down_after_ms=1000, failover_timeout_ms=3000)
    await asyncio.to_thread(group.start)
    yield group
    await asyncio.to_thread(group.stop)


@pytest.fixture
async def sentinel_redis(sentinel_group):
    """The product's client (kernel/redis.py) on the group's redis+sentinel:// URL."""
    from kernel.redis import redis_client

    client = redis_client(sentinel_group.url)
    yield client
    await client.aclose()
