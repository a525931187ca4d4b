"""The upgrade path: Redis records of an earlier version (no records database then) moved into
PostgreSQL once, idempotently."""
from __future__ import annotations

import asyncio
import time
from zoneinfo import ZoneInfo

from ivr.calls import CallRecords
from records.spool import Spool
from records.upgrade import import_from_redis
from records.writer import RecordWriter
from tickets.store import TicketStore
from web.audit import Actor, AuditLog


async def test_redis_records_are_moved_once(pg_db, redis_client, tmp_path):
    db, _ = pg_db
    tickets, calls = TicketStore(redis_client), CallRecords(redis_client)      # the old version: no sinks
    audit = AuditLog(redis_client, time.time)
    made = []
    for i in range(4):
        t = await tickets.create_draft(f"old-{i}", f"1360000{i:04d}", "渌口区自来水停水三天了。")
        made.append(t.id)
        await calls.started(f"old-{i}", caller=f"1360000{i:04d}", caller_name="", did="12345", version=1,
                            channel="PJSIP/carrier-1")
        await calls.queued(f"old-{i}", "general")
        await calls.offered(f"old-{i}", "1002")
        await calls.answered(f"old-{i}", "1002")
        await calls.menu_done(f"old-{i}", {"kind": "queue"}, ["start", "general_q"])
        if i == 0:                              # the transcript and transfer records are moved with the call
            await calls.transcripts.account(f"old-{i}", "渌口区自来水停水三天了。", [], {})
            await redis_client.hset(calls.transfers_key(f"old-{i}"), "transfers", '[{"id": "1", "state": "done"}]')
        await audit.record(Actor("admin", "admin"), "ticket.read", f"ticket:{t.id}")
    await tickets.confirm(made[0], "8002", {"district": "渌口区"})

    writer = RecordWriter(Spool(tmp_path / "spool.sqlite"), db.pool, ZoneInfo("Asia/Shanghai"), idle_s=0.02)
    task = asyncio.create_task(writer.run())
    try:
        counts = await import_from_redis(redis_client, writer, db.pool)
        assert counts == {"tickets": 4, "calls": 4, "audit": 4}
        await audit.record(Actor("cli", "system"), "user.create", "user:u9")          # e.g. hotline users create
        assert await import_from_redis(redis_client, writer, db.pool) is None        # tickets and calls once
        assert await writer.drain(10)
        async with db.pool.acquire() as conn:
            assert sorted(r["id"] for r in await conn.fetch("SELECT id FROM tickets")) == sorted(made)
            assert await conn.fetchval("SELECT status FROM tickets WHERE id = $1", made[0]) == "confirmed"
            assert await conn.fetchval("SELECT count(*) FROM handoff_outbox") == 1
            rows = await conn.fetch("SELECT call_id, seat, path FROM call_records ORDER BY call_id")
            assert [(r["call_id"], r["seat"], r["path"]) for r in rows] == \
                   [(f"old-{i}", "1002", ["start", "general_q"]) for i in range(4)]
            assert await conn.fetchval("SELECT data->>'transcript' FROM call_records WHERE call_id = 'old-0'") == \
                   "渌口区自来水停水三天了。"
            assert await conn.fetchval("SELECT transfers FROM call_records WHERE call_id = 'old-0'") == \
                   [{"id": "1", "state": "done"}]
            assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'ticket.read'") == 4
            assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'user.create'") == 1
    finally:
        task.cancel()


async def test_the_routing_counters_of_earlier_days_are_moved_once(pg_db, redis_client):
    from datetime import date, datetime

    from records.upgrade import import_route_counters

    db, _ = pg_db
    tz = ZoneInfo("Asia/Shanghai")
    now = datetime(2026, 12, 3, 9, tzinfo=tz).timestamp()
    for day, scope, fields in (("20261201", "all", {"offered": 7, "answered": 5, "offered@09": 7}),
                               ("20261201", "lane:general", {"offered": 7}),
                               ("20261202", "seat:1001", {"answered": 3, "talk_ms": 90000}),
                               ("20261203", "all", {"offered": 2})):        # today: from the events instead
        await redis_client.hset(f"hotline:stats:{day}:{scope}", mapping=fields)
    assert await import_route_counters(redis_client, db.pool, prefix="hotline", tz=tz, now=now) == \
        {"days": 2, "counters": 5}
    await redis_client.hset("hotline:stats:20261201:all", "offered", 100)
    assert await import_route_counters(redis_client, db.pool, prefix="hotline", tz=tz, now=now) is None
    async with db.pool.acquire() as conn:
        rows = {(r["day"], r["scope"], r["counter"]): r["n"] for r in await conn.fetch("SELECT * FROM route_counts")}
    assert rows == {(date(2026, 12, 1), "all", "offered"): 7, (date(2026, 12, 1), "all", "answered"): 5,
                    (date(2026, 12, 1), "lane:general", "offered"): 7, (date(2026, 12, 2), "seat:1001", "answered"): 3,
                    (date(2026, 12, 2), "seat:1001", "talk_ms"): 90000}
