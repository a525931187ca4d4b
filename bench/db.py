"""`hotline bench db`: the records path vs a plain INSERT, on a private PostgreSQL of its own.

- baseline: one plain INSERT of a ticket-sized jsonb row per transaction, one after another
  (what writing each record straight from the call path would cost);
- confirm_ticket: confirmed-ticket snapshots (ticket row + correction + hand-off outbox row) put
  on the spool as the ticket store does, written by the writer in batches;
- call_record: five patches per call (start, queued, ringing, answered, ended) likewise.
Latency of a record = its commit in PostgreSQL (written_at) - its put on the spool; `put_us` is
what the call path itself waits (the local spool append).
"""
from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from devstack.pg_server import APP_ROLE, CDR_ROLE, PostgresServer

TZ = ZoneInfo("Asia/Shanghai")


def _pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def _doc(i: int, now: float) -> dict:
    confirmed = {"appeal_type": "投诉", "category": ["城市管理", "噪音扰民"], "district": "芦淞区",
                 "address": "建设路 12 号", "caller_name": "王", "callback_number": "13800001234", "urgency": "一般",
                 "emergency": None, "title": "夜间施工噪音", "summary": "来电人反映建设路夜间施工噪音扰民。" * 3}
    return {"id": f"ZZ12345-20261203-{i:06d}", "call_id": f"bench-{i}", "caller": "13800001234", "channel": "phone",
            "received_at": "2026-12-03T10:00:00+08:00", "seat": "1001", "recording": f"/rec/bench-{i}.wav",
            "status": "confirmed", "confidential": False, "draft": {**confirmed, "district": "荷塘区"},
            "transcript": "我要投诉建设路夜里施工，吵得睡不着。" * 10, "turns": [], "linked": [], "repeat": {},
            "confirmed": confirmed, "corrections": {"district": {"extracted": "荷塘区", "confirmed": "芦淞区"}},
            "confirmed_by": "8001", "confirmed_at": "2026-12-03T10:05:00+08:00",
            "handoff": {"attempts": 0}, "updated_at": None}


def _stats(lat_s: list[float], n: int, elapsed: float, put_us: list[float] | None = None) -> dict:
    out = {"records": n, "per_s": round(n / elapsed, 1) if elapsed else None,
           "p50_ms": round(_pct(lat_s, 50) * 1000, 2), "p99_ms": round(_pct(lat_s, 99) * 1000, 2)}
    if put_us is not None:
        out["put_p50_us"] = round(_pct(put_us, 50), 1)
        out["put_p99_us"] = round(_pct(put_us, 99), 1)
    return out


async def _plain_count(conn, first, last) -> float:
    t = time.perf_counter()
    await conn.fetchval("SELECT count(*) FROM call_records WHERE day BETWEEN $1 AND $2", first, last)
    return time.perf_counter() - t


def _timing(lat: list[float], base: list[float]) -> dict:
    p99, b99 = _pct(lat, 99), _pct(base, 99)
    return {"p50_ms": round(_pct(lat, 50) * 1000, 1), "p99_ms": round(p99 * 1000, 1),
            "ratio_p99_vs_count": round(p99 / b99, 2) if b99 else None}


