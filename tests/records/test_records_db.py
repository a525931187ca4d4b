"""The records database against a real PostgreSQL (the session's private cluster):
migrations, the append-only audit trail, the writer from the spool, tickets, CDR/CEL roles."""
from __future__ import annotations

import asyncio
import io
import json
import time
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from records import store as sql
from records.schema import SchemaTooNew, known_version, migrate
from records.spool import Spool
from records.writer import RecordWriter
from tickets.store import TicketStore

TZ = ZoneInfo("Asia/Shanghai")


async def test_migrations_are_applied_once_with_their_versions(pg_db):
    db, admin = pg_db
    async with db.pool.acquire() as conn:
        rows = await conn.fetch("SELECT version, name FROM schema_version ORDER BY version")
    assert [r["version"] for r in rows] == list(range(1, known_version() + 1))
    conn = await asyncpg.connect(admin)
    try:
        assert await migrate(conn) == []                 # a second start applies nothing
    finally:
        await conn.close()


async def test_a_newer_schema_than_the_code_knows_is_refused(pg_db):
    db, admin = pg_db
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute("INSERT INTO schema_version (version, name) VALUES ($1, 'from_the_future')",
                           known_version() + 1)
        with pytest.raises(SchemaTooNew) as err:
            await migrate(conn)
        assert err.value.details == {"found": known_version() + 1, "known": known_version()}
        assert "newer than this code knows" in str(err.value)
    finally:
        await conn.close()


