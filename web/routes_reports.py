"""Reports (统计报表) for supervisors and admins: daily, weekly and quarterly
figures per lane, per seat and per ticket category, CSV export (UTF-8 with a
BOM so Excel shows the Chinese), the weekly category trend for the chart,
and the page /reports.

    app = create_app(..., routes=[reports_routes(router, tickets, redis)])

Call figures come from the routing engine's day counters
(`<prefix>:stats:<YYYYMMDD>:<scope>`, agents.events), the same numbers the
wallboard shows; categories from the tickets received each day
(tickets.store: the day index and each ticket's confirmed, else drafted,
category). The sums and figures are web.reports (pure).

Category counts of days that are over (older than `settle_days`) are kept in
Redis (`<prefix>:reports:cat<level>:<YYYYMMDD>`, expiring with the counters)
so a quarterly report does not read every ticket again.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis
from aiohttp import web

from agents.events import split_hours, stats_key
from agents.service import Router
from tickets.store import TicketStore
from web import reports as R
from web.access import RouteBundle, RouteTable, json_ok, query
from web.accounts import Role
from web.keys import REPORTS
from web.routes_pages import STATIC_DIR

DATE = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "description": "YYYY-MM-DD（热线所在时区）"}
PERIOD = {"type": "string", "enum": list(R.PERIODS), "default": "week"}
LEVEL = {"type": "integer", "minimum": 1, "maximum": 3, "default": 2, "description": "类别取几级（1：一级类别）"}
RANGE_QUERY = {"period": PERIOD, "from": DATE, "to": DATE, "level": LEVEL}

PERIOD_SCHEMA = {"type": "object", "required": ["key", "label", "from", "to"],
                 "properties": {k: {"type": "string"} for k in ("key", "label", "from", "to")}}
ROW_SCHEMA = {"type": "object", "required": ["period", "kind", "id", "name", "offered", "answered", "abandoned"],
              "properties": {"period": {"type": "string"}, "kind": {"type": "string", "enum": ["all", "lane", "seat"]},
                             "id": {"type": "string"}, "name": {"type": "string"},
                             "offered": {"type": "integer"}, "answered": {"type": "integer"},
                             "abandoned": {"type": "integer"}}}
CATEGORY_SCHEMA = {"type": "object", "required": ["period", "category", "tickets", "confirmed"],
                   "properties": {"period": {"type": "string"}, "category": {"type": "string"},
                                  "tickets": {"type": "integer"}, "confirmed": {"type": "integer"}}}
REPORT_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["period", "from", "to", "periods", "rows", "categories"],
    "properties": {"period": {"type": "string"}, "from": {"type": "string"}, "to": {"type": "string"},
                   "periods": {"type": "array", "items": PERIOD_SCHEMA},
                   "rows": {"type": "array", "items": ROW_SCHEMA},
                   "categories": {"type": "array", "items": CATEGORY_SCHEMA}},
}
TREND_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["from", "to", "weeks", "series", "totals"],
    "properties": {"from": {"type": "string"}, "to": {"type": "string"},
                   "weeks": {"type": "array", "items": PERIOD_SCHEMA},
                   "series": {"type": "array", "items": {
                       "type": "object", "required": ["category", "counts", "total"],
                       "properties": {"category": {"type": "string"},
                                      "counts": {"type": "array", "items": {"type": "integer"}},
                                      "total": {"type": "integer"}}}},
                   "totals": {"type": "array", "items": {"type": "integer"}}},
}
_PIPELINE = 500


class ReportSource:
    """Reads the raw numbers of a range of days off Redis, or off the records database when
    `figures` is given (records.reports.SqlReportFigures: the same shapes, from SQL)."""

    def __init__(self, router: Router, tickets: TicketStore, redis: aioredis.Redis, *, settle_days: int = 3,
                 figures: Any = None) -> None:
        self.router = router
        self.tickets = tickets
        self.redis = redis
        self.settle_days = settle_days
        self.figures = figures

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.router.config.timezone)

    def today(self) -> date:
        return datetime.fromtimestamp(self.router.store.clock(), self.tz).date()

    def scopes(self) -> list[R.Scope]:
        out = [R.Scope("all", "", "全部")]
        out += [R.Scope("lane", ln.id, ln.label or ln.id) for ln in self.router.rules.lanes.values()]
        out += [R.Scope("seat", s.id, s.name or s.id) for s in
                sorted(self.router.config.seats.values(), key=lambda s: s.id)]
        return out

    async def counters(self, days: Iterable[date], scopes: Iterable[R.Scope]) -> dict[date, dict[str, dict[str, int]]]:
        if self.figures is not None:
            return await self.figures.counters(list(days), [s.key for s in scopes])
        prefix = self.router.store.prefix
        wanted = [(d, s.key) for d in days for s in scopes]
        out: dict[date, dict[str, dict[str, int]]] = {}
        for i in range(0, len(wanted), _PIPELINE):
            part = wanted[i:i + _PIPELINE]
            async with self.redis.pipeline(transaction=False) as pipe:
                for d, scope in part:
                    pipe.hgetall(stats_key(prefix, d.strftime("%Y%m%d"), scope))
                got = await pipe.execute()
            for (d, scope), raw in zip(part, got):
                if raw:
                    out.setdefault(d, {})[scope] = split_hours(raw)[0]
        return out

    async def period_counters(self, start: date, end: date, period: str,
                              scopes: list[R.Scope]) -> dict[str, dict[str, dict[str, int]]]:
        """The counters summed per period: in SQL when the records are on, else from Redis's day hashes."""
        if self.figures is not None:
            return await self.figures.period_counters(start, end, period, [s.key for s in scopes])
        return R.period_totals(await self.counters(R.day_range(start, end), scopes), period, start, end, scopes)

    def _cache_key(self, day: date, level: int) -> str:
        return f"{self.router.store.prefix}:reports:cat{level}:{day.strftime('%Y%m%d')}"

    async def categories(self, days: Iterable[date], level: int) -> dict[date, dict[str, dict[str, int]]]:
        days = list(days)
        settled = self.today() - timedelta(days=self.settle_days)
        if self.figures is not None:
            return await self.figures.categories(days, level, settled)
        cached = await self.redis.mget([self._cache_key(d, level) for d in days]) if days else []
        out: dict[date, dict[str, dict[str, int]]] = {}
        for d, raw in zip(days, cached):
            if raw is not None and d < settled:
                out[d] = json.loads(raw)
                continue
            counts = await self._count_day(d, level)
            out[d] = counts
            if d < settled:
                ttl = self.router.config.stats_ttl_days * 86400
                await self.redis.set(self._cache_key(d, level), json.dumps(counts, ensure_ascii=False), ex=ttl)
        return out

    async def _count_day(self, day: date, level: int) -> dict[str, dict[str, int]]:
        keys = self.tickets.keys
        ids = await self.redis.zrange(keys.day(day.strftime("%Y%m%d")), 0, -1)
        counts: dict[str, dict[str, int]] = {}
        for i in range(0, len(ids), _PIPELINE):
            async with self.redis.pipeline(transaction=False) as pipe:
                for ticket_id in ids[i:i + _PIPELINE]:
                    pipe.hmget(keys.ticket(str(ticket_id)), ["status", "confirmed", "draft"])
                got = await pipe.execute()
            for status, confirmed, draft in got:
                if status is None:
                    continue
                R.add_ticket(counts, R.category_of(status, confirmed, draft, level), status != "draft")
        return counts