async def _report(server, db, calls: int, repeat: int = 20) -> dict:
    """The quarter call figures (records/reports.py) over `calls` generated call records spread over a
    year: from the per-day rollup call_days (call_figures) and, as before it, counted over every call
    record (call_figures_scan); each against a plain count of the same quarter's rows, taken in turn
    in the same run."""
    from datetime import date

    import asyncpg

    from records.reports import call_figures, call_figures_scan

    admin = await asyncpg.connect(server.admin_dsn)
    try:
        t = time.perf_counter()
        await admin.execute("""
            INSERT INTO call_records (call_id, started_at, day, lane, seat, answered_at, status, data)
            SELECT 'g' || i, ts, (ts AT TIME ZONE 'Asia/Shanghai')::date, (ARRAY['general','enterprise','deputy'])[1 + i % 3],
                   '1' || lpad((i % 50)::text, 3, '0'), CASE WHEN i % 10 <> 0 THEN ts + interval '20 seconds' END,
                   'ended', '{}'::jsonb
            FROM generate_series(1, $1::int) AS i,
                 LATERAL (SELECT timestamptz '2026-01-01 00:00+08' + (i::double precision / $1) * interval '365 days'
                          AS ts) AS t""", calls)
        # the rollup the records writer keeps with each call record (records/store.py), for the rows made here
        await admin.execute("""
            INSERT INTO call_days (day, lane, seat, offered, answered)
            SELECT day, lane, coalesce(seat, ''), count(*), count(answered_at) FROM call_records
            WHERE call_id LIKE 'g%' GROUP BY 1, 2, 3
            ON CONFLICT (day, lane, seat) DO UPDATE SET offered = call_days.offered + EXCLUDED.offered,
                                                       answered = call_days.answered + EXCLUDED.answered""")
        await admin.execute("ANALYZE call_records; ANALYZE call_days")
        generated_s = time.perf_counter() - t
    finally:
        await admin.close()
    first, last = date(2026, 10, 1), date(2026, 12, 31)
    lat, scan, base = [], [], []
    async with db.pool.acquire() as conn:
        for _ in range(repeat):
            t = time.perf_counter()
            rows = await call_figures(conn, first, last, "quarter")
            lat.append(time.perf_counter() - t)
            base.append(await _plain_count(conn, first, last))
            t = time.perf_counter()
            scanned = await call_figures_scan(conn, first, last, "quarter")
            scan.append(time.perf_counter() - t)
            base.append(await _plain_count(conn, first, last))
    total = next(r["offered"] for r in rows if r["kind"] == "all")
    return {"calls_generated": calls, "generate_s": round(generated_s, 1), "quarter_calls": total,
            "report_rows": len(rows), "same_figures_as_scan": rows == scanned, **_timing(lat, base),
            "baseline_count_p99_ms": round(_pct(base, 99) * 1000, 1),
            "scan_before": _timing(scan, base)}


