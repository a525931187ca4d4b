"""Satisfaction callbacks (回访) on the web: the work-order system's closed-ticket webhook (signed,
no session), the campaign (pending / in progress / done / failed) and its page, the 回访满意率 for
reports and the wallboard, and the do-not-call list (免打扰: supervisors see it masked, admins
manage it). The revisit tree is edited in the admin's editor (/api/admin/ivr/*?tree=revisit);
/api/revisit/tree is the same tree's current version and publication, kept for scripts.

    app = create_app(..., routes=[revisit_routes(revisits, editable.get("revisit"))])
"""
from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from agents import revisit_plan as P
from agents.revisit import Revisits, RevisitWebhookError
from kernel.privacy import mask_number
from web.access import RouteBundle, RouteTable, actor, body, current_user, json_ok, query
from web.accounts import Role
from web.errors import ApiError
from web.ivr_trees import EditableTree
from web.keys import AUDIT
from web.routes_admin_ivr import PUBLISH_BODY, TREE_SCHEMA, VERSION_SCHEMA, publish_tree, tree_reply
from web.routes_pages import STATIC_DIR

REVISITS: web.AppKey[Revisits] = web.AppKey("revisits")
REVISIT_TREE: web.AppKey[EditableTree] = web.AppKey("revisit_tree")
routes = RouteTable(tag="revisit")
DATE = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "description": "YYYY-MM-DD（热线所在时区）"}

CLOSED_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["event_id", "ticket_id"],
    "properties": {"event_id": {"type": "string", "minLength": 1, "maxLength": 200},
                   "ticket_id": {"type": "string", "minLength": 1, "maxLength": 80},
                   "closed_at": {"type": "string", "description": "ISO 8601；缺省为收到时"},
                   "callback_number": {"type": "string", "maxLength": 30},
                   "no_revisit": {"type": "boolean", "description": "来电人要求不回访"},
                   "agrees_callback": {"type": "boolean"},
                   "confidential": {"type": "boolean"},
                   "handling": {"type": "string", "description": "办理结果（记入任务）"}}}
CLOSED_REPLY: dict[str, Any] = {
    "type": "object", "required": ["ticket_id", "state", "duplicate"],
    "properties": {"ticket_id": {"type": "string"}, "state": {"type": ["string", "null"]},
                   "reason": {"type": ["string", "null"]}, "next_at": {"type": ["string", "null"]},
                   "duplicate": {"type": "boolean"}}}
SUMMARY_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["states", "results", "satisfaction_rate"],
    "properties": {"states": {"type": "object"}, "results": {"type": "object"},
                   "satisfaction_rate": {"type": ["number", "null"]}, "unsatisfied_rate": {"type": ["number", "null"]},
                   "reopened": {"type": "integer"}}}
CAMPAIGN_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["summary", "tasks"],
    "properties": {"summary": SUMMARY_SCHEMA, "tasks": {"type": "array", "items": {"type": "object"}}}}
DNC_SCHEMA: dict[str, Any] = {"type": "object", "required": ["number"],
                              "properties": {"number": {"type": "string", "minLength": 1, "maxLength": 30},
                                             "reason": {"type": "string", "maxLength": 200}}}


DNC_LIST_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["entries", "total", "masked"],
    "properties": {"total": {"type": "integer"}, "masked": {"type": "boolean", "description": "号码已隐去中间几位（班长）"},
                   "entries": {"type": "array", "items": {
                       "type": "object", "required": ["number", "reason", "reason_label", "added_at", "added_by"],
                       "properties": {"number": {"type": "string"}, "reason": {"type": "string"},
                                      "reason_label": {"type": "string"}, "added_at": {"type": ["string", "null"]},
                                      "added_by": {"type": "string"}}}}}}
DNC_REASONS = {"admin": "管理员添加", "asked_in_revisit": "回访中本人要求不再回访"}
_LISTED = re.compile(r"^\+?[0-9]{3,24}$")       # a number as the list keeps it (canonical digits)


def revisit_routes(revisits: Revisits, tree: EditableTree) -> RouteBundle:
    """``tree``: the revisit tree as the editor's registry holds it (its published versions, walked
    by the IVR engine on each revisit call)."""
    return RouteBundle(routes, {REVISITS: revisits, REVISIT_TREE: tree})


@routes.get("/api/revisit/tree", summary="读取回访流程树（当前发布版本；编辑请用 /api/admin/ivr/tree?tree=revisit）",
            role=Role.ADMIN, response=TREE_SCHEMA, errors=(404,))
async def revisit_tree(request: web.Request) -> web.Response:
    return json_ok(await tree_reply(request.app[REVISIT_TREE]))


@routes.post("/api/revisit/tree", summary="发布回访流程树（与 /api/admin/ivr/publish?tree=revisit 相同；有问题则拒绝并列出全部问题）",
             role=Role.ADMIN, status=201, request=PUBLISH_BODY, response=VERSION_SCHEMA, errors=(409,),
             description="满意/基本满意/不满意由节点 satisfied / basic / unsatisfied 表示，opt_out 表示不再回访。")
async def revisit_tree_publish(request: web.Request) -> web.Response:
    return await publish_tree(request, request.app[REVISIT_TREE], body(request))


@routes.post("/api/revisit/closed", summary="工单系统回调：工单已办结，安排满意度回访（HMAC 签名）", role=None,
             csrf=False, response=CLOSED_REPLY, status=202, errors=(400, 401, 404),
             description="头 X-Hotline-Timestamp（Unix 秒）与 X-Hotline-Signature: sha256=hex(HMAC-SHA256(密钥, "
                         "时间戳 + '.' + 请求体))；同一工单或事件重复推送只安排一次。")
