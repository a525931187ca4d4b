"""Report figures in SQL over the records: calls offered / answered / abandoned per day, ISO week or
quarter, for all calls, per lane and per seat; tickets per category (first level) and confirmed.

    rows = await call_figures(conn, date(2026, 10, 1), date(2026, 12, 31), "quarter")
    # [{"period": "2026-Q4", "kind": "all"|"lane"|"seat", "id": "general", "offered": .., "answered": ..,
    #   "abandoned": ..}, ...]

Offered: the call reached a lane; answered: a seat answered it; abandoned: offered, never answered.
The periods are the hotline's local days (call_records.day, tickets.day). The call figures are
summed from call_days (one row per local day, lane and seat, kept with the call records by
records/store.py), the /reports counters from route_counts summed per period, both in SQL.
"""
from __future__ import annotations

from datetime import date
from typing import Any

PERIODS = {"day": "YYYY-MM-DD", "week": 'IYYY-"W"IW', "quarter": 'YYYY-"Q"Q'}


def _period(period: str) -> str:
    if period not in PERIODS:
        raise ValueError(f"period: one of {', '.join(PERIODS)}")
    return PERIODS[period]


_CALL_FIGURES = """
    SELECT to_char(day, '{fmt}') AS period, lane, seat, GROUPING(lane) AS gl, GROUPING(seat) AS gs,
           {offered} AS offered, {answered} AS answered, {offered} - {answered} AS abandoned
    FROM {source}
    WHERE day BETWEEN $1 AND $2 AND lane IS NOT NULL
    GROUP BY GROUPING SETS ((to_char(day, '{fmt}')), (to_char(day, '{fmt}'), lane),
                            (to_char(day, '{fmt}'), seat))
    HAVING {offered} > 0
    ORDER BY 1, 4 DESC, 5 DESC, 2, 3"""


async def call_figures(conn, first: date, last: date, period: str) -> list[dict[str, Any]]:
    """From the per-day rollup call_days (records/store.py keeps it with the call records): a
    quarter sums about 90 x (lane, seat) rows."""
    return _figure_rows(await conn.fetch(_CALL_FIGURES.format(
        fmt=_period(period), offered="sum(offered)::bigint", answered="sum(answered)::bigint",
        source="(SELECT day, lane, nullif(seat, '') AS seat, offered, answered FROM call_days) AS d"), first, last))


async def call_figures_scan(conn, first: date, last: date, period: str) -> list[dict[str, Any]]:
    """The same figures counted over every call record of the range: what call_days is checked
    against (tests) and measured against (hotline bench db)."""
    return _figure_rows(await conn.fetch(_CALL_FIGURES.format(
        fmt=_period(period), offered="count(*)", answered="count(answered_at)", source="call_records"), first, last))


def _figure_rows(rows) -> list[dict[str, Any]]:
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
        out.append({"period": r["period"], "kind": kind, "id": ident, "offered": int(r["offered"]),
                    "answered": int(r["answered"]), "abandoned": int(r["abandoned"])})
    return out


async def category_figures(conn, first: date, last: date, period: str) -> list[dict[str, Any]]:
    fmt = _period(period)
    rows = await conn.fetch(f"""
        SELECT to_char(day, '{fmt}') AS period, coalesce(category, '未分类') AS category, count(*) AS tickets,
               count(*) FILTER (WHERE status <> 'draft') AS confirmed
        FROM tickets WHERE day BETWEEN $1 AND $2
        GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2""", first, last)
    return [dict(r) for r in rows]


_CATEGORIES = """
WITH t AS (
    SELECT day, status <> 'draft' AS confirmed,
           CASE WHEN status <> 'draft' AND jsonb_typeof(doc->'confirmed') = 'object' THEN doc->'confirmed'->'category'
                ELSE doc->'draft'->'category' END AS cat
    FROM tickets WHERE day BETWEEN $1 AND $2
)
SELECT day,
       CASE WHEN jsonb_typeof(cat) = 'array' AND jsonb_array_length(cat) > 0
                 AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(cat) e
                                 WHERE jsonb_typeof(e) <> 'string' OR e #>> '{}' = '')
            THEN (SELECT string_agg(x, '/' ORDER BY i) FROM jsonb_array_elements_text(cat) WITH ORDINALITY AS c(x, i)
                  WHERE i <= greatest(1, $3::int))
            ELSE $4 END AS category,
       count(*) AS tickets, count(*) FILTER (WHERE confirmed) AS confirmed
FROM t GROUP BY 1, 2
"""


