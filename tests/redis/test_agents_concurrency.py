"""Several controller processes on one Redis: a seat never holds two calls, a call never two seats.

Each worker is a separate OS process (this file run as a script) with its own
event loop, Redis connection, store and router. They enqueue their share of
200 calls and hammer match(), ready() and requeue_front() at once; each
handles the assignments of its own calls (its inbox): answer then hang up,
or (sometimes) ring-no-answer. Afterwards the event stream, which the Lua
scripts write in the same atomic step as each change, is replayed as a
ledger, and the workers' own logs are checked against it.
"""
from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from types import MappingProxyType

PREFIX = "conc"
SEATS = [str(1001 + i) for i in range(10)]
CALLS = 200
WORKERS = 3


def build(redis):
    from agents.config import SeatsConfig
    from agents.model import Operator, Seat
    from agents.service import Router, SeatService
    from agents.store import RoutingStore
    from ivr.model import Lane, Overflow

    skills = {s: ({"general": 5, "enterprise": 6} if int(s) % 3 == 0 else {"general": 5 + int(s) % 4})
              for s in SEATS}
    cfg = SeatsConfig(
        seats=MappingProxyType({s: Seat(s, s, s) for s in SEATS}),
        operators=MappingProxyType({f"op{s}": Operator(f"op{s}", s, MappingProxyType(k)) for s, k in skills.items()}),
        repeat_caller=None)
    store = RoutingStore(redis, cfg, prefix=PREFIX)
    lanes = [Lane("enterprise", "政企通专席", 5, Overflow(0.05, "general")), Lane("general", "综合受理", 1)]
    router = Router(store, lanes, batch=4)
    return store, router, SeatService(store, notify=router.poke)


# ---------------------------------------------------------------- the worker process


async def worker(url: str, wid: int, log_path: str) -> None:
    import redis.asyncio as aioredis

    from agents.errors import SeatBusy
    from agents.model import WaitingCall

    rng = random.Random(wid)
    redis = aioredis.from_url(url, decode_responses=True)
    store, router, seats = build(redis)
    await store.load_scripts()
    mine = [f"w{wid}-c{i:03d}" for i in range(wid, CALLS, WORKERS)]
    pending = list(mine)
    answered: set[str] = set()
    received: list[dict] = []
    node = f"node{wid}"
    tasks: set[asyncio.Task] = set()

    async def serve(a) -> None:
        await asyncio.sleep(rng.uniform(0, 0.01))
        if rng.random() < 0.1:
            await router.requeue_front(a.call_id)          # ring, no answer: seat paused 未接
            await asyncio.sleep(rng.uniform(0, 0.01))
            try:
                await seats.ready(a.seat_id)
            except SeatBusy:
                pass  # never expected right after: the seat is paused, not ringing
            return
        await router.answered(a.call_id, a.seat_id)
        await asyncio.sleep(rng.uniform(0, 0.01))
        await router.ended(a.call_id, wrap_up_s=rng.choice([0, 0, 0.02]))
        answered.add(a.call_id)

    deadline = time.monotonic() + 90
    while len(answered) < len(mine):
        assert time.monotonic() < deadline, f"worker {wid}: {len(answered)}/{len(mine)} answered"
        for _ in range(rng.randint(0, 3)):
            if pending:
                cid = pending.pop(0)
                await router.enqueue(WaitingCall(cid, rng.choice(["general", "general", "enterprise"]),
                                                 "13800001234", node=node))
        await router.match()
        if rng.random() < 0.3:  # an operator clicks "ready" at a random moment
            try:
                await seats.ready(rng.choice(SEATS))
            except SeatBusy:
                pass
        while (a := await router.next_assignment(node)) is not None:
            assert a.node == node and a.call_id in mine
            received.append(a.to_dict())
            t = asyncio.create_task(serve(a))
            tasks.add(t)
            t.add_done_callback(tasks.discard)
        for t in [t for t in tasks if t.done()]:
            t.result()
        await asyncio.sleep(0.002)
    await asyncio.gather(*tasks)
    Path(log_path).write_text(json.dumps({"received": received, "answered": sorted(answered)}))
    await redis.aclose()


# ---------------------------------------------------------------- the test


async def test_two_or_more_controllers_never_double_assign(redis_server, redis_client, tmp_path):
    from agents.events import all_events

    store, router, seats = build(redis_client)
    for s in SEATS:
        await seats.login(s, f"op{s}")
    logs = [tmp_path / f"worker{w}.json" for w in range(WORKERS)]
    procs = [subprocess.Popen([sys.executable, __file__, redis_server.url, str(w), str(logs[w])],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for w in range(WORKERS)]
    outs = [p.communicate(timeout=120)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0] * WORKERS, "\n".join(outs)

    # replay the event stream as a ledger
    holding: dict[str, str | None] = {s: None for s in SEATS}   # seat -> call it rings for / talks to
    seat_of: dict[str, str | None] = {}                          # call -> seat
    assigned, answered, ended = Counter(), Counter(), Counter()
    for _, e in await all_events(redis_client, PREFIX):
        t, cid, sid = e["type"], e.get("call_id"), e.get("seat_id")
        if t == "call_assigned":
            assert holding[sid] is None, f"seat {sid} offered {cid} while holding {holding[sid]}"
            assert seat_of.get(cid) is None, f"call {cid} offered to {sid} while at {seat_of.get(cid)}"
            holding[sid], seat_of[cid] = cid, sid
            assigned[cid] += 1
        elif t == "call_answered":
            assert holding[sid] == cid and seat_of[cid] == sid
            answered[cid] += 1
        elif t in ("call_ended", "call_requeued"):
            assert holding[sid] == cid and seat_of[cid] == sid
            holding[sid], seat_of[cid] = None, None
            ended[cid] += t == "call_ended"
        elif t == "seat_state" and e["to"] == "ringing":
            assert e["from"] == "ready"
    calls = {f"w{w}-c{i:03d}" for w in range(WORKERS) for i in range(w, CALLS, WORKERS)}
    assert set(answered) == calls and set(answered.values()) == {1} and set(ended.values()) == {1}
    assert all(v is None for v in holding.values())
    requeued = sum(assigned.values()) - len(calls)

    # the workers' own logs agree with the ledger
    got = [json.loads(p.read_text()) for p in logs]
    received = Counter(a["call_id"] for g in got for a in g["received"])
    assert received == assigned
    assert sorted(c for g in got for c in g["answered"]) == sorted(calls)
    assert len({(a["call_id"], a["decided_at"]) for g in got for a in g["received"]}) == sum(assigned.values())
    print(f"{len(calls)} calls, {sum(assigned.values())} assignments ({requeued} after no answer)")


if __name__ == "__main__":
    asyncio.run(worker(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
