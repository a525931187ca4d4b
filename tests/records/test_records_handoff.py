"""The hand-off outbox in PostgreSQL: written with the confirmed ticket, then marked handed_off once
the work-order system took it (each order delivered exactly once)."""
from __future__ import annotations

import asyncio
import time
from zoneinfo import ZoneInfo

from records.spool import Spool
from records.writer import RecordWriter
from tests.redis.test_tickets_handoff import CALL, config, receiver  # noqa: F401  (receiver: the fixture)
from tickets.handoff import HandoffWorker
from tickets.store import TicketStore


async def test_outbox_rows_follow_the_delivery(pg_db, redis_client, receiver, tmp_path):  # noqa: F811
    db, _ = pg_db
    writer = RecordWriter(Spool(tmp_path / "spool.sqlite"), db.pool, ZoneInfo("Asia/Shanghai"), idle_s=0.02)
    wtask = asyncio.create_task(writer.run())
    store = TicketStore(redis_client, sink=writer.ticket)
    ids = []
    for i in range(3):
        t = await store.create_draft(f"h-{i}", f"1380000{i:04d}", CALL)
        ids.append((await store.confirm(t.id, "8001", {})).id)
    assert await writer.drain(10)
    async with db.pool.acquire() as conn:
        assert {r["state"] for r in await conn.fetch("SELECT state FROM handoff_outbox")} == {"queued"}
    worker = HandoffWorker(redis_client, config(receiver.url), consumer="ctl-1", on_finished=store.record)
    task = asyncio.create_task(worker.run())
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            await writer.drain(5)
            async with db.pool.acquire() as conn:
                rows = await conn.fetch("SELECT ticket_id, state, attempts, delivered_at FROM handoff_outbox")
            if all(r["state"] == "handed_off" for r in rows):
                break
            await asyncio.sleep(0.1)
    finally:
        task.cancel()
        wtask.cancel()
    assert sorted(r["ticket_id"] for r in rows) == sorted(ids)
    assert all(r["state"] == "handed_off" and r["attempts"] == 1 and r["delivered_at"] for r in rows), rows
    assert sorted(receiver.orders) == sorted(ids) and receiver.duplicates == 0
    async with db.pool.acquire() as conn:
        assert {r["status"] for r in await conn.fetch("SELECT status FROM tickets")} == {"handed_off"}


async def test_the_outbox_row_is_written_in_the_same_transaction_as_the_confirm(pg_db, redis_client, tmp_path):
    """PostgreSQL refusing the outbox row of one confirm refuses its confirmed ticket too: a
    confirmed ticket is never kept without its outbox entry (nor an entry without its ticket)."""
    import asyncpg

    db, admin_dsn = pg_db
    writer = RecordWriter(Spool(tmp_path / "spool.sqlite"), db.pool, ZoneInfo("Asia/Shanghai"), idle_s=0.02)
    wtask = asyncio.create_task(writer.run())
    store = TicketStore(redis_client, sink=writer.ticket)
    try:
        drafts = [await store.create_draft(f"tx-{i}", f"1390000{i:04d}", CALL) for i in range(2)]
        assert await writer.drain(10)
        admin = await asyncpg.connect(admin_dsn)
        try:                     # an outbox row for the first ticket fails (as a full disk or a bug would)
            await admin.execute(f"""
                CREATE FUNCTION refuse_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.ticket_id = '{drafts[0].id}' THEN RAISE EXCEPTION 'outbox refused'; END IF;
                    RETURN NEW;
                END $$;
                CREATE TRIGGER refuse_outbox BEFORE INSERT ON handoff_outbox
                    FOR EACH ROW EXECUTE FUNCTION refuse_outbox();""")
        finally:
            await admin.close()
        for d in drafts:
            await store.confirm(d.id, "8001", {"district": "芦淞区"})
        assert await writer.drain(10)
    finally:
        wtask.cancel()
    async with db.pool.acquire() as conn:
        rows = {r["id"]: r["status"] for r in await conn.fetch("SELECT id, status FROM tickets")}
        box = {r["ticket_id"] for r in await conn.fetch("SELECT ticket_id FROM handoff_outbox")}
        corr = {r["ticket_id"] for r in await conn.fetch("SELECT ticket_id FROM ticket_corrections")}
    assert rows == {drafts[0].id: "draft", drafts[1].id: "confirmed"}   # the refused confirm left nothing
    assert box == {drafts[1].id} and drafts[0].id not in corr
    assert writer.rejected == 1
    rejected = (tmp_path / "rejected.jsonl").read_text().splitlines()
    assert len(rejected) == 1 and drafts[0].id in rejected[0]          # set aside, not lost
