"""Report figures in SQL over the records: calls offered / answered / abandoned per day, ISO week or
quarter, for all calls, per lane and per seat; tickets per category (first level) and confirmed.

    rows = await call_figures(conn, date(2026, 10, 1), date(2026, 12, 31), "quarter")
    # [{"period": "2026-Q4", "kind": "all"|"lane"|"seat", "id": "general", "offered": .., "answered": ..,
    #   "abandoned": ..}, ...]

Offered: the call reached a lane; answered: a seat answered it; abandoned: offered, never answered.
The periods are the hotline's local days (call_records.day, tickets.day).
"""
from __future__ import annotations

from datetime import date
from typing import Any

PERIODS = {"day": "YYYY-MM-DD", "week": 'IYYY-"W"IW', "quarter": 'YYYY-"Q"Q'}


def _period(period: str) -> str:
    if period not in PERIODS:
        raise ValueError(f"period: one of {', '.join(PERIODS)}")
    return PERIODS[period]


async def call_figures(conn, first: date, last: date, period: str) -> list[dict[str, Any]]:
    fmt = _period(period)          # from the fixed table above, never from the caller's text
    rows = await conn.fetch(f"""
        SELECT to_char(day, '{fmt}') AS period, lane, seat, GROUPING(lane) AS gl, GROUPING(seat) AS gs,
               count(*) AS offered, count(answered_at) AS answered, count(*) - count(answered_at) AS abandoned
        FROM call_records
        WHERE day BETWEEN $1 AND $2 AND lane IS NOT NULL
        GROUP BY GROUPING SETS ((to_char(day, '{fmt}')), (to_char(day, '{fmt}'), lane),
                                (to_char(day, '{fmt}'), seat))
        ORDER BY 1, 4 DESC, 5 DESC, 2, 3""", first, last)
    out = []
    for r in rows:
        if r["gl"] and r["gs"]:
            kind, ident = "all", ""
        elif not r["gl"]:
            kind, ident = "lane", r["lane"]
        else:
            if r["seat"] is None:              # offered calls no seat answered have no seat row
                continue
            kind, ident = "seat", r["seat"]
        out.append({"period": r["period"], "kind": kind, "id": ident, "offered": r["offered"],
                    "answered": r["answered"], "abandoned": r["abandoned"]})
    return out


async def category_figures(conn, first: date, last: date, period: str) -> list[dict[str, Any]]:
    fmt = _period(period)
    rows = await conn.fetch(f"""
        SELECT to_char(day, '{fmt}') AS period, coalesce(category, '未分类') AS category, count(*) AS tickets,
               count(*) FILTER (WHERE status <> 'draft') AS confirmed
        FROM tickets WHERE day BETWEEN $1 AND $2
        GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2""", first, last)
    return [dict(r) for r in rows]
