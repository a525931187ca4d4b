"""Hand-off to a real local HTTP receiver that fails, hangs, refuses and recovers; restarts mid-flight."""
from __future__ import annotations

import asyncio
import base64
import json
import random
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as aioredis
from aiohttp import web

from devstack.procs import RedisServer, free_port
from tickets.handoff import HandoffWorker, backoff_delay, classify, retry_after_s
from tickets.handoff_config import (
    DEFAULT_PATH,
    HandoffConfig,
    HandoffConfigError,
    config_from_dict,
    load_handoff_config,
)
from tickets.outbox import Outbox
from tickets.rules import load_rules
from tickets.store import TicketStore

T0 = datetime(2025, 3, 3, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
CALL = ("我 要 投诉 荷塘区 月塘 街道 一个 烧烤店 每天 晚上 吵 到 凌晨 两三点 睡 不 着 "
        "我 姓 王 电话 幺 三 八 零 零 零 零 幺 二 三 四")


class Receiver:
    """A work-order system on 127.0.0.1: dedupes by Idempotency-Key and counts every raw POST.

    mode: "ok"; "fail" (500); "hang" (answers after `hang_s`, having processed the order);
    "status" (answers `status` without processing); stop() refuses connections.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/workorders"
        self.mode = "ok"
        self.status = 400
        self.hang_s = 1.0
        self.posts: list[dict] = []          # every raw POST: key, attempt, auth
        self.orders: dict[str, dict] = {}    # deduplicated: key -> work order
        self.duplicates = 0
        self.runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        key = request.headers.get("Idempotency-Key")
        body = await request.json()
        self.posts.append({"key": key, "attempt": request.headers.get("X-Hotline-Attempt"),
                           "auth": request.headers.get("Authorization"),
                           "type": request.headers.get("Content-Type"), "mode": self.mode})
        mode = self.mode
        if mode == "fail":
            return web.Response(status=500, text="internal error")
        if mode == "status":
            headers = {"Retry-After": "0"} if self.status in (408, 429) else {}
            return web.Response(status=self.status, text="rejected: caller 13800001234 field missing",
                                headers=headers)
        if mode == "hang":
            await asyncio.sleep(self.hang_s)
        if not key or body.get("ticket_id") != key:
            return web.Response(status=422, text="idempotency key and ticket id differ")
        if key in self.orders:
            self.duplicates += 1
            return web.json_response({"work_order": key, "duplicate": True}, status=200)
        self.orders[key] = body
        return web.json_response({"work_order": key}, status=201)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/workorders", self._handle)
        self.runner = web.AppRunner(app, shutdown_timeout=0.2)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    def raw_count(self, key: str) -> int:
        return sum(p["key"] == key for p in self.posts)


@pytest.fixture
async def receiver():
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


@pytest.fixture(scope="module")
def rules():
    return load_rules()


@pytest.fixture
def store(redis_client, rules):
    return TicketStore(redis_client, rules=rules, clock=lambda: T0)


def config(url: str, **kw) -> HandoffConfig:
    base = dict(url=url, connect_timeout_s=0.2, total_timeout_s=0.3, attempts=50, backoff_base_s=0.02,
                backoff_max_s=0.1, visibility_timeout_s=1.0, poll_s=0.05, batch=5, concurrency=3)
    base.update(kw)
    return HandoffConfig(**base)


async def confirmed(store: TicketStore, n: int, prefix: str = "call") -> list[str]:
    ids = []
    for i in range(n):
        t = await store.create_draft(f"{prefix}-{i}", f"1380000{i:04d}", CALL, received_at=T0 + i)
        await store.confirm(t.id, "op07", {"urgency": "紧急"} if i % 2 else {})
        ids.append(t.id)
    return ids


async def until(condition, timeout: float = 10.0, step: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)


async def statuses(store: TicketStore, ids: list[str]) -> list[str]:
    return [(await store.get(i)).status for i in ids]


async def all_handed_off(store, ids) -> bool:
    return set(await statuses(store, ids)) == {"handed_off"}


async def stop(task: asyncio.Task) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def outbox_empty(redis_client, store) -> None:
    depth = await Outbox(redis_client, store.keys).depth()
    assert depth == {"queued": 0, "in_flight": 0, "retry": 0, "dead": 0}


async def test_delivered_exactly_once_through_failures_hangs_and_refusals(store, redis_client, receiver):
    ids = await confirmed(store, 6)
    receiver.mode = "fail"
    worker = HandoffWorker(redis_client, config(receiver.url), consumer="ctl-1", rng=random.Random(1))
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: all(receiver.raw_count(i) >= 2 for i in ids))       # retried after 500s
        assert "HTTP 500: internal error" == (await store.get(ids[0])).handoff["last_error"]
        receiver.mode = "hang"                                                  # slower than the timeout
        await until(lambda: sum(p["mode"] == "hang" for p in receiver.posts) >= 6)
        await receiver.stop()                                                   # refuses connections
        await until(lambda: _errors(store, ids, "cannot connect"))
        assert set(await statuses(store, ids)) == {"confirmed"}
        receiver.mode = "ok"
        await receiver.start()                                                  # recovers
        await until(lambda: all_handed_off(store, ids))
    finally:
        await stop(task)
    assert sorted(receiver.orders) == sorted(ids)                               # each exactly once
    assert len(receiver.posts) > 3 * len(ids)                                   # retries did happen
    for tid in ids:
        stored = json.loads(await redis_client.hget(store.keys.ticket(tid), "work_order"))
        assert receiver.orders[tid] == stored                                   # the stored order, unchanged
        t = await store.get(tid)
        assert t.handoff["attempts"] >= 3 and t.handoff["handed_off_at"] is not None
    attempts = [int(p["attempt"]) for p in receiver.posts if p["key"] == ids[0]]
    assert attempts == sorted(attempts) and attempts[0] == 1
    await outbox_empty(redis_client, store)


async def _errors(store, ids, text) -> bool:
    errors = [(await store.get(i)).handoff["last_error"] or "" for i in ids]
    return all(text in e for e in errors)


@pytest.mark.parametrize("same_consumer", [False, True])
async def test_worker_cancelled_mid_flight_then_restarted_loses_nothing(
        store, redis_client, redis_server, receiver, same_consumer):
    ids = await confirmed(store, 5)
    receiver.mode, receiver.hang_s = "hang", 1.5                # processes the order, answers late
    first = HandoffWorker(redis_client, config(receiver.url, total_timeout_s=3.0, visibility_timeout_s=30.0),
                          consumer="ctl-a")
    task = asyncio.create_task(first.run())
    await until(lambda: len(receiver.posts) >= 3)              # in flight: the receiver has them
    await stop(task)                                            # the controller dies mid-flight
    assert set(await statuses(store, ids)) == {"confirmed"}
    receiver.mode = "ok"
    # A new controller: a new client, store and worker object.
    client = aioredis.from_url(redis_server.url, decode_responses=True)
    try:
        second_store = TicketStore(client, rules=store._rules)
        name = "ctl-a" if same_consumer else "ctl-b"
        second = HandoffWorker(client, config(receiver.url, visibility_timeout_s=1.0 if not same_consumer
                                              else 30.0), consumer=name)
        started = time.monotonic()
        task = asyncio.create_task(second.run())
        try:
            await until(lambda: all_handed_off(second_store, ids), timeout=15)
        finally:
            await stop(task)
        if same_consumer:                # its own claims are resumed at start, not after the timeout
            assert time.monotonic() - started < 5
    finally:
        await client.aclose()
    in_flight = {p["key"] for p in receiver.posts if p["mode"] == "hang"}
    assert in_flight and all(receiver.raw_count(k) >= 2 for k in in_flight)    # sent twice ...
    await until(lambda: receiver.duplicates == len(in_flight), 5)              # ... kept once
    assert sorted(receiver.orders) == sorted(ids)
    await outbox_empty(redis_client, store)


async def test_permanent_rejection_is_dead_lettered_and_can_be_redriven(store, redis_client, receiver):
    ids = await confirmed(store, 3)
    receiver.mode, receiver.status = "status", 400
    worker = HandoffWorker(redis_client, config(receiver.url), consumer="ctl-1")
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: statuses_are(store, ids, "dead_letter"))
        assert len(receiver.posts) == 3                                         # no retry on a 400
        dead = await worker.dead_letters()
        assert sorted(d.ticket_id for d in dead) == sorted(ids)
        assert dead[0].reason == "HTTP 400: rejected: caller 138****1234 field missing"   # masked
        assert dead[0].attempts == 1
        t = await store.get(ids[0])
        assert t.handoff["dead_reason"] == dead[0].reason and t.handoff["dead_at"] is not None
        receiver.mode = "ok"
        assert await worker.redrive(ids[0]) == [ids[0]]
        await until(lambda: statuses_are(store, ids[:1], "handed_off"))
        assert await worker.redrive("ZZ-unknown") == []
        assert sorted(await worker.redrive()) == sorted(ids[1:])                # all the rest
        await until(lambda: all_handed_off(store, ids))
    finally:
        await stop(task)
    assert sorted(receiver.orders) == sorted(ids)
    assert await worker.dead_letters() == []
    await outbox_empty(redis_client, store)


async def statuses_are(store, ids, status) -> bool:
    return set(await statuses(store, ids)) == {status}


@pytest.mark.parametrize("status", [408, 429, 503])
async def test_retryable_statuses_then_give_up_after_the_attempts(store, redis_client, receiver, status):
    ids = await confirmed(store, 1)
    receiver.mode, receiver.status = "status", status
    worker = HandoffWorker(redis_client, config(receiver.url, attempts=3), consumer="ctl-1")
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: statuses_are(store, ids, "dead_letter"))
    finally:
        await stop(task)
    assert receiver.raw_count(ids[0]) == 3
    reason = (await store.get(ids[0])).handoff["dead_reason"]
    assert reason.startswith(f"gave up after 3 attempts: HTTP {status}")


async def test_disabled_keeps_tickets_queued_until_enabled(store, redis_client, receiver):
    ids = await confirmed(store, 2)
    await asyncio.wait_for(HandoffWorker(redis_client, HandoffConfig(url="")).run(), 1)   # returns at once
    assert set(await statuses(store, ids)) == {"confirmed"}
    assert await redis_client.xlen(store.keys.outbox) == 2
    # the consumer group is created after the tickets were queued: they still go out
    worker = HandoffWorker(redis_client, config(receiver.url), consumer="ctl-1")
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: all_handed_off(store, ids))
    finally:
        await stop(task)
    assert len(receiver.posts) == 2


async def test_parallel_workers_share_the_outbox_without_duplicates(store, redis_client, receiver):
    ids = await confirmed(store, 20)
    workers = [HandoffWorker(redis_client, config(receiver.url), consumer=f"ctl-{n}") for n in range(3)]
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        await until(lambda: all_handed_off(store, ids))
        more = await confirmed(store, 5, prefix="later")                      # confirmed while running
        await until(lambda: all_handed_off(store, more))
    finally:
        for task in tasks:
            await stop(task)
    assert sorted(receiver.orders) == sorted(ids + more)
    assert len(receiver.posts) == 25                  # nobody died: every ticket posted once
    assert receiver.duplicates == 0


@pytest.mark.parametrize("auth,expected", [
    ({"auth_type": "bearer", "token": "s3cret"}, "Bearer s3cret"),
    ({"auth_type": "basic", "username": "hotline", "password": "pw"},
     "Basic " + base64.b64encode(b"hotline:pw").decode()),
    ({}, None),
])
async def test_request_headers(store, redis_client, receiver, auth, expected):
    ids = await confirmed(store, 1)
    worker = HandoffWorker(redis_client, config(receiver.url, headers={"X-Source": "zz"}, **auth),
                           consumer="ctl-1")
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: all_handed_off(store, ids))
    finally:
        await stop(task)
    post = receiver.posts[0]
    assert (post["key"], post["auth"], post["attempt"]) == (ids[0], expected, "1")
    assert post["type"] == "application/json; charset=utf-8"


# -- pure parts --------------------------------------------------------------------------

def test_backoff_grows_is_capped_and_jittered():
    rng = random.Random(7)
    for attempt, full in ((1, 2), (2, 4), (3, 8), (4, 16), (10, 60), (30, 60)):
        delays = [backoff_delay(attempt, 2, 60, rng) for _ in range(200)]
        assert all(full / 2 <= d <= full for d in delays)
        assert max(delays) - min(delays) > full / 4          # really jittered


def test_classify_and_retry_after():
    assert classify(201, "").outcome == "done"
    assert classify(204, "").outcome == "done"
    for status in (408, 429, 500, 502, 503, 504):
        assert classify(status, "busy").outcome == "retry"
    for status in (301, 400, 401, 403, 404, 409, 422):
        assert classify(status, "no").outcome == "dead"
    assert classify(400, "number 13800001234\n bad").detail == "HTTP 400: number 138****1234 bad"
    assert retry_after_s("30", 0) == 30.0
    assert retry_after_s("Thu, 01 Jan 1970 00:01:40 GMT", 40.0) == 60.0
    assert retry_after_s("soon", 0) is None and retry_after_s(None, 0) is None


def test_config_file_and_checks():
    shipped = load_handoff_config(DEFAULT_PATH, env={})
    assert not shipped.enabled and shipped.attempts >= 1
    assert shipped.visibility_timeout_s > shipped.total_timeout_s
    c = config_from_dict({"url": "https://wo.example/api", "auth": {"type": "bearer", "token_env": "T"}},
                         env={"T": "tok-123"})
    assert c.enabled and c.authorization() == "Bearer tok-123" and "tok-123" not in repr(c)
    with pytest.raises(HandoffConfigError) as err:
        config_from_dict({"url": "ftp://x", "auth": {"type": "magic"}, "attempts": 0, "colour": 1,
                          "timeouts": {"total_s": 90}, "visibility_timeout_s": 60})
    problems = err.value.details["problems"]
    assert "colour: unknown setting" in problems
    with pytest.raises(HandoffConfigError) as err:
        config_from_dict({"url": "ftp://x", "auth": {"type": "magic"}, "attempts": 0,
                          "timeouts": {"total_s": 90}, "visibility_timeout_s": 60})
    text = " ".join(err.value.details["problems"])
    for part in ("url:", "auth.type:", "attempts:", "visibility_timeout_s:"):
        assert part in text
    with pytest.raises(HandoffConfigError):
        config_from_dict({"url": "https://wo.example", "auth": {"type": "bearer"}}, env={})
    slow = HandoffConfig(url="http://127.0.0.1:9/", total_timeout_s=10, visibility_timeout_s=30,
                         batch=20, concurrency=4)        # a batch's last POST may start 40 s after the read
    assert any(p.startswith("visibility_timeout_s") for p in slow.problems())
    with pytest.raises(HandoffConfigError):
        HandoffWorker(aioredis.Redis(), slow)
    HandoffWorker(aioredis.Redis(), HandoffConfig(url="", visibility_timeout_s=1))    # disabled: unchecked


async def test_a_late_result_never_overrides_the_first(store, redis_client):
    """A slow worker whose entry was taken over: whichever finishes first counts, status never regresses."""
    ids = await confirmed(store, 1)
    outbox = Outbox(redis_client, store.keys)
    await outbox.ensure_group()
    [mine] = await outbox.read_new("slow", 10, None)
    [taken] = await outbox.reclaim("fast", 0, 10)
    assert taken == mine and taken.ticket_id == ids[0]
    assert await outbox.finish(taken, "done", T0, "HTTP 201")
    assert not await outbox.finish(mine, "retry", T0, "timeout", due=T0 + 5)
    assert not await outbox.finish(mine, "dead", T0, "HTTP 400")
    t = await store.get(ids[0])
    assert (t.status, t.handoff["attempts"], t.handoff["response"]) == ("handed_off", 1, "HTTP 201")
    await outbox_empty(redis_client, store)
    # a stray second entry for a ticket already handed off is dropped, not re-sent
    await redis_client.xadd(store.keys.outbox, {"ticket": ids[0]})
    receiver_never_called = HandoffWorker(redis_client, config("http://127.0.0.1:9/never"), consumer="w")
    task = asyncio.create_task(receiver_never_called.run())
    try:
        await until(lambda: _stream_drained(redis_client, store))
    finally:
        await stop(task)
    assert (await store.get(ids[0])).handoff["attempts"] == 1


async def _stream_drained(redis_client, store) -> bool:
    return await redis_client.xlen(store.keys.outbox) == 0


async def test_queue_survives_redis_and_worker_restarts(tmp_path, rules, receiver):
    server = RedisServer(tmp_path)
    server.start()
    client = aioredis.from_url(server.url, decode_responses=True)
    try:
        store = TicketStore(client, rules=rules, clock=lambda: T0)
        await receiver.stop()                                   # the work-order system is down
        ids = await confirmed(store, 3)
        worker = HandoffWorker(client, config(receiver.url), consumer="ctl-1")
        task = asyncio.create_task(worker.run())
        try:
            await until(lambda: _errors(store, ids, "cannot connect"))
            await stop(task)                                    # the controller stops ...
            server.restart()                                    # ... and Redis restarts (AOF reloaded)
            await client.aclose()
            client = aioredis.from_url(server.url, decode_responses=True)
            await until(lambda: _loaded(client))
            store = TicketStore(client, rules=rules, clock=lambda: T0)
            assert set(await statuses(store, ids)) == {"confirmed"}
            task = asyncio.create_task(HandoffWorker(client, config(receiver.url), consumer="ctl-2").run())
            await asyncio.sleep(0.2)
            server.restart()                                    # Redis goes away under a running worker
            await receiver.start()
            await until(lambda: _loaded(client))
            await until(lambda: _handed_off_or_retry(store, ids), timeout=15)
            assert not task.done()                              # it waited Redis out
        finally:
            if not task.done():
                await stop(task)
        assert sorted(receiver.orders) == sorted(ids)
    finally:
        await client.aclose()
        server.stop()


async def _handed_off_or_retry(store, ids) -> bool:
    try:
        return await all_handed_off(store, ids)
    except aioredis.ConnectionError:                            # a pooled connection from before the restart
        return False


async def _loaded(client) -> bool:
    try:
        return bool(await client.ping())
    except Exception:                                           # noqa: BLE001 - loading or reconnecting
        return False
