"""Routing across a Redis failover: the real RoutingStore and Router (agents/) on the Sentinel
client, calls arriving and seats answering while the master is SIGKILLed.

A controller here does what agents/delivery.py does with an assignment (answered, then ended)
and retries a command that failed while Redis was away, as the product's loops do. Judged
afterwards:
- routing resumes: the first assignment decided on the new master comes within 5 s of the
  promotion;
- no call lost: every call was offered and answered, exactly once;
- no double assignment: no seat was offered a call while it held another, neither in what the
  controller received nor in the event ledger the Lua scripts wrote on the new master.

What this relies on: the replica had every write the controller saw acknowledged. Replication
is asynchronous; on loopback the master sends each write to its replica in the same event-loop
pass as the reply to the client, so a SIGKILL leaves nothing acknowledged behind. Across a
network the window is the replication lag (normally below a millisecond, more under a
partition): a routing write lost there is what the product's resync with Asterisk repairs
(agents/resync.py: the calls and seats Asterisk really has), and the records of tickets and
calls went to PostgreSQL before Redis (records/). docs/deploy.md, "Redis Sentinel", says more.
"""
from __future__ import annotations

import asyncio
import time
from collections import Counter
from types import MappingProxyType

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

PREFIX = "sent"
SEATS = [str(2001 + i) for i in range(4)]
CALLS = 40
NODE = "node-a"
RESUME_S = 5.0
AWAY = (RedisConnectionError, RedisTimeoutError)


def build(redis):
    from agents.config import SeatsConfig
    from agents.model import Operator, Seat
    from agents.service import Router, SeatService
    from agents.store import RoutingStore
    from ivr.model import Lane

    cfg = SeatsConfig(
        seats=MappingProxyType({s: Seat(s, s, s) for s in SEATS}),
        operators=MappingProxyType({f"op{s}": Operator(f"op{s}", s, MappingProxyType({"general": 5}))
                                    for s in SEATS}),
        repeat_caller=None)
    store = RoutingStore(redis, cfg, prefix=PREFIX)
    router = Router(store, [Lane("general", "综合受理", 1)], batch=4)
    return store, router, SeatService(store, notify=router.poke)


async def retried(op, timeout: float = 30.0):
    """`op()` again until Redis answers (the product's loops do the same). A domain error after a
    lost reply means the first attempt went through (its effect reached the replica): done."""
    from kernel.errors import DomainError

    deadline = time.monotonic() + timeout
    lost_reply = False
    while True:
        try:
            return await op()
        except AWAY:
            lost_reply = True
            assert time.monotonic() < deadline, "Redis did not come back"
            await asyncio.sleep(0.05)
        except DomainError:
            if not lost_reply:
                raise
            return None


async def test_routing_resumes_after_the_master_is_killed(sentinel_group, sentinel_redis):
    from agents.events import all_events
    from agents.model import WaitingCall

    r = sentinel_redis
    store, router, seats = build(r)
    await store.load_scripts()
    for s in SEATS:
        await seats.login(s, f"op{s}")
    calls = [f"c{i:03d}" for i in range(CALLS)]
    received: list[tuple[float, str, str, float]] = []        # (when, call, seat, decided_at)
    holding: dict[str, str | None] = dict.fromkeys(SEATS)      # the controller's own view
    overlaps: list[str] = []
    answered: Counter[str] = Counter()
    serving: set[asyncio.Task] = set()

    async def serve(call_id: str, seat_id: str) -> None:
        await retried(lambda: router.answered(call_id, seat_id))
        await asyncio.sleep(0.05)
        holding[seat_id] = None                               # before ended: the seat may be offered again then
        await retried(lambda: router.ended(call_id, wrap_up_s=0))
        answered[call_id] += 1

    async def deliver() -> None:
        while True:
            try:
                a = await router.next_assignment(NODE, timeout=0.2)
            except AWAY:
                await asyncio.sleep(0.05)
                continue
            if a is None:
                continue
            received.append((time.time(), a.call_id, a.seat_id, a.decided_at))
            if holding[a.seat_id] is not None:
                overlaps.append(f"seat {a.seat_id} offered {a.call_id} while holding {holding[a.seat_id]}")
            holding[a.seat_id] = a.call_id
            t = asyncio.create_task(serve(a.call_id, a.seat_id))
            serving.add(t)
            t.add_done_callback(serving.discard)

    matcher = asyncio.create_task(router.run(interval_s=0.2))
    delivery = asyncio.create_task(deliver())
    first = sentinel_group.master_address()
    killed_at = promoted_at = 0.0
    try:
        for i, cid in enumerate(calls):
            if i == CALLS // 3:
                killed_at = time.time()
                await asyncio.to_thread(sentinel_group.kill_master)
            if i == CALLS // 3 + 3:      # calls kept arriving (each enqueue retried) while the sentinels decided
                await asyncio.to_thread(sentinel_group.wait_failover, first, 20.0)
                promoted_at = time.time()
            await retried(lambda cid=cid: router.enqueue(WaitingCall(cid, "general", "13800001234", node=NODE)))
            await asyncio.sleep(0.05)
        deadline = time.monotonic() + 60
        while sum(answered.values()) < CALLS or serving:
            assert time.monotonic() < deadline, f"{sum(answered.values())}/{CALLS} answered"
            await asyncio.sleep(0.05)
    finally:
        matcher.cancel()
        delivery.cancel()
        await asyncio.gather(matcher, delivery, *serving, return_exceptions=True)

    # routing resumed on the new master within 5 s of the promotion
    after = sorted(when for when, _c, _s, decided in received if decided >= promoted_at)
    assert after, "nothing was routed after the promotion"
    print(f"failover: promoted {promoted_at - killed_at:.2f} s after the kill; first assignment decided "
          f"on the new master {after[0] - promoted_at:.2f} s after the promotion; "
          f"{len(received)} assignments, {sum(1 for *_x, d in received if killed_at <= d < promoted_at)} "
          f"decided between the kill order and the test seeing the promotion")
    assert after[0] - promoted_at < RESUME_S
    # no call lost, none offered twice, no seat offered two calls
    assert not overlaps, overlaps
    assert Counter(c for _w, c, _s, _d in received) == Counter(dict.fromkeys(calls, 1))
    assert answered == Counter(dict.fromkeys(calls, 1))
    holder: dict[str, str | None] = dict.fromkeys(SEATS)
    for _, e in await all_events(r, PREFIX):                 # the ledger, as the new master has it
        t, cid, sid = e["type"], e.get("call_id"), e.get("seat_id")
        if t == "call_assigned":
            assert holder[sid] is None, f"seat {sid} offered {cid} while holding {holder[sid]}"
            holder[sid] = cid
        elif t in ("call_ended", "call_requeued"):
            assert holder[sid] == cid
            holder[sid] = None
    assert all(v is None for v in holder.values())
    assert {st.state.value for st in await seats.seats()} <= {"ready", "wrap_up"}
