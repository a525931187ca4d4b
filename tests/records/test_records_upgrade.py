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
        await calls.update(f"old-{i}", status="answered", seat="1002", lane="general", path=["start", "general_q"])
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
            assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'ticket.read'") == 4
            assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'user.create'") == 1
    finally:
        task.cancel()
