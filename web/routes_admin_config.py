"""The admin's configuration API: seats and operators (with their skills),
calendar overrides (closures, special hours, the official holiday and
adjusted-working-day schedule) and the calendar as it will be applied, the
caller lists (the deputies list, CSV import with a per-line error report)
and the external transfer numbers.

    app = create_app(..., routes=[admin_config_routes(versions, base_dir, seats_file, transfers_file)])

Lanes and the calendars' weekly hours are part of the IVR tree: the admin
page edits them in the tree and publishes it (web.routes_admin_ivr). The
files are read, checked and written by their domain's service
(agents.config_files.AgentFiles: seats, operators, transfer numbers;
ivr.config_files.IvrFiles: calendar overrides, caller lists), which checks
them with the same readers the controller uses and writes them atomically
(the previous content kept as ``.prev``); these handlers audit every change. Caller lists and calendar overrides are read when a tree version
is loaded: they apply from the next publish (``republish`` when the tree
itself did not change); seats and operators apply when the controller
restarts; transfer numbers at once (the console's transfer service reads
the file again when it changes, agents.transfer.TransfersFile).
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from aiohttp import web

from agents.config_files import AgentFiles
from ivr import calendar as cal
from ivr.config_files import IvrFiles
from ivr.model import Calendar
from ivr.versions import VersionStore
from web.access import RouteBundle, RouteTable, actor, body, json_ok, query
from web.accounts import Role
from web.errors import ApiError
from web.keys import AGENT_FILES, AUDIT, IVR_FILES
from web.problem_views import line_problem

_ID = {"type": "string", "minLength": 1, "maxLength": 32, "pattern": r"^[0-9A-Za-z_.-]+$"}
_NAME = {"type": "string", "minLength": 1, "maxLength": 40}
SEAT_ITEM = {"type": "object", "required": ["id"], "additionalProperties": False,
             "properties": {"id": _ID, "name": _NAME,
                            "username": {"type": "string", "maxLength": 64, "pattern": r"^[0-9A-Za-z_.-]*$"}}}
OPERATOR_ITEM = {"type": "object", "required": ["id", "name"], "additionalProperties": False,
                 "properties": {"id": _ID, "name": _NAME,
                                "skills": {"type": "object", "additionalProperties": {
                                    "type": "integer", "minimum": 1, "maximum": 10}}}}
SEATS_BODY = {"type": "object", "required": ["seats", "operators"], "additionalProperties": False,
              "properties": {"seats": {"type": "array", "maxItems": 2000, "items": SEAT_ITEM},
                             "operators": {"type": "array", "maxItems": 5000, "items": OPERATOR_ITEM}}}
SEATS_SCHEMA = {"type": "object", "required": ["seats", "operators", "lanes", "applies"],
                "properties": {"seats": {"type": "array"}, "operators": {"type": "array"},
                               "lanes": {"type": "array", "items": {"type": "object"}},
                               "applies": {"type": "string"}}}
OVERRIDE_ITEM = {"type": "object", "required": ["date"], "additionalProperties": False,
                 "properties": {"date": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
                                "closed": {"type": "boolean"},
                                "hours": {"type": "array", "maxItems": 8,
                                          "items": {"type": "string", "pattern": r"^\d{1,2}:\d{2}-\d{1,2}:\d{2}$"}},
                                "calendars": {"type": "array", "items": {"type": "string"}},
                                "note": {"type": "string", "maxLength": 100}}}
_DATES = {"type": "array", "maxItems": 400, "items": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"}}
OVERRIDES_BODY = {"type": "object", "required": ["overrides"], "additionalProperties": False,
                  "properties": {"overrides": {"type": "array", "maxItems": 2000, "items": OVERRIDE_ITEM},
                                 "cn_years": {"type": "object", "additionalProperties": {
                                     "type": "object", "additionalProperties": False,
                                     "properties": {"holidays": _DATES, "workdays": _DATES}}}}}
CALENDARS_SCHEMA = {"type": "object", "required": ["file", "calendars", "overrides", "cn_years", "applies"],
                    "properties": {"file": {"type": ["string", "null"]}, "calendars": {"type": "object"},
                                   "overrides": {"type": "array"}, "cn_years": {"type": "object"},
                                   "applies": {"type": "string"}}}
DAYS_SCHEMA = {"type": "object", "required": ["calendar", "days"],
               "properties": {"calendar": {"type": "string"}, "days": {"type": "array", "items": {
                   "type": "object", "required": ["date", "weekday", "open", "reason", "hours"],
                   "properties": {"date": {"type": "string"}, "weekday": {"type": "integer"},
                                  "open": {"type": "boolean"}, "reason": {"type": "string"},
                                  "hours": {"type": "array"}, "note": {"type": "string"},
                                  "degraded": {"type": "boolean"}}}}}}
LIST_SCHEMA = {"type": "object", "required": ["id", "file", "entries", "problems"],
               "properties": {"id": {"type": "string"}, "file": {"type": "string"},
                              "entries": {"type": "array", "items": {"type": "object"}},
                              "problems": {"type": "array"}}}
IMPORT_BODY = {"type": "object", "required": ["csv"], "additionalProperties": False,
               "properties": {"csv": {"type": "string", "description": "CSV 文本（请求体上限 1 MB）"},
                              "skip_bad": {"type": "boolean", "description": "跳过有误的行，导入其余的行"}}}
IMPORT_SCHEMA = {"type": "object", "required": ["count", "skipped", "applies"],
                 "properties": {"count": {"type": "integer"}, "skipped": {"type": "array"},
                                "applies": {"type": "string"}}}
TARGET_ITEM = {"type": "object", "required": ["id", "name", "number"], "additionalProperties": False,
               "properties": {"id": _ID, "name": _NAME,
                              "number": {"type": "string", "minLength": 2, "maxLength": 20,
                                         "pattern": r"^[0-9*#+]+$"},
                              "three_way": {"type": "boolean"},
                              "modes": {"type": "array", "minItems": 1, "maxItems": 3, "items": {
                                  "type": "string", "enum": ["blind", "attended", "three_way"]},
                                  "description": "允许的转接方式，第一个为默认方式（不填：按 three_way 决定）"}}}
TRANSFERS_BODY = {"type": "object", "required": ["targets"], "additionalProperties": False,
                  "properties": {"targets": {"type": "array", "maxItems": 500, "items": TARGET_ITEM}}}
TRANSFERS_SCHEMA = {"type": "object", "required": ["targets", "file", "applies"],
                    "properties": {"targets": {"type": "array", "items": TARGET_ITEM}, "file": {"type": "string"},
                                   "ring_s": {"type": ["integer", "null"]}, "applies": {"type": "string"}}}

_WEEKDAY_REASON = {"override": "特殊安排", "holiday": "法定节假日", "adjusted_workday": "调休上班", "weekly": "常规"}

routes = RouteTable(tag="admin-config")


def admin_config_routes(versions: VersionStore, base_dir: Path, seats_file: Path,
                        transfers_file: Path | None = None) -> RouteBundle:
    return RouteBundle(routes, {IVR_FILES: IvrFiles(versions, base_dir),
                                AGENT_FILES: AgentFiles(base_dir, seats_file, transfers_file)})


async def _audit(request: web.Request, action: str, target: str, details: dict[str, Any]) -> None:
    await request.app[AUDIT].record(actor(request), action, target, details)


# -- seats and operators ---------------------------------------------------------
@routes.get("/api/admin/seats", summary="坐席与话务员（含技能）", role=Role.ADMIN, response=SEATS_SCHEMA,
            errors=(503,))
async def admin_seats(request: web.Request) -> web.Response:
    view = await request.app[AGENT_FILES].seats()
    return json_ok({**view, "lanes": await request.app[IVR_FILES].lanes(), "applies": "restart"})


@routes.put("/api/admin/seats", summary="保存坐席与话务员（重启后生效）", role=Role.ADMIN, request=SEATS_BODY,
            response=SEATS_SCHEMA, errors=(503,))
async def admin_save_seats(request: web.Request) -> web.Response:
    data, files, ivr = body(request), request.app[AGENT_FILES], request.app[IVR_FILES]
    lanes = [ln["id"] for ln in await ivr.lanes()]
    before, view = await files.save_seats(data["seats"], data["operators"], lanes)
    seats, ops = {s["id"] for s in data["seats"]}, {o["id"] for o in data["operators"]}
    await _audit(request, "config.seats.update", files.rel(files.seats_path), {
        "seats": len(data["seats"]), "operators": len(data["operators"]),
        "seats_added": sorted(seats - {s["id"] for s in before["seats"]}),
        "seats_removed": sorted({s["id"] for s in before["seats"]} - seats),
        "operators_added": sorted(ops - {o["id"] for o in before["operators"]}),
        "operators_removed": sorted({o["id"] for o in before["operators"]} - ops)})
    return json_ok({**view, "lanes": await ivr.lanes(), "applies": "restart"})


# -- calendars -------------------------------------------------------------------
@routes.get("/api/admin/calendars", summary="工作日历与特殊安排（节假日、调休、临时停业）", role=Role.ADMIN,
            response=CALENDARS_SCHEMA, errors=(503,))
async def admin_calendars(request: web.Request) -> web.Response:
    return json_ok({**await request.app[IVR_FILES].calendars(), "applies": "next_publish"})


@routes.put("/api/admin/calendars/overrides", summary="保存特殊安排与节假日/调休安排（下次发布生效）",
            role=Role.ADMIN, request=OVERRIDES_BODY, response=CALENDARS_SCHEMA, errors=(503,))
async def admin_save_overrides(request: web.Request) -> web.Response:
    data, files = body(request), request.app[IVR_FILES]
    path, items, years = await files.save_overrides(data["overrides"], data.get("cn_years") or {})
    await _audit(request, "config.calendar.update", files.rel(path), {"overrides": len(items), "cn_years": years})
    return json_ok({**await files.calendars(), "applies": "next_publish"})


@routes.get("/api/admin/calendars/{id}/days", summary="按日查看工作日历（节假日、调休、特殊安排的结果）",
            role=Role.ADMIN, response=DAYS_SCHEMA, errors=(404,),
            query={"start": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
                   "days": {"type": "integer", "minimum": 1, "maximum": 400, "default": 31}})
async def admin_calendar_days(request: web.Request) -> web.Response:
    cal_id, q = request.match_info["id"], query(request)
    calendar = await request.app[IVR_FILES].calendar(cal_id)
    try:
        start = dt.date.fromisoformat(q["start"]) if q.get("start") else dt.datetime.now(
            cal.zone(calendar.timezone)).date()
    except ValueError:
        raise ApiError(400, "invalid_date", "日期格式不正确") from None
    if start.year < 1900 or start.year > 2999:
        raise ApiError(400, "invalid_date", "日期超出范围（1900–2999 年）")
    return json_ok({"calendar": cal_id, "days": [_day_view(calendar, start + dt.timedelta(days=i))
                                                 for i in range(q["days"])]})


def _day_view(calendar: Calendar, day: dt.date) -> dict[str, Any]:
    d = cal.decide(calendar, dt.datetime.combine(day, dt.time(12, 0)))
    if d.reason == "override":
        override = calendar.override_for(day)
        hours: tuple[Any, ...] = override.hours if override is not None else ()
    elif d.reason == "holiday":
        hours = ()
    elif d.reason == "adjusted_workday":
        hours = tuple(calendar.adjusted_workday_hours())
    else:
        hours = tuple(calendar.weekly[day.weekday()])
    return {"date": day.isoformat(), "weekday": day.weekday(), "open": bool(hours),
            "reason": d.reason, "reason_text": _WEEKDAY_REASON.get(d.reason, d.reason),
            "hours": [str(h) for h in hours], "note": d.note, "degraded": d.degraded}


# -- caller lists (deputies) ----------------------------------------------------------
@routes.get("/api/admin/lists/{id}", summary="号码名单（如人大代表名单）", role=Role.ADMIN, response=LIST_SCHEMA,
            errors=(404,))
async def admin_list(request: web.Request) -> web.Response:
    list_id, files = request.match_info["id"], request.app[IVR_FILES]
    path, caller_list, problems = await files.read_list(list_id)
    await _audit(request, "list.read", f"list:{list_id}", {"entries": len(caller_list.entries)})
    return json_ok({"id": list_id, "file": files.rel(path),
                    "entries": [{"number": e.number, "name": e.name, "note": e.note, "line": e.line}
                                for e in caller_list.entries],
                    "problems": [line_problem(p) for p in problems]})


@routes.post("/api/admin/lists/{id}/import", summary="导入号码名单 CSV（逐行报告错误；下次发布生效）",
             role=Role.ADMIN, request=IMPORT_BODY, response=IMPORT_SCHEMA, errors=(404,))
async def admin_list_import(request: web.Request) -> web.Response:
    list_id, data = request.match_info["id"], body(request)
    caller_list, problems = await request.app[IVR_FILES].import_list(list_id, data["csv"],
                                                                     skip_bad=bool(data.get("skip_bad")))
    report = [line_problem(p) for p in problems]
    await _audit(request, "list.import", f"list:{list_id}",
                 {"entries": len(caller_list.entries), "skipped_lines": [r["line"] for r in report]})
    return json_ok({"count": len(caller_list.entries), "skipped": report, "applies": "next_publish"})


# -- external transfer numbers -----------------------------------------------------
@routes.get("/api/admin/transfers", summary="外部转接号码", role=Role.ADMIN, response=TRANSFERS_SCHEMA,
            errors=(503,))
async def admin_transfers(request: web.Request) -> web.Response:
    return json_ok({**await request.app[AGENT_FILES].transfers(), "applies": "now"})


@routes.put("/api/admin/transfers", summary="保存外部转接号码", role=Role.ADMIN, request=TRANSFERS_BODY,
            response=TRANSFERS_SCHEMA, errors=(503,))
async def admin_save_transfers(request: web.Request) -> web.Response:
    files = request.app[AGENT_FILES]
    old, items = await files.save_transfers(body(request)["targets"])
    await _audit(request, "config.transfers.update", files.rel(files.transfers_path),
                 {"before": [f"{t['id']}={t['number']}" for t in old],
                  "after": [f"{t['id']}={t['number']}" for t in items]})
    return json_ok({**await files.transfers(), "applies": "now"})