def _range(source: ReportSource, q: dict[str, Any], period: str) -> tuple[date, date]:
    start, end = R.default_range(source.today(), period)
    if "to" in q:
        end = R.parse_day(q["to"], "to")
        if "from" not in q:
            start, _ = R.default_range(end, period)
    if "from" in q:
        start = R.parse_day(q["from"], "from")
    return start, end


routes = RouteTable(tag="reports")


def reports_routes(router: Router, tickets: TicketStore, redis: aioredis.Redis, figures: Any = None) -> RouteBundle:
    """figures: records.reports.SqlReportFigures when the records database is on (the figures from SQL)."""
    return RouteBundle(routes, {REPORTS: ReportSource(router, tickets, redis, figures=figures)})


async def build(source: ReportSource, q: dict[str, Any]) -> dict[str, Any]:
    period = q["period"]
    start, end = _range(source, q, period)
    days = R.day_range(start, end)
    scopes = source.scopes()
    totals = await source.period_counters(start, end, period, scopes)
    cats = await source.categories(days, q["level"])
    return {"period": period, "period_label": R.PERIOD_LABELS[period], "from": start.isoformat(),
            "to": end.isoformat(), "timezone": source.router.config.timezone,
            "periods": [p.to_dict() for p in R.periods(start, end, period)],
            "rows": R.period_rows(totals, period, start, end, scopes),
            "categories": R.category_rows(cats, period, start, end)}


