"""The call figures from the per-day rollup (call_days, kept by the records writer) equal the
figures counted over every call record, on generated calls written as the controller writes them
(patches, in batches of every size, calls split over batches), including calls either side of
the local midnight in Asia/Shanghai (16:00 UTC) and calls moved from one seat to another."""
from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from records.reports import call_figures, call_figures_scan
from records.store import write_batch

TZ = ZoneInfo("Asia/Shanghai")
LANES = ("general", "enterprise", "deputy")


def _patches(rng: random.Random, i: int, t: float) -> list[dict]:
    cid = f"g{i}"
    out: list[dict] = [{"call_id": cid, "caller": "13800001234", "started": t, "status": "ivr"}]
    kind = rng.random()
    if kind < 0.1:                                          # ended in the IVR: never offered
        return out + [{"ended": t + 30, "status": "ended"}]
    out.append({"status": "queued", "lane": rng.choice(LANES), "queued_at": t + 5})
    if kind < 0.25:                                         # abandoned before a seat rang
        return out + [{"ended": t + 40, "status": "abandoned"}]
    out.append({"status": "ringing", "seat": f"10{rng.randrange(10):02d}"})
    if kind < 0.35:                                         # not answered there: rung at another seat
        out.append({"status": "ringing", "seat": f"10{rng.randrange(10):02d}"})
    if kind < 0.45:
        return out + [{"ended": t + 60, "status": "missed"}]
    if kind < 0.5:                                          # the lane changed (transferred to another queue)
        out.append({"lane": rng.choice(LANES)})
    return out + [{"status": "answered", "answered": t + 20}, {"ended": t + 300, "status": "ended"}]


def around_midnights(rng: random.Random, start: datetime, days: float, n: int, per_midnight: int,
                     spread_s: float) -> list[float]:
    """`n` times over `days` from `start`, and `per_midnight` within `spread_s` of each local midnight
    they cross (in Asia/Shanghai: 16:00 UTC)."""
    t0 = start.timestamp()
    out = [t0 + rng.uniform(0, days * 86400) for _ in range(n)]
    d, end = 1, t0 + days * 86400
    while (midnight := datetime.combine(start.date() + timedelta(days=d), time(0), TZ).timestamp()) < end:
        out += [midnight + rng.uniform(-spread_s, spread_s) for _ in range(per_midnight)]
        d += 1
    return out


async def test_rollup_figures_equal_the_scan_of_every_call_record(pg_db):
    db, _ = pg_db
    rng = random.Random(15)
    # 14:00 local on 2026-12-01 .. 10:00 on 2026-12-08: every local midnight crossed, with a burst of
    # calls in the minute either side of each (23:59:xx local is 15:59:xx UTC, the same UTC day)
    times = around_midnights(rng, datetime(2026, 12, 1, 14, tzinfo=TZ), 6.8, 1200, 40, 60)
    times += [datetime(2026, 9, 30, 23, 59, 50, tzinfo=TZ).timestamp(),      # the quarter's edge
              datetime(2026, 10, 1, 0, 0, 5, tzinfo=TZ).timestamp()]
    by_call: dict[str, list] = {}
    for i, t in enumerate(times):
        by_call[f"g{i}"] = [("call", f"g{i}", p) for p in _patches(rng, i, t)]
    queue = []
    while by_call:                          # calls interleaved, each call's patches in their order
        k = rng.choice(list(by_call))
        queue.append(by_call[k].pop(0))
        if not by_call[k]:
            del by_call[k]
    seq = 0
    async with db.pool.acquire() as conn:
        while queue:
            size = rng.choice((1, 7, 50, 400))
            batch, queue = queue[:size], queue[size:]
            await write_batch(conn, [(seq + j, *r) for j, r in enumerate(batch)], TZ)
            seq += len(batch)
        # the scan's local days are the ones the writer computed from the start in Asia/Shanghai
        edge = await conn.fetch("SELECT day, count(*) AS n FROM call_records WHERE call_id = ANY($1::text[]) "
                                "GROUP BY day ORDER BY day", [f"g{len(times) - 2}", f"g{len(times) - 1}"])
        assert [(r["day"], r["n"]) for r in edge] == [(date(2026, 9, 30), 1), (date(2026, 10, 1), 1)]
        ranges = [(date(2026, 12, 1), date(2026, 12, 8)), (date(2026, 12, 2), date(2026, 12, 2)),
                  (date(2026, 9, 30), date(2026, 10, 1)), (date(2026, 7, 1), date(2026, 12, 31))]
        for first, last in ranges:
            for period in ("day", "week", "quarter"):
                rolled = await call_figures(conn, first, last, period)
                scanned = await call_figures_scan(conn, first, last, period)
                assert rolled == scanned, (first, last, period)
        quarter = await call_figures(conn, date(2026, 10, 1), date(2026, 12, 31), "quarter")
        offered = await conn.fetchval("SELECT count(*) FROM call_records WHERE lane IS NOT NULL "
                                      "AND day >= '2026-10-01'")
        assert next(r for r in quarter if r["kind"] == "all")["offered"] == offered > 1000
        # the last batch written again (the spool lost its "done" in a crash) changes no figure
        await write_batch(conn, [(seq - len(batch) + j, *r) for j, r in enumerate(batch)], TZ)
        assert await call_figures(conn, date(2026, 10, 1), date(2026, 12, 31), "quarter") == quarter
        # the migration's fill from the call records gives the rollup the writer kept
        kept = await conn.fetch("SELECT day, lane, seat, offered, answered FROM call_days WHERE offered <> 0 "
                                "ORDER BY 1, 2, 3")
        filled = await conn.fetch("SELECT day, lane, coalesce(seat, '') AS seat, count(*) AS offered, "
                                  "count(answered_at) AS answered FROM call_records WHERE day IS NOT NULL "
                                  "AND lane IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")
        assert [tuple(r) for r in kept] == [tuple(r) for r in filled]
