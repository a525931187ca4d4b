"""The product's Redis client (kernel/redis.py) follows the master through Redis Sentinel.

The master is killed with SIGKILL (no shutdown, no last save); the sentinels (down-after 1 s)
promote the replica. Commands fail meanwhile (the callers retry: the matcher, the live hub) and
resume on the new master within 5 s of the promotion, on the same client object; the Lua
scripts, absent from the new master's script cache, are loaded again on NOSCRIPT; a pub/sub
subscriber that subscribes again (as web/live.py does after a lost channel) hears the new master.
"""
from __future__ import annotations

import asyncio
import functools
import time

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

RESUME_S = 5.0


async def _until_ok(op, timeout: float) -> float:
    """Retry `op` until it succeeds; the moment (monotonic) it did."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            await op()
            return time.monotonic()
        except (RedisConnectionError, RedisTimeoutError):
            assert time.monotonic() < deadline, "Redis did not come back"
            await asyncio.sleep(0.05)


async def test_client_follows_the_master_across_a_failover(sentinel_group, sentinel_redis):
    from agents.resync import RedisLossWatch
    from agents.store import Script

    r = sentinel_redis
    rebuilt: list[float] = []

    async def rebuild() -> None:
        rebuilt.append(time.monotonic())

    watch = RedisLossWatch(r, "hotline:alive:n1", [rebuild])     # the controller's watch (agents/resync.py)
    await watch.mark()
    assert not await watch.check()
    first = sentinel_group.master_address()
    await r.set("before", "1")
    assert await r.wait(1, 5000) == 1            # the replica has it (see test_sentinel_tickets.py)
    incr = r.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")    # redis-py's Script
    twice = Script("twice", "return tonumber(ARGV[1]) * 2")                     # agents/store.Script
    assert await incr(keys=["n"], args=[5]) == 5
    assert await twice(r, 21) == 42

    killed_at = time.monotonic()
    await asyncio.to_thread(sentinel_group.kill_master)
    new = await asyncio.to_thread(sentinel_group.wait_failover, first, 20.0)
    promoted_at = time.monotonic()
    assert new != first

    resumed_at = await _until_ok(lambda: r.set("after", "1"), 20.0)
    print(f"failover: promoted {promoted_at - killed_at:.2f} s after the kill, "
          f"commands resumed {resumed_at - killed_at:.2f} s after it ({resumed_at - promoted_at:.2f} s after promotion)")
    assert resumed_at - promoted_at < RESUME_S
    assert r.connection_pool.master_address == new       # the same client object, now on the new master
    assert await r.get("before") == "1"
    assert (await r.info("replication"))["role"] == "master"
    assert int((await r.info("server"))["tcp_port"]) == new[1]

    # the new master starts with an empty script cache; both kinds of script load themselves again
    assert await r.script_exists(incr.sha, twice.sha) == [False, False]
    assert await incr(keys=["n"], args=[1]) == 6
    assert await twice(r, 4) == 8

    # the marker replicated, but another server answers: the live state is rebuilt (resync with
    # Asterisk, each day's ticket counter checked against the records), once
    assert await r.exists("hotline:alive:n1")
    assert await watch.check() and len(rebuilt) == 1
    assert not await watch.check() and len(rebuilt) == 1


async def test_the_live_channel_is_heard_again_after_a_failover(sentinel_group, sentinel_redis):
    """The pattern of web/live._follow_channel: read with a short timeout, subscribe again on a
    lost channel; events published after the promotion reach the subscriber within 5 s."""
    r = sentinel_redis
    first = sentinel_group.master_address()
    pubsub = r.pubsub()
    await pubsub.subscribe("hotline:live")
    assert (await pubsub.get_message(timeout=2))["type"] == "subscribe"
    await r.publish("hotline:live", "before")
    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
    assert msg and msg["data"] == "before"

    await asyncio.to_thread(sentinel_group.kill_master)
    await asyncio.to_thread(sentinel_group.wait_failover, first, 20.0)
    promoted_at = time.monotonic()
    subscribed_again = 0
    while True:
        assert time.monotonic() - promoted_at < RESUME_S, "the live channel stayed silent"
        try:
            await r.publish("hotline:live", "after")
        except (RedisConnectionError, RedisTimeoutError):
            pass
        try:
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
        except (RedisConnectionError, RedisTimeoutError):
            await pubsub.aclose()
            pubsub = r.pubsub()
            subscribed_again += 1
            await _until_ok(functools.partial(pubsub.subscribe, "hotline:live"), RESUME_S)
            continue
        if msg and msg["type"] == "message" and msg["data"] == "after":
            break
    heard_at = time.monotonic()
    await pubsub.aclose()
    print(f"live channel heard {heard_at - promoted_at:.2f} s after promotion "
          f"({subscribed_again} new subscriptions; else redis-py subscribed again itself)")