@routes.get("/api/reports", summary="统计报表：按日/周/季度的队列、坐席与诉求类别数据", role=Role.SUPERVISOR,
            query=RANGE_QUERY, response=REPORT_SCHEMA, errors=(400,),
            description="不给日期时：按日为最近 14 天，按周为最近 12 周，按季度为最近 4 个季度；最长 400 天。")
async def reports(request: web.Request) -> web.Response:
    return json_ok(await build(request.app[REPORTS], query(request)))


@routes.get("/api/reports/export", summary="统计报表导出 CSV（UTF-8 带 BOM，Excel 可直接打开）",
            role=Role.SUPERVISOR, content_type="text/csv", response={"type": "string"}, errors=(400,),
            audit="reports.export",
            query={**RANGE_QUERY, "part": {"type": "string", "enum": ["calls", "categories"], "default": "calls",
                                           "description": "calls：队列与坐席话务数据；categories：诉求类别"}})
async def reports_export(request: web.Request) -> web.Response:
    q = query(request)
    data = await build(request.app[REPORTS], q)
    if q["part"] == "categories":
        text = R.to_csv(data["categories"], R.CATEGORY_COLUMNS)
    else:
        text = R.to_csv(data["rows"], R.SCOPE_COLUMNS)
    name = f"hotline-{q['part']}-{data['period']}-{data['from']}-{data['to']}.csv"
    return web.Response(body=text.encode("utf-8"), headers={
        "Content-Type": "text/csv; charset=utf-8", "Content-Disposition": f'attachment; filename="{name}"'})


@routes.get("/api/reports/trend", summary="诉求类别周趋势（图表用）", role=Role.SUPERVISOR,
            query={"from": DATE, "to": DATE, "level": LEVEL,
                   "top": {"type": "integer", "minimum": 1, "maximum": 30, "default": 8},
                   "focus": {"type": "string", "maxLength": 200,
                             "description": "总要显示的类别，逗号分隔，如 人力资源社会保障/欠薪"}},
            response=TREND_SCHEMA, errors=(400,))
async def reports_trend(request: web.Request) -> web.Response:
    q, source = query(request), request.app[REPORTS]
    start, end = _range(source, q, "week")
    days = R.day_range(start, end)
    focus = [f.strip() for f in q.get("focus", "").split(",") if f.strip()]
    cats = await source.categories(days, q["level"])
    return json_ok({"from": start.isoformat(), "to": end.isoformat(),
                    **R.category_trend(cats, start, end, top=q["top"], focus=focus)})


@routes.get("/reports", summary="统计报表页面", role=Role.SUPERVISOR, api=False, content_type="text/html")
async def reports_page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC_DIR / "reports.html", headers={"Cache-Control": "no-store"})