async def test_the_audit_trail_is_append_only(pg_db):
    db, admin = pg_db
    async with db.pool.acquire() as conn:             # the application's role
        await conn.execute("INSERT INTO audit_log (id, at, who, role, action, target, ip) "
                           "VALUES ('a1', now(), 'wang', 'operator', 'ticket.read', 't:1', '127.0.0.1')")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("UPDATE audit_log SET who = 'nobody'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM audit_log")
    owner = await asyncpg.connect(admin)              # not even the owner: the trigger refuses
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await owner.execute("UPDATE audit_log SET who = 'nobody'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await owner.execute("TRUNCATE audit_log")
        assert await owner.fetchval("SELECT who FROM audit_log WHERE id = 'a1'") == "wang"
    finally:
        await owner.close()


async def test_asterisks_role_may_only_add_cdr_and_cel(pg_server, pg_db):
    db, admin = pg_db
    name = admin.split("@/", 1)[1].split("?")[0]
    conn = await asyncpg.connect(host="127.0.0.1", port=pg_server.port, user="hotline_cdr",
                                 password=pg_server.password("hotline_cdr"), database=name)
    try:
        await conn.execute("INSERT INTO cdr (uniqueid, linkedid, disposition) VALUES ('1.1', '1.1', 'ANSWERED')")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("SELECT * FROM tickets")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM cdr")
    finally:
        await conn.close()
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(host="127.0.0.1", port=pg_server.port, user="hotline_cdr", password="wrong",
                              database=name)


async def _writer(db, tmp_path, **kw) -> tuple[RecordWriter, asyncio.Task]:
    w = RecordWriter(Spool(tmp_path / "spool.sqlite"), db.pool, TZ, idle_s=0.02, retry_s=0.1, **kw)
    return w, asyncio.create_task(w.run())


async def test_confirmed_ticket_lands_with_its_corrections_and_outbox_entry(pg_db, redis_client, tmp_path):
    db, _ = pg_db
    writer, task = await _writer(db, tmp_path)
    try:
        tickets = TicketStore(redis_client, sink=writer.ticket)
        t = await tickets.create_draft("1700000000.1", "13800001234",
                                       "我是荷塘区的，小区门口的路灯坏了一个星期了，晚上很黑。")
        await tickets.confirm(t.id, "8003", {"district": "芦淞区"})
        assert await writer.drain(10)
        async with db.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT status, district, confirmed_by, doc FROM tickets WHERE id = $1", t.id)
            corr = await conn.fetch("SELECT field, draft_value, confirmed_value FROM ticket_corrections "
                                    "WHERE ticket_id = $1", t.id)
            outbox = await conn.fetchrow("SELECT state, work_order FROM handoff_outbox WHERE ticket_id = $1", t.id)
        assert row["status"] == "confirmed" and row["district"] == "芦淞区" and row["confirmed_by"] == "8003"
        assert row["doc"]["id"] == t.id and row["doc"]["confirmed"]["district"] == "芦淞区"
        assert {c["field"]: c["confirmed_value"] for c in corr}["district"] == "芦淞区"
        assert outbox["state"] == "queued" and outbox["work_order"]["ticket_id"] == t.id
        # an older snapshot written late never overwrites the newer one
        writer.put("ticket", t.id, {**json.loads(json.dumps(_older(row["doc"])))})
        assert await writer.drain(10)
        async with db.pool.acquire() as conn:
            assert await conn.fetchval("SELECT status FROM tickets WHERE id = $1", t.id) == "confirmed"
    finally:
        task.cancel()


def _older(doc):
    d = dict(doc, status="draft", confirmed=None)
    return {"event": "draft", "doc": d, "received_at": time.time() - 10, "confirmed_at": None,
            "version": 1.0, "day": "2026-01-01"}


async def test_export_from_postgresql_matches_the_redis_export(pg_db, redis_client, tmp_path):
    db, _ = pg_db
    writer, task = await _writer(db, tmp_path)
    try:
        tickets = TicketStore(redis_client, sink=writer.ticket)
        now = time.time()
        for i in range(3):
            await tickets.create_draft(f"c-{i}", f"1380000{i:04d}", "石峰区有人夜里施工噪音扰民。", received_at=now + i)
        assert await writer.drain(10)
        day = time.strftime("%Y-%m-%d", time.localtime(now))
        from datetime import datetime
        d = datetime.fromtimestamp(now, TZ).date()
        from_redis, from_pg = io.StringIO(), io.StringIO()
        n_redis = await tickets.export_jsonl(from_redis, d, d)
        async with db.pool.acquire() as conn:
            n_pg = await sql.export_tickets(conn, from_pg, d, d)
        assert n_redis == n_pg == 3, day
        assert [json.loads(x) for x in from_pg.getvalue().splitlines()] == \
               [json.loads(x) for x in from_redis.getvalue().splitlines()]
    finally:
        task.cancel()


async def test_a_record_postgresql_refuses_is_set_aside_and_the_rest_written(pg_db, tmp_path, caplog):
    db, _ = pg_db
    writer, task = await _writer(db, tmp_path)
    try:
        writer.seat("1001", "login", operator="8003", state="ready")
        writer.put("audit", "bad", {"id": "bad", "ts": "1.0", "who": "x\x00y", "role": "", "action": "a",
                                    "target": "", "ip": "", "details": {}})       # NUL: refused by PostgreSQL
        writer.audit("web:audit:1-0", {"who": "wang", "role": "operator", "action": "ticket.read",
                                       "target": "t:1", "ip": "127.0.0.1", "ts": repr(time.time()),
                                       "details": "{}"})
        assert await writer.drain(10)
        async with db.pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM seat_history WHERE seat = '1001'") == 1
            assert await conn.fetchval("SELECT count(*) FROM audit_log") == 1
        assert writer.rejected == 1
        rejected = (tmp_path / "rejected.jsonl").read_text().splitlines()
        assert len(rejected) == 1 and json.loads(rejected[0])["key"] == "bad"
    finally:
        task.cancel()


async def test_a_draft_lost_with_redis_is_written_back_from_the_records_and_confirmed(pg_db, redis_client, tmp_path):
    """Redis lost its data (flushed) while a call's draft waited for the operator: the store reads the
    records' copy, writes it back with its indexes, and the operator confirms it as if nothing happened."""
    db, _ = pg_db
    writer, task = await _writer(db, tmp_path)

    async def recall(ticket_id=None, *, call_id=None):
        assert await writer.drain(5)
        async with db.pool.acquire() as conn:
            return await sql.ticket_record(conn, ticket_id, call_id=call_id)

    try:
        tickets = TicketStore(redis_client, sink=writer.ticket, recall=recall)
        t = await tickets.create_draft("1700000300.7", "13800005678",
                                       "我是天元区的，小区里的垃圾三天没人收了，味道很大。")
        t = await tickets.update_transcript(t.id, "麻烦尽快处理", turn={"speaker": "caller", "text": "麻烦尽快处理",
                                                                       "start": 1.0, "end": 2.0})
        assert await writer.drain(10)
        await redis_client.flushdb()
        assert await tickets.get_by_call("1700000300.7") is not None          # by call: the index is back too
        back = await tickets.get(t.id)
        assert (back.status, back.caller, back.transcript, back.turns) == ("draft", t.caller, t.transcript, t.turns)
        assert abs(back.received_at - t.received_at) < 1e-5                    # timestamptz: microseconds
        assert back.draft == t.draft and back.repeat == t.repeat
        assert [x.id for x in await tickets.list_by_caller("13800005678", now=t.received_at + 1)] == [t.id]

        await redis_client.flushdb()                                             # lost again: confirm finds it
        done = await tickets.confirm(t.id, "8003", {"district": "天元区"})
        assert done.status == "confirmed" and done.confirmed["district"] == "天元区"
        assert await writer.drain(10)
        async with db.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT status, confirmed_by FROM tickets WHERE id = $1", t.id)
        assert (row["status"], row["confirmed_by"]) == ("confirmed", "8003")
        with pytest.raises(Exception, match="no ticket"):
            await tickets.get("ZZ12345-20260101-999999")                        # neither has it: still not found
    finally:
        task.cancel()


async def test_a_day_counter_that_lags_the_records_never_gives_a_number_twice(pg_db, redis_client, tmp_path):
    """After a failover the day's counter may be behind numbers already given (asynchronous
    replication lost the last INCRs; the tickets went to PostgreSQL through the spool). The first
    draft of a day, and the first after the watch reports another server, is numbered above the
    records' highest; the counter is only ever raised."""
    db, _ = pg_db
    writer, task = await _writer(db, tmp_path)

    async def floor(day):
        assert await writer.drain(5)
        async with db.pool.acquire() as conn:
            return await conn.fetchval("SELECT coalesce(max(split_part(id, '-', 3)::bigint), 0) FROM tickets "
                                       "WHERE day = to_date($1, 'YYYYMMDD')", day) or 0

    try:
        tickets = TicketStore(redis_client, sink=writer.ticket, seq_floor=floor)
        made = [await tickets.create_draft(f"1700000400.{i}", None, "路灯坏了") for i in range(3)]
        numbers = [int(t.id.rsplit("-", 1)[1]) for t in made]
        assert numbers == sorted(set(numbers)) and len(numbers) == 3
        day = made[0].id.split("-")[1]
        assert await writer.drain(10)
        await redis_client.set(tickets.keys.seq(day), numbers[0])         # the new master lags by two
        await tickets.counters_suspect()                                  # the watch saw another server
        t4 = await tickets.create_draft("1700000400.9", None, "路灯坏了")
        assert int(t4.id.rsplit("-", 1)[1]) == numbers[-1] + 1
        await redis_client.set(tickets.keys.seq(day), 10**6)              # ahead of the records: kept
        await tickets.counters_suspect()
        t5 = await tickets.create_draft("1700000401.0", None, "路灯坏了")
        assert int(t5.id.rsplit("-", 1)[1]) == 10**6 + 1
    finally:
        task.cancel()
