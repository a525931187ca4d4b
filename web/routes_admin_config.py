"""The admin's configuration API: seats and operators (with their skills),
calendar overrides (closures, special hours, the official holiday and
adjusted-working-day schedule) and the calendar as it will be applied, the
caller lists (the deputies list, CSV import with a per-line error report)
and the external transfer numbers.

    app = create_app(..., routes=[admin_config_routes(versions, base_dir, seats_file, transfers_file)])

Lanes and the calendars' weekly hours are part of the IVR tree: the admin
page edits them in the tree and publishes it (web.routes_admin_ivr). Files
written here are checked with the same readers the controller uses, written
atomically (the previous content kept as ``.prev``) and every change is
audited. Caller lists and calendar overrides are read when a tree version
is loaded: they apply from the next publish (``republish`` when the tree
itself did not change); seats and operators apply when the controller
restarts; transfer numbers at once (the console's transfer service reads
the file again when it changes, agents.transfer.TransfersFile).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import re
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from agents.config import parse_seats
from agents.errors import ConfigInvalid
from agents.transfer import parse_transfers
from ivr import calendar as cal
from ivr.loader import load_data
from ivr.numbers import decode_list_bytes, parse_caller_list
from ivr.problems import Problem
from ivr.versions import VersionError, VersionStore
from web.access import RouteTable, actor, body, json_ok, query
from web.accounts import Role
from web.admin_files import block, leading_comments, list_csv, replace_blocks, write_atomic
from web.errors import ApiError, not_found

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

TRANSFERS_HEADER = """\
# External transfer numbers shown on the operator console (kept by admins in the web page).
# targets: id, name (zh-CN label), number (dialled through transfer.dial), three_way
# (true: a three-way call, the operator stays on the line, e.g. 110/119/120/122).
"""
_WEEKDAY_REASON = {"override": "特殊安排", "holiday": "法定节假日", "adjusted_workday": "调休上班", "weekly": "常规"}


def config_invalid(problems: list) -> ApiError:
    views = [p.to_dict() if isinstance(p, Problem) else p for p in problems]
    return ApiError(400, "config_invalid", f"配置有 {len(views)} 处问题，未保存", {"problems": views})


def _rel(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def admin_config_routes(versions: VersionStore, base_dir: Path, seats_file: Path,
                        transfers_file: Path | None = None) -> RouteTable:
    routes = RouteTable(tag="admin-config")
    base = Path(base_dir).resolve()
    seats_path = Path(seats_file)
    transfers_path = Path(transfers_file) if transfers_file else base / "transfers.yaml"
    lock = asyncio.Lock()                       # one writer of these files at a time (per process)

    async def audit(request: web.Request, action: str, target: str, details: dict[str, Any]) -> None:
        from web.keys import AUDIT
        await request.app[AUDIT].record(actor(request), action, target, details)

    async def current_doc() -> dict[str, Any]:
        n = await versions.current_number()
        if n is None:
            return {}
        try:
            doc = await versions.document(n)
        except VersionError:
            return {}
        return doc if isinstance(doc, dict) else {}

    def inside(rel: str) -> Path:
        p = (base / rel).resolve()
        if base not in p.parents:
            raise ApiError(400, "bad_path", "文件路径不在配置目录内", {"file": rel})
        return p

    # -- seats and operators ---------------------------------------------------------
    def read_seats_data() -> dict[str, Any]:
        try:
            data = yaml.safe_load(seats_path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ApiError(503, "config_unreadable", "坐席配置文件无法读取", {"detail": str(exc)}) from None
        return data if isinstance(data, dict) else {}

    async def lanes_view() -> list[dict[str, Any]]:
        lanes = (await current_doc()).get("lanes") or {}
        return [{"id": k, "label": (v or {}).get("label", k) if isinstance(v, dict) else k} for k, v in lanes.items()]

    def seats_view(data: dict[str, Any]) -> dict[str, Any]:
        seats = [{k: str(v) for k, v in s.items() if k in ("id", "name", "username")}
                 for s in data.get("seats") or [] if isinstance(s, dict)]
        ops = [{"id": str(o.get("id")), "name": str(o.get("name", "")),
                "skills": {str(k): v for k, v in (o.get("skills") or {}).items()}}
               for o in data.get("operators") or [] if isinstance(o, dict)]
        return {"seats": seats, "operators": ops}

    @routes.get("/api/admin/seats", summary="坐席与话务员（含技能）", role=Role.ADMIN, response=SEATS_SCHEMA,
                errors=(503,))
    async def admin_seats(request: web.Request) -> web.Response:
        view = seats_view(await asyncio.to_thread(read_seats_data))
        return json_ok({**view, "lanes": await lanes_view(), "applies": "restart"})

    @routes.put("/api/admin/seats", summary="保存坐席与话务员（重启后生效）", role=Role.ADMIN, request=SEATS_BODY,
                response=SEATS_SCHEMA, errors=(503,))
    async def admin_save_seats(request: web.Request) -> web.Response:
        data = body(request)
        lanes = [ln["id"] for ln in await lanes_view()]
        async with lock:
            old = await asyncio.to_thread(read_seats_data)
            secrets = {str(s.get("id")): s["secret"] for s in old.get("seats") or []
                       if isinstance(s, dict) and s.get("secret")}
            seats = [{**s, **({"secret": secrets[s["id"]]} if s["id"] in secrets else {})} for s in data["seats"]]
            ops = [{"id": o["id"], "name": o["name"], "skills": o.get("skills", {})} for o in data["operators"]]
            try:
                parse_seats({**old, "seats": seats, "operators": ops}, lanes or None, str(seats_path))
            except ConfigInvalid as exc:
                raise config_invalid(exc.problems) from None
            text = seats_path.read_text(encoding="utf-8")
            new_text = replace_blocks(text, {"seats": block("seats", seats), "operators": block("operators", ops)})
            await asyncio.to_thread(write_atomic, seats_path, new_text)
        before = seats_view(old)
        await audit(request, "config.seats.update", _rel(seats_path, base), {
            "seats": len(seats), "operators": len(ops),
            "seats_added": sorted({s["id"] for s in seats} - {s["id"] for s in before["seats"]}),
            "seats_removed": sorted({s["id"] for s in before["seats"]} - {s["id"] for s in seats}),
            "operators_added": sorted({o["id"] for o in ops} - {o["id"] for o in before["operators"]}),
            "operators_removed": sorted({o["id"] for o in before["operators"]} - {o["id"] for o in ops})})
        view = seats_view(await asyncio.to_thread(read_seats_data))
        return json_ok({**view, "lanes": await lanes_view(), "applies": "restart"})

    # -- calendars -------------------------------------------------------------------
    async def overrides_path() -> Path:
        for c in ((await current_doc()).get("calendars") or {}).values():
            if isinstance(c, dict) and isinstance(c.get("overrides"), str):
                return inside(c["overrides"])
        return inside("calendars/overrides.yaml")

    def read_overrides(path: Path) -> dict[str, Any]:
        if not path.exists():
            return {}
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ApiError(503, "config_unreadable", "日历文件无法读取", {"detail": str(exc)}) from None
        return data if isinstance(data, dict) else {}

    def plain(v: Any) -> Any:
        if isinstance(v, (dt.date, dt.datetime)):
            return v.isoformat()
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v

    @routes.get("/api/admin/calendars", summary="工作日历与特殊安排（节假日、调休、临时停业）", role=Role.ADMIN,
                response=CALENDARS_SCHEMA, errors=(503,))
    async def admin_calendars(request: web.Request) -> web.Response:
        path = await overrides_path()
        data = plain(await asyncio.to_thread(read_overrides, path))
        return json_ok({"file": _rel(path, base), "calendars": (await current_doc()).get("calendars") or {},
                        "overrides": data.get("overrides") or [], "cn_years": data.get("cn_years") or {},
                        "applies": "next_publish"})

    @routes.put("/api/admin/calendars/overrides", summary="保存特殊安排与节假日/调休安排（下次发布生效）",
                role=Role.ADMIN, request=OVERRIDES_BODY, response=CALENDARS_SCHEMA, errors=(503,))
    async def admin_save_overrides(request: web.Request) -> web.Response:
        data = body(request)
        problems: list[Problem] = []
        cal.parse_override_items(data["overrides"], "overrides", problems, allow_calendars=True)
        cal.parse_cn_years(data.get("cn_years") or {}, "cn_years", problems)
        known = set(((await current_doc()).get("calendars") or {}))
        for i, item in enumerate(data["overrides"]):
            for name in item.get("calendars", []):
                if known and name not in known:
                    problems.append(Problem(f"overrides.{i}.calendars", "unknown_calendar", f"unknown calendar {name!r}"))
        if problems:
            raise config_invalid(problems)
        path = await overrides_path()
        async with lock:
            header = leading_comments(path.read_text(encoding="utf-8")) if path.exists() else ""
            items = [{k: item[k] for k in ("date", "closed", "hours", "calendars", "note") if k in item}
                     for item in data["overrides"]]
            years = {int(y): {k: v for k, v in spec.items()} for y, spec in (data.get("cn_years") or {}).items()}
            text = header + block("overrides", items) + "cn_years:" + (
                " {}\n" if not years else "\n" + "".join(f"  {y}: {_flow(spec)}\n" for y, spec in sorted(years.items())))
            await asyncio.to_thread(write_atomic, path, text)
        await audit(request, "config.calendar.update", _rel(path, base),
                    {"overrides": len(items), "cn_years": sorted(years)})
        saved = plain(await asyncio.to_thread(read_overrides, path))
        return json_ok({"file": _rel(path, base), "calendars": (await current_doc()).get("calendars") or {},
                        "overrides": saved.get("overrides") or [], "cn_years": saved.get("cn_years") or {},
                        "applies": "next_publish"})

    @routes.get("/api/admin/calendars/{id}/days", summary="按日查看工作日历（节假日、调休、特殊安排的结果）",
                role=Role.ADMIN, response=DAYS_SCHEMA, errors=(404,),
                query={"start": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
                       "days": {"type": "integer", "minimum": 1, "maximum": 400, "default": 31}})
    async def admin_calendar_days(request: web.Request) -> web.Response:
        cal_id, q = request.match_info["id"], query(request)
        doc = await current_doc()
        result = await asyncio.to_thread(load_data, doc, base_dir=base) if doc else None
        if result is None or result.tree is None or cal_id not in result.tree.calendars:
            raise not_found("calendar", {"id": cal_id})
        calendar = result.tree.calendars[cal_id]
        try:
            start = dt.date.fromisoformat(q["start"]) if q.get("start") else dt.datetime.now(
                cal.zone(calendar.timezone)).date()
        except ValueError:
            raise ApiError(400, "invalid_date", "日期格式不正确") from None
        out = []
        if start.year < 1900 or start.year > 2999:
            raise ApiError(400, "invalid_date", "日期超出范围（1900–2999 年）")
        for i in range(q["days"]):
            day = start + dt.timedelta(days=i)
            d = cal.decide(calendar, dt.datetime.combine(day, dt.time(12, 0)))
            if d.reason == "override":
                hours = calendar.override_for(day).hours
            elif d.reason == "holiday":
                hours = ()
            elif d.reason == "adjusted_workday":
                hours = calendar.adjusted_workday_hours()
            else:
                hours = calendar.weekly[day.weekday()]
            out.append({"date": day.isoformat(), "weekday": day.weekday(), "open": bool(hours),
                        "reason": d.reason, "reason_text": _WEEKDAY_REASON.get(d.reason, d.reason),
                        "hours": [str(h) for h in hours], "note": d.note, "degraded": d.degraded})
        return json_ok({"calendar": cal_id, "days": out})

    # -- caller lists (deputies) ----------------------------------------------------------
    async def list_path(list_id: str) -> Path:
        ref = ((await current_doc()).get("lists") or {}).get(list_id)
        file = ref.get("file") if isinstance(ref, dict) else ref
        if not isinstance(file, str):
            raise not_found("list", {"id": list_id})
        return inside(file)

    @routes.get("/api/admin/lists/{id}", summary="号码名单（如人大代表名单）", role=Role.ADMIN, response=LIST_SCHEMA,
                errors=(404,))
    async def admin_list(request: web.Request) -> web.Response:
        list_id = request.match_info["id"]
        path = await list_path(list_id)
        raw = await asyncio.to_thread(path.read_bytes) if path.exists() else b""
        caller_list, problems = parse_caller_list(decode_list_bytes(raw), list_id=list_id)
        await audit(request, "list.read", f"list:{list_id}", {"entries": len(caller_list.entries)})
        return json_ok({"id": list_id, "file": _rel(path, base),
                        "entries": [{"number": e.number, "name": e.name, "note": e.note, "line": e.line}
                                    for e in caller_list.entries],
                        "problems": [_line_problem(p) for p in problems]})

    @routes.post("/api/admin/lists/{id}/import", summary="导入号码名单 CSV（逐行报告错误；下次发布生效）",
                 role=Role.ADMIN, request=IMPORT_BODY, response=IMPORT_SCHEMA, errors=(404,))
    async def admin_list_import(request: web.Request) -> web.Response:
        list_id, data = request.match_info["id"], body(request)
        path = await list_path(list_id)
        caller_list, problems = parse_caller_list(data["csv"], list_id=list_id)
        report = [_line_problem(p) for p in problems]
        if report and not data.get("skip_bad"):
            raise ApiError(400, "list_invalid", f"名单有 {len(report)} 行有误，未导入",
                           {"problems": report, "good": len(caller_list.entries)})
        if not caller_list.entries:
            raise ApiError(400, "list_empty", "名单中没有有效的号码，未导入", {"problems": report})
        async with lock:
            header = leading_comments(path.read_text(encoding="utf-8")) if path.exists() else ""
            text = list_csv(header, ((e.number, e.name, e.note) for e in caller_list.entries))
            await asyncio.to_thread(write_atomic, path, text)
        await audit(request, "list.import", f"list:{list_id}",
                    {"entries": len(caller_list.entries), "skipped_lines": [r["line"] for r in report]})
        return json_ok({"count": len(caller_list.entries), "skipped": report, "applies": "next_publish"})

    # -- external transfer numbers -----------------------------------------------------
    def read_transfers() -> dict[str, Any]:
        if not transfers_path.exists():
            return {}
        try:
            data = yaml.safe_load(transfers_path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ApiError(503, "config_unreadable", "转接号码文件无法读取", {"detail": str(exc)}) from None
        return data if isinstance(data, dict) else {}

    def read_targets() -> list[dict[str, Any]]:
        out = []
        for t in read_transfers().get("targets") or []:
            if isinstance(t, dict) and t.get("id") is not None:
                item = {"id": str(t["id"]), "name": str(t.get("name") or t.get("label") or t["id"]),
                        "number": str(t.get("number", "")), "three_way": bool(t.get("three_way", False))}
                if isinstance(t.get("modes"), list):
                    item["modes"] = [str(m) for m in t["modes"]]
                out.append(item)
        return out

    async def transfers_view() -> dict[str, Any]:
        data = await asyncio.to_thread(read_transfers)
        ring = data.get("ring_s")
        return {"targets": await asyncio.to_thread(read_targets), "file": _rel(transfers_path, base),
                "ring_s": ring if isinstance(ring, int) else None, "applies": "now"}

    @routes.get("/api/admin/transfers", summary="外部转接号码", role=Role.ADMIN, response=TRANSFERS_SCHEMA,
                errors=(503,))
    async def admin_transfers(request: web.Request) -> web.Response:
        return json_ok(await transfers_view())

    @routes.put("/api/admin/transfers", summary="保存外部转接号码", role=Role.ADMIN, request=TRANSFERS_BODY,
                response=TRANSFERS_SCHEMA, errors=(503,))
    async def admin_save_transfers(request: web.Request) -> web.Response:
        targets = body(request)["targets"]
        items = [{"id": t["id"], "name": t["name"], "number": t["number"], "three_way": bool(t.get("three_way", False)),
                  **({"modes": t["modes"]} if t.get("modes") else {})} for t in targets]
        async with lock:
            data = await asyncio.to_thread(read_transfers)
            try:                                   # the reader the console's transfers use
                parse_transfers({**data, "targets": items}, str(transfers_path))
            except ConfigInvalid as exc:
                raise config_invalid([_text_problem(p) for p in exc.problems]) from None
            old = await asyncio.to_thread(read_targets)
            text = transfers_path.read_text(encoding="utf-8") if transfers_path.exists() else TRANSFERS_HEADER
            await asyncio.to_thread(write_atomic, transfers_path, replace_blocks(text, {"targets": block("targets", items)}))
        await audit(request, "config.transfers.update", _rel(transfers_path, base),
                    {"before": [f"{t['id']}={t['number']}" for t in old],
                     "after": [f"{t['id']}={t['number']}" for t in items]})
        return json_ok(await transfers_view())

    return routes


_LINE = re.compile(r"\.line\.(\d+)$")


def _line_problem(p: Problem) -> dict[str, Any]:
    m = _LINE.search(p.path)
    message = re.sub(r"^line \d+: ", "", p.message)
    if message == "no number":
        text = "缺少号码"
    elif "header" in message:
        text = "表头缺少号码列"
    elif p.code == "list_line" and "number" not in message.lower() and "digit" not in message.lower():
        text = "CSV 格式有误"
    else:
        text = "号码格式不正确"
    return {"line": int(m.group(1)) if m else None, "message": message, "text": text}


def _text_problem(p: Any) -> dict[str, str]:
    """A reader's "path: message" text problem as {path, message}."""
    if isinstance(p, Problem):
        return p.to_dict()
    path, sep, message = str(p).partition(": ")
    return {"path": path, "message": message} if sep and " " not in path else {"path": "", "message": str(p)}


def _flow(value: Any) -> str:
    from web.admin_files import flow
    return flow(value)