async def _reports_page(server, db, calls: int, repeat: int = 20) -> dict:
    """The /reports quarter figures as the page and API read them with the records on
    (records.reports.SqlReportFigures, then web.reports' figures) over the generated calls of
    `_report`, each with a ticket. Now: route_counts summed per period in SQL (period_counters)
    and tickets per category from the rollup ticket_days. Before: every day's counters read and
    summed in Python (counters) and the tickets of the days not yet settled (the last 3) counted
    over every ticket (categories_scan; the settled days came from a cache, not counted here).
    Against the plain count of `_report`, in turn, in the same run."""
    from datetime import date, timedelta

    import asyncpg

    from records.reports import SqlReportFigures
    from web import reports as R

    admin = await asyncpg.connect(server.admin_dsn)
    try:
        t = time.perf_counter()
        await admin.execute("""
            INSERT INTO route_counts (day, scope, counter, n)
            SELECT day, scope, counter, sum(n) FROM (
                SELECT day, s.scope, c.counter, c.n FROM call_records,
                     LATERAL (VALUES ('all'), ('lane:' || lane), ('seat:' || seat)) AS s(scope),
                     LATERAL (VALUES ('offered', 1), ('answered', (answered_at IS NOT NULL)::int),
                                     ('abandoned', (answered_at IS NULL)::int), ('wait_ms', 20000),
                                     ('talk_ms', 120000), ('rang', 1)) AS c(counter, n)
                WHERE call_id LIKE 'g%') x
            GROUP BY 1, 2, 3""")
        await admin.execute("""
            INSERT INTO tickets (id, call_id, status, received_at, day, doc, version, category_path)
            SELECT 'T' || call_id, call_id, CASE WHEN i % 2 = 0 THEN 'confirmed' ELSE 'draft' END, started_at, day,
                   jsonb_build_object('draft', jsonb_build_object('category', to_jsonb(path)), 'confirmed', NULL), 0,
                   path
            FROM (SELECT call_id, started_at, day, i,
                         ARRAY[(ARRAY['城市管理','交通运输','住房城乡建设','人力资源社会保障','生态环境'])[1 + i % 5],
                               '子类' || (i % 7)] AS path
                  FROM (SELECT call_id, started_at, day, substr(call_id, 2)::int AS i FROM call_records
                        WHERE call_id LIKE 'g%') c0) c""")
        # the rollup the records writer keeps with each ticket (records/store.py), for the tickets made here
        await admin.execute("""
            INSERT INTO ticket_days (day, path, confirmed, n)
            SELECT day, category_path, status <> 'draft', count(*) FROM tickets WHERE id LIKE 'Tg%' GROUP BY 1, 2, 3
            ON CONFLICT (day, path, confirmed) DO UPDATE SET n = ticket_days.n + EXCLUDED.n""")
        await admin.execute("ANALYZE route_counts; ANALYZE tickets; ANALYZE ticket_days")
        generated_s = time.perf_counter() - t
    finally:
        await admin.close()
    figures = SqlReportFigures(db.pool)
    first, last = date(2026, 10, 1), date(2026, 12, 31)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    scopes = ([R.Scope("all", "", "全部")] + [R.Scope("lane", ln, ln) for ln in ("general", "enterprise", "deputy")]
              + [R.Scope("seat", f"1{i:03d}", "") for i in range(50)])
    keys = [s.key for s in scopes]
    settled = last + timedelta(days=1) - timedelta(days=3)        # the last 3 days still read afresh
    t = time.perf_counter()
    await figures.categories(days, 2, settled)                    # the first time (a cold cache)
    first_s = time.perf_counter() - t
    lat, before, cat_lat, base = [], [], [], []
    async with db.pool.acquire() as conn:
        for _ in range(repeat):
            t = time.perf_counter()
            totals = await figures.period_counters(first, last, "quarter", keys)
            cats = await figures.categories(days, 2, settled)
            rows = R.period_rows(totals, "quarter", first, last, scopes)
            cat_rows = R.category_rows(cats, "quarter", first, last)
            lat.append(time.perf_counter() - t)
            base.append(await _plain_count(conn, first, last))
            t = time.perf_counter()
            old_rows = R.scope_rows(await figures.counters(days, keys), "quarter", first, last, scopes)
            fresh = await figures.categories_scan([d for d in days if d >= settled], 2)
            before.append(time.perf_counter() - t)
            t = time.perf_counter()
            await figures.categories(days, 2, settled)
            cat_lat.append(time.perf_counter() - t)
            base.append(await _plain_count(conn, first, last))
    scanned = await figures.categories_scan(days, 2)
    offered = next(r["offered"] for r in rows if r["kind"] == "all")
    return {"generate_s": round(generated_s, 1), "quarter_calls": offered, "scope_rows": len(rows),
            "same_figures_as_day_sums": rows == old_rows, "same_categories_as_scan": cats == scanned,
            "fresh_days_scanned_before": len(fresh),
            "category_rows": len(cat_rows), "quarter_tickets": sum(c["tickets"] for c in cat_rows),
            "first_categories_s": round(first_s, 2), **_timing(lat, base),
            "categories_p99_ms": round(_pct(cat_lat, 99) * 1000, 1),
            "day_sums_and_ticket_scan_before": _timing(before, base)}


