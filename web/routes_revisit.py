"""Satisfaction callbacks (回访) on the web: the work-order system's closed-ticket webhook (signed,
no session), the campaign (pending / in progress / done / failed) and its page, the 回访满意率 for
reports and the wallboard, and the do-not-call list.

    app = create_app(..., routes=[revisit_routes(revisits)])
"""
from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from agents import revisit_plan as P
from agents.revisit import Revisits, RevisitWebhookError
from ivr.versions import VersionStore
from web.access import RouteBundle, RouteTable, actor, body, current_user, json_ok, query
from web.accounts import Role
from web.errors import ApiError
from web.routes_admin_ivr import PUBLISH_BODY, TREE_SCHEMA, VERSION_SCHEMA, ordered
from web.routes_pages import STATIC_DIR

REVISITS: web.AppKey[Revisits] = web.AppKey("revisits")
REVISIT_TREE: web.AppKey[VersionStore] = web.AppKey("revisit_tree")
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


def revisit_routes(revisits: Revisits, tree: VersionStore) -> RouteBundle:
    """``tree``: the revisit tree's published versions (walked by the IVR engine on each revisit call)."""
    return RouteBundle(routes, {REVISITS: revisits, REVISIT_TREE: tree})


@routes.get("/api/revisit/tree", summary="读取回访流程树（当前发布版本）", role=Role.ADMIN, response=TREE_SCHEMA,
            errors=(404,))
async def revisit_tree(request: web.Request) -> web.Response:
    versions = request.app[REVISIT_TREE]
    n = await versions.current_number()
    if n is None:
        raise ApiError(404, "not_found", "回访流程树尚未发布")
    info = (await versions.info(n)).to_dict()
    return json_ok({"version": {**info, "current": True}, "doc": ordered(await versions.document(n))})


@routes.post("/api/revisit/tree", summary="发布回访流程树（与来电流程树同一校验；有问题则拒绝并列出全部问题）",
             role=Role.ADMIN, status=201, request=PUBLISH_BODY, response=VERSION_SCHEMA, errors=(409,),
             audit="revisit.tree.publish",
             description="满意/基本满意/不满意由节点 satisfied / basic / unsatisfied 表示，opt_out 表示不再回访。")
async def revisit_tree_publish(request: web.Request) -> web.Response:
    data = body(request)
    info = await request.app[REVISIT_TREE].publish(data["doc"], current_user(request).username, data["comment"],
                                                   force=bool(data.get("republish")))
    return json_ok({**info.to_dict(), "current": True}, status=201)


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


@routes.post("/api/revisit/do-not-call", summary="加入免打扰号码（不再回访）", role=Role.ADMIN, request=DNC_SCHEMA,
             response={"type": "object"}, audit="revisit.do_not_call", errors=(400,))
async def revisit_do_not_call(request: web.Request) -> web.Response:
    revisits, b = request.app[REVISITS], body(request)
    v = revisits.outbound.check(b["number"])
    if not v.ok or not v.number:
        raise ApiError(400, "invalid_request", v.prompt or "号码格式不正确")
    await revisits.store.add_do_not_call(v.number, b.get("reason") or "admin", actor(request).who)
    return json_ok({"ok": True})


@routes.get("/revisit", summary="满意度回访页面", role=Role.SUPERVISOR, api=False, content_type="text/html")
async def revisit_page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC_DIR / "revisit.html", headers={"Cache-Control": "no-store"})