class SqlReportFigures:
    """The raw numbers of the reports page and API (web/routes_reports.py) from the records database,
    in the shapes the Redis source gives: day counters per scope (records/route_counts.py) and
    tickets per category per day (a ticket's confirmed, else drafted, category cut to `level`
    names, as web.reports.category_of does)."""

    def __init__(self, pool) -> None:
        self.pool = pool

    async def counters(self, days: list[date], scopes: list[str]) -> dict[date, dict[str, dict[str, int]]]:
        from records.route_counts import day_counters

        if not days:
            return {}
        async with self.pool.acquire(timeout=5) as conn:
            return await day_counters(conn, days, scopes)

    async def period_counters(self, first: date, last: date, period: str,
                              scopes: list[str]) -> dict[str, dict[str, dict[str, int]]]:
        """{period key: {scope: {counter: n}}}: route_counts summed per period in SQL (a quarter
        returns one row per scope and counter, not one per day)."""
        from agents.events import COUNTERS

        async with self.pool.acquire(timeout=5) as conn:
            rows = await conn.fetch(
                f"SELECT to_char(day, '{_period(period)}') AS period, scope, counter, sum(n)::bigint AS n "
                "FROM route_counts WHERE day BETWEEN $1 AND $2 AND scope = ANY($3::text[]) "
                "AND counter = ANY($4::text[]) GROUP BY 1, 2, 3", first, last, scopes, list(COUNTERS))
        out: dict[str, dict[str, dict[str, int]]] = {}
        for r in rows:
            if r["n"]:
                out.setdefault(r["period"], {}).setdefault(r["scope"], {})[r["counter"]] = int(r["n"])
        return out

    async def categories(self, days: list[date], level: int,
                         settled_before: date | None = None) -> dict[date, dict[str, dict[str, int]]]:
        """Tickets per category (cut to `level` names) per day, from the per-day rollup ticket_days
        (kept with each ticket by records/store.py): a quarter sums about 90 days x categories rows.
        `settled_before` (the Redis source keeps the counts of days before it) changes nothing here:
        every day's counts are kept as the tickets are written."""
        from tickets.taxonomy import UNCLASSIFIED

        if not days:
            return {}
        async with self.pool.acquire(timeout=5) as conn:
            rows = await conn.fetch(_CATEGORY_DAYS, min(days), max(days), level, UNCLASSIFIED)
        return _per_day(days, rows)

    async def categories_scan(self, days: list[date], level: int) -> dict[date, dict[str, dict[str, int]]]:
        """The same counted over every ticket of the days: what ticket_days is checked against
        (tests) and measured against (hotline bench db)."""
        from tickets.taxonomy import UNCLASSIFIED

        if not days:
            return {}
        async with self.pool.acquire(timeout=5) as conn:
            rows = await conn.fetch(_CATEGORIES, min(days), max(days), level, UNCLASSIFIED)
        return _per_day(days, rows)


_CATEGORY_DAYS = """
SELECT day, CASE WHEN cardinality(path) = 0 THEN $4
                 ELSE array_to_string(path[1:greatest(1, $3::int)], '/') END AS category,
       sum(n)::bigint AS tickets, coalesce(sum(n) FILTER (WHERE confirmed), 0)::bigint AS confirmed
FROM ticket_days WHERE day BETWEEN $1 AND $2
GROUP BY 1, 2 HAVING sum(n) > 0
"""


def _per_day(days: list[date], rows) -> dict[date, dict[str, dict[str, int]]]:
    out: dict[date, dict[str, dict[str, int]]] = {d: {} for d in days}
    for r in rows:
        if r["day"] in out:
            out[r["day"]][r["category"]] = {"tickets": int(r["tickets"]), "confirmed": int(r["confirmed"])}
    return out
