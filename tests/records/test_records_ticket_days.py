"""Tickets per category from the per-day rollup (ticket_days, kept by the records writer) equal the
count over every ticket, at every level, on generated tickets written as the controller writes them
(a draft, then confirmed snapshots that change the category, snapshots arriving out of order,
categories that are not lists of names), including tickets either side of local midnight in
Asia/Shanghai."""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from records.reports import SqlReportFigures
from records.store import write_batch
from tests.records.test_records_call_days import around_midnights

TZ = ZoneInfo("Asia/Shanghai")
CATS = [["城市管理", "噪音扰民"], ["城市管理", "占道经营", "夜市"], ["交通运输", "道路交通"], ["人力资源社会保障", "欠薪"],
        ["生态环境"], [], ["城市管理", ""], "城市管理", [1, "x"], None]


def _snapshot(i: int, at: float, status: str, draft, confirmed, version: float) -> dict:
    doc = {"id": f"T{i:05d}", "call_id": f"c{i}", "caller": "13800001234", "status": status,
           "draft": None if draft == "none" else {"category": draft, "district": "芦淞区"},
           "confirmed": confirmed if confirmed is None else {"category": confirmed}, "seat": "1001"}
    return {"event": status, "doc": doc, "received_at": at, "confirmed_at": at + 60 if confirmed else None,
            "version": version, "day": datetime.fromtimestamp(at, TZ).date().isoformat()}


async def test_rollup_categories_equal_the_count_over_every_ticket(pg_db):
    db, _ = pg_db
    rng = random.Random(15)
    times = around_midnights(rng, datetime(2026, 12, 1, 8, tzinfo=TZ), 5, 500, 20, 30)
    rows = []
    for i, at in enumerate(times):
        draft = rng.choice(CATS + ["none"])
        snaps = [_snapshot(i, at, "draft", draft, None, at)]
        r = rng.random()
        if r < 0.5:                                             # confirmed, often with another category
            snaps.append(_snapshot(i, at, "confirmed", draft, rng.choice(CATS), at + 60))
        if r < 0.2:                                             # handed off
            snaps.append(_snapshot(i, at, "handed_off", draft, snaps[-1]["doc"]["confirmed"]["category"]
                                   if snaps[-1]["doc"]["confirmed"] else None, at + 120))
        if r < 0.1:                                             # an older snapshot arriving last: ignored
            snaps.append(snaps[0])
        rows += [("ticket", s["doc"]["id"], s) for s in snaps]
    seq = 0
    async with db.pool.acquire() as conn:
        while rows:
            size = rng.choice((1, 5, 40))
            batch, rows = rows[:size], rows[size:]
            await write_batch(conn, [(seq + j, *r) for j, r in enumerate(batch)], TZ)
            seq += len(batch)
        # the local day is the one the writer was given (either side of 16:00 UTC)
        days = await conn.fetch("SELECT DISTINCT day FROM tickets ORDER BY day")
        assert [r["day"] for r in days] == [date(2026, 12, 1) + timedelta(days=k) for k in range(len(days))]
        kept = await conn.fetchval("SELECT sum(n) FROM ticket_days")
        assert kept == await conn.fetchval("SELECT count(*) FROM tickets") == len(times)
    figures = SqlReportFigures(db.pool)
    span = [date(2026, 11, 30) + timedelta(days=k) for k in range(9)]
    for level in (1, 2, 3):
        rolled = await figures.categories(span, level)
        assert rolled == await figures.categories_scan(span, level), level
        assert any(rolled.values())
    assert "未分类" in {c for d in rolled.values() for c in d}


async def test_migrations_8_and_9_fill_the_rollups_from_the_records_already_kept(pg_db):
    """A database of schema 7 with calls and tickets in it: migrating fills call_days, ticket_days and
    tickets.category_path with the figures the scans give."""
    import asyncpg

    from devstack.pg_server import APP_ROLE, CDR_ROLE
    from records.db import prepare
    from records.reports import call_figures, call_figures_scan
    from records.schema import known_version
    from tests.records.test_records_call_days import _patches

    db, admin_dsn = pg_db
    rng = random.Random(7)
    times = around_midnights(rng, datetime(2026, 12, 1, 8, tzinfo=TZ), 3, 200, 10, 30)
    rows = []
    for i, at in enumerate(times):
        rows += [("call", f"g{i}", p) for p in _patches(rng, i, at)]
        draft = rng.choice(CATS + ["none"])
        rows.append(("ticket", f"T{i:05d}", _snapshot(i, at, "draft", draft, None, at)))
        if i % 2:
            rows.append(("ticket", f"T{i:05d}", _snapshot(i, at, "confirmed", draft, rng.choice(CATS), at + 60)))
    async with db.pool.acquire() as conn:
        await write_batch(conn, [(j, *r) for j, r in enumerate(rows)], TZ)
    admin = await asyncpg.connect(admin_dsn)
    try:                                        # back to schema 7, the records kept
        await admin.execute("DROP TABLE kb_articles, kb_uses, kb_searches, revisit_tasks, revisit_attempts, "
                            "do_not_call, leader_sessions, leader_calls; "       # what later migrations made
                            "DROP TABLE call_days; DROP TABLE ticket_days; ALTER TABLE tickets DROP COLUMN "
                            "category_path; CREATE TABLE report_category_days (day date NOT NULL, level integer "
                            "NOT NULL, counts jsonb NOT NULL, PRIMARY KEY (day, level)); "
                            "DELETE FROM schema_version WHERE version >= 8")
    finally:
        await admin.close()
    # the next start: migrated (as the owner) and the roles granted, as records.db does
    assert await prepare(admin_dsn, roles=(APP_ROLE, CDR_ROLE)) == list(range(8, known_version() + 1))
    span = [date(2026, 11, 30) + timedelta(days=k) for k in range(6)]
    figures = SqlReportFigures(db.pool)
    for level in (1, 2, 3):
        assert await figures.categories(span, level) == await figures.categories_scan(span, level)
    async with db.pool.acquire() as conn:
        for period in ("day", "week", "quarter"):
            assert await call_figures(conn, span[0], span[-1], period) == \
                await call_figures_scan(conn, span[0], span[-1], period)
        assert await conn.fetchval("SELECT sum(offered) FROM call_days") > 100
