"""Report figures in SQL over call records and tickets written through the records path."""
from __future__ import annotations

import asyncio
from datetime import date, datetime
from zoneinfo import ZoneInfo

from records.reports import call_figures, category_figures
from records.spool import Spool
from records.writer import RecordWriter

TZ = ZoneInfo("Asia/Shanghai")


def at(day: date, hour: int = 10) -> float:
    return datetime(day.year, day.month, day.day, hour, tzinfo=TZ).timestamp()


async def test_day_week_quarter_figures_per_lane_and_seat(pg_db, tmp_path):
    db, _ = pg_db
    writer = RecordWriter(Spool(tmp_path / "spool.sqlite"), db.pool, TZ, idle_s=0.02)
    task = asyncio.create_task(writer.run())
    # (day, lane, seat or None, answered?)
    seed = [(date(2026, 11, 30), "general", "1001", True), (date(2026, 11, 30), "general", "1002", True),
            (date(2026, 11, 30), "general", "1002", False), (date(2026, 12, 1), "enterprise", "1003", True),
            (date(2026, 12, 1), "general", None, False), (date(2026, 12, 7), "general", "1001", True),
            (date(2026, 9, 30), "general", "1001", True)]
    for i, (day, lane, seat, answered) in enumerate(seed):
        t = at(day)
        writer.call(f"r{i}", {"call_id": f"r{i}", "started": t, "status": "ivr"})
        writer.call(f"r{i}", {"status": "queued", "lane": lane, "queued_at": t + 5})
        if seat:
            writer.call(f"r{i}", {"status": "ringing", "seat": seat})
        if answered:
            writer.call(f"r{i}", {"status": "answered", "answered": t + 20})
        writer.call(f"r{i}", {"ended": t + 100, "status": "ended" if answered else "missed"})
    writer.call("ivr-only", {"call_id": "ivr-only", "started": at(date(2026, 12, 1)), "status": "ended"})
    assert await writer.drain(10)
    task.cancel()
    async with db.pool.acquire() as conn:
        weeks = await call_figures(conn, date(2026, 11, 30), date(2026, 12, 13), "week")
        days = await call_figures(conn, date(2026, 11, 30), date(2026, 11, 30), "day")
        quarters = await call_figures(conn, date(2026, 7, 1), date(2026, 12, 31), "quarter")
        cats = await category_figures(conn, date(2026, 7, 1), date(2026, 12, 31), "quarter")
    w = {(r["period"], r["kind"], r["id"]): (r["offered"], r["answered"], r["abandoned"]) for r in weeks}
    assert w[("2026-W49", "all", "")] == (5, 3, 2)
    assert w[("2026-W49", "lane", "general")] == (4, 2, 2) and w[("2026-W49", "lane", "enterprise")] == (1, 1, 0)
    assert w[("2026-W49", "seat", "1002")] == (2, 1, 1) and w[("2026-W49", "seat", "1001")] == (1, 1, 0)
    assert w[("2026-W50", "all", "")] == (1, 1, 0)
    assert {(r["kind"], r["id"]): r["offered"] for r in days} == {("all", ""): 3, ("lane", "general"): 3,
                                                                  ("seat", "1001"): 1, ("seat", "1002"): 2}
    q = {(r["period"], r["kind"], r["id"]): r["offered"] for r in quarters}
    assert q[("2026-Q3", "all", "")] == 1 and q[("2026-Q4", "all", "")] == 6
    assert cats == []
