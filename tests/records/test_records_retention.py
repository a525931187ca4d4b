"""The retention job over records made with an old clock: recordings past their time deleted (only
inside the recordings folder), personal data anonymised, recent records untouched, the run audited."""
from __future__ import annotations

import asyncio
import time
from zoneinfo import ZoneInfo

from records.retention import RetentionPolicy, run_retention
from records.spool import Spool
from records.writer import RecordWriter
from tickets.store import TicketStore

DAY = 86400.0


async def test_retention_over_records_made_with_an_old_clock(pg_db, redis_client, tmp_path):
    db, _ = pg_db
    now = time.time()
    rec_dir = tmp_path / "recordings" / "calls"
    rec_dir.mkdir(parents=True)
    outside = tmp_path / "elsewhere.wav"
    outside.write_bytes(b"RIFF")
    writer = RecordWriter(Spool(tmp_path / "spool.sqlite"), db.pool, ZoneInfo("Asia/Shanghai"), idle_s=0.02)
    task = asyncio.create_task(writer.run())
    try:
        clock = {"t": now - 800 * DAY}
        tickets = TicketStore(redis_client, sink=writer.ticket, clock=lambda: clock["t"])
        old = await tickets.create_draft("old", "13800001111", "我叫王小明，芦淞区路灯坏了，回电13900002222。")
        clock["t"] = now - 400 * DAY
        mid = await tickets.create_draft("mid", "13800003333", "荷塘区噪音。")
        clock["t"] = now
        new = await tickets.create_draft("new", "13800004444", "天元区停水。")
        for cid, age, wav in (("old", 800, rec_dir / "old.wav"), ("mid", 400, rec_dir / "mid.wav"),
                              ("new", 1, rec_dir / "new.wav"), ("evil", 800, outside)):
            if wav.parent == rec_dir:
                wav.write_bytes(b"RIFF")
                (rec_dir / f"{wav.stem}-seat.wav").write_bytes(b"RIFF")
            writer.call(cid, {"call_id": cid, "caller": "13800001111", "started": now - age * DAY,
                              "recording": str(wav), "caller_name": "王小明", "status": "ended"})
        assert await writer.drain(10)
        async with db.pool.acquire() as conn:
            await conn.execute("INSERT INTO cdr (calldate, src, clid, uniqueid) VALUES "
                               "(now() - interval '800 days', '13800001111', '\"王\" <13800001111>', 'old'), "
                               "(now(), '13800004444', '', 'new')")
            await conn.execute("INSERT INTO kb_searches (at, day, source, query, hits) VALUES "
                               "(now() - interval '800 days', current_date - 800, 'live', '我叫王小明住在建设路', 0), "
                               "(now(), current_date, 'live', '社保卡', 1)")
            report = await run_retention(conn, RetentionPolicy(recordings_days=365, personal_days=730),
                                         recordings_root=tmp_path / "recordings", now=now)
            again = await run_retention(conn, RetentionPolicy(recordings_days=365, personal_days=730),
                                        recordings_root=tmp_path / "recordings", now=now)
            calls = {r["call_id"]: r for r in await conn.fetch("SELECT * FROM call_records")}
            docs = {r["id"]: r for r in await conn.fetch("SELECT id, caller, doc, anonymised_at FROM tickets")}
            cdr = {r["uniqueid"]: r["src"] for r in await conn.fetch("SELECT uniqueid, src FROM cdr")}
            runs = await conn.fetch("SELECT who, details FROM audit_log WHERE action = 'retention.run' ORDER BY at")
    finally:
        task.cancel()
    assert report["recordings_deleted"] == 2 and report["recordings_refused"] == 1     # old, mid; not "evil"
    assert not (rec_dir / "old.wav").exists() and not (rec_dir / "old-seat.wav").exists()
    assert not (rec_dir / "mid.wav").exists() and (rec_dir / "new.wav").exists() and outside.exists()
    assert calls["old"]["recording"] is None and calls["new"]["recording"] == str(rec_dir / "new.wav")
    assert report["tickets_anonymised"] == 1 and report["calls_anonymised"] == 2     # old and evil (800 days)
    assert docs[old.id]["anonymised_at"] and "13800001111" not in str(docs[old.id]["doc"])
    assert "王小明" not in str(docs[old.id]["doc"]) and docs[old.id]["doc"]["transcript"] is None
    assert docs[mid.id]["doc"]["caller"] == "13800003333" and docs[new.id]["anonymised_at"] is None
    assert calls["old"]["caller"] != "13800001111" and "caller_name" not in calls["old"]["data"]
    assert calls["new"]["caller"] == "13800001111"
    assert cdr == {"old": "", "new": "13800004444"} and report["cdr_anonymised"] == 1
    assert report["kb_searches_deleted"] == 1 and again["kb_searches_deleted"] == 0    # the callers' words go too
    assert again["tickets_anonymised"] == again["recordings_deleted"] == again["calls_anonymised"] == 0
    assert len(runs) == 2 and runs[0]["who"] == "system" and runs[0]["details"]["tickets_anonymised"] == 1


async def test_retention_anonymises_revisits_and_leader_calls_but_keeps_the_do_not_call_list(pg_db, tmp_path):
    db, _ = pg_db
    now = time.time()
    async with db.pool.acquire() as conn:
        await conn.execute("INSERT INTO revisit_tasks (ticket_id, event_id, number, closed_at, state, transcript) VALUES "
                           "('rt-old', 'e-old', '13800005555', now() - interval '800 days', 'done', '太慢了'), "
                           "('rt-new', 'e-new', '13800006666', now(), 'done', '没修好')")
        await conn.execute("INSERT INTO leader_sessions (id, starts_at, ends_at, doc) VALUES "
                           "('ld-old', now() - interval '800 days', now() - interval '800 days', '{}')")
        await conn.execute("INSERT INTO leader_calls (call_id, session_id, seat, caller, answered_at, follow_up_by) "
                           "VALUES ('lc-old', 'ld-old', '1010', '13800007777', now() - interval '800 days', '2024-01-01')")
        await conn.execute("INSERT INTO do_not_call (number, reason, added_at) VALUES "
                           "('13800008888', 'admin', now() - interval '800 days')")
        policy = RetentionPolicy(recordings_days=365, personal_days=730)
        report = await run_retention(conn, policy, recordings_root=tmp_path, now=now)
        again = await run_retention(conn, policy, recordings_root=tmp_path, now=now)
        tasks = {r["ticket_id"]: r for r in await conn.fetch("SELECT * FROM revisit_tasks")}
        leader = await conn.fetchval("SELECT caller FROM leader_calls WHERE call_id = 'lc-old'")
        dnc = await conn.fetchval("SELECT number FROM do_not_call")
    assert report["revisits_anonymised"] == 1 and report["leader_calls_anonymised"] == 1
    assert again["revisits_anonymised"] == again["leader_calls_anonymised"] == 0
    assert tasks["rt-old"]["number"] == "138****5555" and tasks["rt-old"]["transcript"] is None
    assert tasks["rt-new"]["number"] == "13800006666" and tasks["rt-new"]["transcript"] == "没修好"
    assert leader == "138****7777" and dnc == "13800008888"