async def revisit_closed(request: web.Request) -> web.Response:
    revisits = request.app[REVISITS]
    raw = await request.read()
    try:
        revisits.authenticate(request.headers.get(P.TIMESTAMP_HEADER), request.headers.get(P.SIGNATURE_HEADER), raw)
        try:
            payload = json.loads(raw or b"{}")
        except ValueError:
            raise RevisitWebhookError(400, "invalid_request", "请求体不是 JSON") from None
        if not isinstance(payload, dict):
            raise RevisitWebhookError(400, "invalid_request", "请求体应为对象")
        got = await revisits.closed(payload)
    except RevisitWebhookError as exc:
        raise ApiError(exc.status, exc.code, str(exc)) from None
    return json_ok(got, status=200 if got["duplicate"] else 202)


@routes.get("/api/revisit/campaign", summary="回访任务：待回访、回访中、已完成、失败", role=Role.SUPERVISOR,
            response=CAMPAIGN_SCHEMA)
async def revisit_campaign(request: web.Request) -> web.Response:
    return json_ok(await request.app[REVISITS].campaign())


@routes.get("/api/revisit/summary", summary="回访满意率、不满意率（报表与大屏），按工单办结时间统计",
            role=Role.SUPERVISOR, response=SUMMARY_SCHEMA, errors=(400,),
            query={"days": {"type": "integer", "minimum": 1, "maximum": 400, "default": 30},
                   "from": DATE, "to": DATE},
            description="给出 from/to（含）时按日期统计，否则统计最近 days 天。")
async def revisit_summary(request: web.Request) -> web.Response:
    q, revisits = query(request), request.app[REVISITS]
    tz = ZoneInfo(revisits.policy.timezone)
    if q.get("from") or q.get("to"):
        try:
            lo = dt.datetime.fromisoformat(q["from"]).replace(tzinfo=tz) if q.get("from") else None
            hi = (dt.datetime.fromisoformat(q["to"]).replace(tzinfo=tz) + dt.timedelta(days=1)) if q.get("to") else None
        except ValueError:
            raise ApiError(400, "invalid", "日期无效", {"problems": [{"field": "from/to", "message": "not a date"}]}) \
                from None
        return json_ok(await revisits.summary(lo, hi))
    return json_ok(await revisits.summary(dt.datetime.now(dt.UTC) - dt.timedelta(days=int(q["days"]))))


@routes.get("/api/revisit/do-not-call", summary="免打扰号码（不再回访）：班长看到隐去中间几位的号码，管理员看到完整号码",
            role=Role.SUPERVISOR, response=DNC_LIST_SCHEMA,
            query={"limit": {"type": "integer", "minimum": 1, "maximum": 2000, "default": 500}})
async def revisit_do_not_call_list(request: web.Request) -> web.Response:
    masked = current_user(request).role < Role.ADMIN
    rows, total = await request.app[REVISITS].store.list_do_not_call(int(query(request)["limit"]))
    entries = [{"number": mask_number(r["number"]) if masked else r["number"], "reason": r["reason"],
                "reason_label": DNC_REASONS.get(r["reason"], r["reason"]), "added_at": _iso(r["added_at"]),
                "added_by": r["added_by"] or ""} for r in rows]
    return json_ok({"entries": entries, "total": total, "masked": masked})


@routes.post("/api/revisit/do-not-call", summary="加入免打扰号码（不再回访）", role=Role.ADMIN, request=DNC_SCHEMA,
             response={"type": "object", "required": ["ok", "added", "number"],
                       "properties": {"ok": {"type": "boolean"}, "number": {"type": "string"},
                                      "added": {"type": "boolean", "description": "false：号码已在名单中"}}},
             errors=(400,))
async def revisit_do_not_call(request: web.Request) -> web.Response:
    revisits, b = request.app[REVISITS], body(request)
    v = revisits.outbound.check(b["number"])
    if not v.ok or not v.number:
        raise ApiError(400, "invalid_request", v.prompt or "号码格式不正确")
    reason = (b.get("reason") or "").strip() or "admin"
    added = await revisits.store.add_do_not_call(v.number, reason, actor(request).who)
    await request.app[AUDIT].record(actor(request), "revisit.do_not_call", f"do_not_call:{mask_number(v.number)}",
                                    {"reason": reason[:80], "added": added})
    return json_ok({"ok": True, "added": added, "number": v.number})


@routes.delete("/api/revisit/do-not-call", summary="移出免打扰号码（可以再次回访）", role=Role.ADMIN, status=204,
               query={"number": {"type": "string", "minLength": 1, "maxLength": 30}}, errors=(400, 404))
async def revisit_do_not_call_remove(request: web.Request) -> web.Response:
    revisits, raw = request.app[REVISITS], str(query(request).get("number") or "").strip()
    v = revisits.outbound.check(raw)
    number = v.number if v.ok and v.number else raw if _LISTED.match(raw) else None
    if number is None:
        raise ApiError(400, "invalid_request", v.prompt or "号码格式不正确")
    gone = await revisits.store.remove_do_not_call(number)
    if gone is None:
        raise ApiError(404, "not_found", "该号码不在免打扰名单中")
    await request.app[AUDIT].record(actor(request), "revisit.do_not_call_remove", f"do_not_call:{mask_number(number)}",
                                    {"reason": str(gone["reason"])[:80], "added_by": gone["added_by"] or ""})
    return web.Response(status=204)


def _iso(v: Any) -> str | None:
    return v.isoformat() if isinstance(v, dt.datetime) else None


@routes.get("/revisit", summary="满意度回访页面", role=Role.SUPERVISOR, api=False, content_type="text/html")
async def revisit_page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC_DIR / "revisit.html", headers={"Cache-Control": "no-store"})