async def run(records: int = 2000, report_calls: int = 0) -> dict:
    import asyncpg

    from records.db import Database
    from records.spool import Spool
    from records.writer import RecordWriter

    base = Path(tempfile.mkdtemp(prefix="hotline-bench-db-"))
    os.chmod(base, 0o711)
    server = PostgresServer(base / "postgres", base / "log")
    await asyncio.to_thread(server.start)
    db = writer = task = None
    try:
        db = await Database.open(server.app_dsn, admin_dsn=server.admin_dsn, roles=(APP_ROLE, CDR_ROLE), tz=str(TZ))
        out: dict = {"machine": {"cpus": os.cpu_count(), "load_1m": round(os.getloadavg()[0], 2)}}

        # -- baseline: plain INSERTs, one per transaction ------------------------------------
        admin = await asyncpg.connect(server.admin_dsn)
        try:
            await admin.execute("CREATE TABLE bench_plain (id text PRIMARY KEY, doc jsonb NOT NULL)")
            import json
            docs = [json.dumps(_doc(i, 0), ensure_ascii=False) for i in range(records)]
            lat = []
            t0 = time.perf_counter()
            for i, d in enumerate(docs):
                t = time.perf_counter()
                await admin.execute("INSERT INTO bench_plain VALUES ($1, $2::jsonb)", f"p{i}", d)
                lat.append(time.perf_counter() - t)
            out["baseline_plain_insert"] = _stats(lat, records, time.perf_counter() - t0)
        finally:
            await admin.close()

        writer = RecordWriter(Spool(base / "spool.sqlite"), db.pool, TZ, idle_s=0.005)
        task = asyncio.create_task(writer.run())

        # -- confirm-ticket snapshots ---------------------------------------------------------
        from tickets.confirm import work_order
        put_at: dict[str, float] = {}
        put_us: list[float] = []
        t0 = time.perf_counter()
        for i in range(records):
            now = time.time()
            doc = _doc(i, now)
            payload = {"event": "confirmed", "doc": doc, "received_at": now - 300, "confirmed_at": now,
                       "version": now, "day": "2026-12-03", "work_order": work_order(doc)}
            t = time.perf_counter()
            writer.put("ticket", doc["id"], payload)
            put_us.append((time.perf_counter() - t) * 1e6)
            put_at[doc["id"]] = now
            if i % 50 == 49:
                await asyncio.sleep(0)              # the writer runs beside the producers, as in the controller
        await writer.drain(600)
        elapsed = time.perf_counter() - t0
        async with db.pool.acquire() as conn:
            rows = await conn.fetch("SELECT id, extract(epoch FROM written_at) AS w FROM tickets")
            outbox = await conn.fetchval("SELECT count(*) FROM handoff_outbox")
        lat = [max(0.0, float(r["w"]) - put_at[r["id"]]) for r in rows]
        out["confirm_ticket"] = {**_stats(lat, len(rows), elapsed, put_us), "outbox_rows": outbox}

        # -- call records: five patches per call ------------------------------------------------
        calls = max(1, records // 5)
        put_at, put_us = {}, []
        t0 = time.perf_counter()
        for i in range(calls):
            cid = f"{1764000000 + i}.{i}"
            now = time.time()
            for fields in ({"call_id": cid, "caller": "13800001234", "did": "12345", "started": now, "status": "ivr",
                            "path": []},
                           {"status": "queued", "lane": "general", "queued_at": now},
                           {"status": "ringing", "seat": "1001"},
                           {"status": "answered", "answered": now, "recording": f"/rec/{cid}.wav"},
                           {"path": ["start", "menu", "general_q", "bye"], "end_reason": "hangup", "ended": now,
                            "status": "ended"}):
                t = time.perf_counter()
                writer.call(cid, fields)
                put_us.append((time.perf_counter() - t) * 1e6)
            put_at[cid] = time.time()
            if i % 10 == 9:
                await asyncio.sleep(0)
        await writer.drain(600)
        elapsed = time.perf_counter() - t0
        async with db.pool.acquire() as conn:
            rows = await conn.fetch("SELECT call_id, extract(epoch FROM written_at) AS w, status FROM call_records")
        lat = [max(0.0, float(r["w"]) - put_at[r["call_id"]]) for r in rows]
        out["call_record"] = {**_stats(lat, calls * 5, elapsed, put_us), "calls": len(rows),
                              "ended": sum(1 for r in rows if r["status"] == "ended")}

        if report_calls:
            out["quarter_report"] = await _report(server, db, report_calls)
            out["reports_page_quarter"] = await _reports_page(server, db, report_calls)
        b = out["baseline_plain_insert"]
        out["ratios"] = {
            "confirm_ticket_per_s_vs_plain_insert": round(out["confirm_ticket"]["per_s"] / b["per_s"], 2),
            "call_patches_per_s_vs_plain_insert": round(out["call_record"]["per_s"] / b["per_s"], 2),
            "call_path_wait_p99_us_vs_plain_insert_p99_us": round(
                out["confirm_ticket"]["put_p99_us"] / (b["p99_ms"] * 1000), 4) if b["p99_ms"] else None,
        }
        return out
    finally:
        if task is not None:
            task.cancel()
        if db is not None:
            await db.close()
        if writer is not None:
            writer.spool.close()
        await asyncio.to_thread(server.stop)
        shutil.rmtree(base, ignore_errors=True)
