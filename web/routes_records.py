"""Reads from the system of record (PostgreSQL, records/): what must still be listed after Redis
is lost. Tickets of a day, call records of a day, one call with Asterisk's CDR and CEL, the audit
trail. Caller numbers are masked in call lists; a confidential ticket is shown masked.

    app = create_app(..., routes=[records_routes(pool)])
"""
from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import asyncpg
from aiohttp import web

from kernel.privacy import mask_number
from records import store as sql
from web.access import RouteBundle, RouteTable, json_ok, query
from web.accounts import Role
from web.errors import ApiError, not_found
from web.keys import RECORDS_POOL

DAY = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "description": "YYYY-MM-DD（热线所在时区）"}
CALL_ID = "{call_id}"
_CALL_ID = re.compile(r"^[A-Za-z0-9._-]{1,80}$")
_OBJ_LIST = {"type": "array", "items": {"type": "object"}}
TICKETS_SCHEMA = {"type": "object", "required": ["day", "tickets"],
                  "properties": {"day": {"type": "string"}, "tickets": _OBJ_LIST}}
CALLS_SCHEMA = {"type": "object", "required": ["day", "calls"],
                "properties": {"day": {"type": "string"}, "calls": _OBJ_LIST}}
CALL_SCHEMA = {"type": "object", "required": ["call_id", "cdr", "cel"],
               "properties": {"call_id": {"type": "string"}, "cdr": _OBJ_LIST, "cel": _OBJ_LIST}}
REPORT_SCHEMA = {"type": "object", "required": ["period", "from", "to", "rows", "categories"],
                 "properties": {"period": {"type": "string"}, "from": {"type": "string"}, "to": {"type": "string"},
                                "rows": _OBJ_LIST, "categories": _OBJ_LIST}}
AUDIT_SCHEMA = {"type": "object", "required": ["entries"], "properties": {"entries": _OBJ_LIST}}


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ApiError(400, "invalid", "日期无效", {"problems": [{"field": "day", "message": "not a date"}]}) from None


def _unavailable(exc: Exception) -> ApiError:
    return ApiError(503, "records.unavailable", "记录库暂不可用，请稍后再试", {"reason": type(exc).__name__})


routes = RouteTable(tag="records")


def records_routes(pool: asyncpg.Pool) -> RouteBundle:
    return RouteBundle(routes, {RECORDS_POOL: pool})


async def run(request: web.Request, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """`fn(conn, *args)` on a pooled connection; the records database down: 503."""
    try:
        async with request.app[RECORDS_POOL].acquire(timeout=5) as conn:
            return await fn(conn, *args)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise _unavailable(exc) from None


@routes.get("/api/records/tickets", summary="记录库：某日的全部工单（Redis 丢失后仍可查）", role=Role.SUPERVISOR,
            query={"day": DAY}, response=TICKETS_SCHEMA, errors=(400, 503), audit="records.tickets.read")
async def records_tickets(request: web.Request) -> web.Response:
    from tickets.store import _masked

    q = query(request)
    day = _day(q.get("day") or date.today().isoformat())
    docs = await run(request, sql.tickets_between, day, day)
    return json_ok({"day": day.isoformat(), "tickets": [_masked(d) if d.get("confidential") else d for d in docs]})


@routes.get("/api/records/calls", summary="记录库：某日的通话记录（路径、队列、等待、坐席、转接、满意度、录音）",
            role=Role.SUPERVISOR, query={"day": DAY}, response=CALLS_SCHEMA, errors=(400, 503))
async def records_calls(request: web.Request) -> web.Response:
    q = query(request)
    day = _day(q.get("day") or date.today().isoformat())
    rows = await run(request, sql.calls_of_day, day, 5000)
    for r in rows:
        r["caller"] = mask_number(r["caller"]) if r.get("caller") else None
    return json_ok({"day": day.isoformat(), "calls": rows})


@routes.get(f"/api/records/calls/{CALL_ID}", summary="记录库：一通电话及其 Asterisk CDR 与 CEL",
            role=Role.SUPERVISOR, response=CALL_SCHEMA, errors=(404, 503), audit="records.call.read")
async def records_call(request: web.Request) -> web.Response:
    call_id = request.match_info["call_id"]
    if not _CALL_ID.match(call_id):
        raise not_found("call", {"call_id": call_id[:80]})
    rec = await run(request, sql.call_with_asterisk, call_id)
    if rec is None:
        raise not_found("call", {"call_id": call_id})
    rec["caller"] = mask_number(rec["caller"]) if rec.get("caller") else None
    for c in rec["cdr"]:
        c["src"] = mask_number(c["src"]) if c.get("src") else c.get("src")
    return json_ok(rec)


@routes.get("/api/records/reports", summary="记录库统计（SQL）：按日/周/季度的全部、队列、坐席话务量与诉求类别",
            role=Role.SUPERVISOR, errors=(400, 503), response=REPORT_SCHEMA,
            query={"period": {"type": "string", "enum": ["day", "week", "quarter"], "default": "week"},
                   "from": DAY, "to": DAY},
            description="不给日期时为最近 14 天；最长 400 天。")
async def records_reports(request: web.Request) -> web.Response:
    from datetime import timedelta

    from records.reports import call_figures, category_figures

    q = query(request)
    period = q.get("period") or "week"
    last = _day(q["to"]) if q.get("to") else date.today()
    first = _day(q["from"]) if q.get("from") else last - timedelta(days=13)
    if first > last or (last - first).days > 400:
        raise ApiError(400, "invalid", "日期范围无效（起止颠倒或超过 400 天）",
                       {"problems": [{"field": "from", "message": "range"}]})

    async def both(conn):
        return await call_figures(conn, first, last, period), await category_figures(conn, first, last, period)
    rows, cats = await run(request, both)
    return json_ok({"period": period, "from": first.isoformat(), "to": last.isoformat(), "rows": rows,
                    "categories": cats})


@routes.get("/api/records/audit", summary="记录库：审计日志（只增不改）", role=Role.ADMIN,
            query={"limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
            response=AUDIT_SCHEMA, errors=(503,))
async def records_audit(request: web.Request) -> web.Response:
    q: dict[str, Any] = query(request)
    return json_ok({"entries": await run(request, sql.audit_entries, int(q.get("limit") or 100))})
