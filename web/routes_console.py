"""The operator console's API: the seat (login, ready, pause, logout), the
call on screen (caller, lane, IVR path, wait, earlier tickets, the draft) and
confirming the draft ticket.

    app = create_app(..., routes=[console_routes(seats, router, tickets, calls)])

Who may do what is decided here, not in the page:
- an operator acts only as their own operator id (the account's
  `operator_id`) and only on the seat they are logged in to;
- a call and its ticket are shown to, and confirmed by, the operator the
  call was given to (not the next one at that seat); supervisors and admins
  reach any; earlier tickets the caller asked to keep confidential show as
  such, without title or category;
- every read of a call view (it holds the ticket) and every confirmation is
  written to the audit trail.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from agents.model import SeatStatus
from agents.service import Router, SeatService
from ivr.calls import CallRecords
from tickets.model import APPEAL_TYPES, URGENCIES
from tickets.store import Ticket, TicketNotFound, TicketStore
from web.access import RouteBundle, RouteTable, actor, body, current_user, json_ok, query
from web.accounts import Role, User
from web.errors import ApiError, forbidden, not_found
from web.keys import AUDIT, CALLS, ROUTER, SEATS, TICKETS

# -- schemas -------------------------------------------------------------------------
_ID = {"type": "string", "minLength": 1, "maxLength": 32, "pattern": r"^[A-Za-z0-9_.-]+$"}
SEAT_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["seat_id", "state", "operator_id", "since", "reason", "call_id", "lane"],
    "properties": {"seat_id": {"type": "string"}, "state": {"type": "string"}, "operator_id": {"type": "string"},
                   "since": {"type": "number"}, "idle_since": {"type": ["number", "null"]},
                   "reason": {"type": "string"}, "call_id": {"type": "string"}, "lane": {"type": "string"},
                   "wrap_until": {"type": ["number", "null"]}, "skills": {"type": "object"}},
}
CONSOLE_SEAT_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["seat", "operator_id", "pause_reasons", "wrap_up_s"],
    "properties": {"seat": {"oneOf": [SEAT_SCHEMA, {"type": "null"}]}, "operator_id": {"type": ["string", "null"]},
                   "pause_reasons": {"type": "array", "items": {"type": "string"}},
                   "wrap_up_s": {"type": "number"}},
}
LOGIN_SCHEMA = {"type": "object", "required": ["seat"], "additionalProperties": False,
                "properties": {"seat": _ID, "operator_id": _ID,
                               "pause_reason": {"type": "string", "minLength": 1, "maxLength": 20}}}
SEAT_ONLY_SCHEMA = {"type": "object", "additionalProperties": False, "properties": {"seat": _ID}}
PAUSE_SCHEMA = {"type": "object", "required": ["reason"], "additionalProperties": False,
                "properties": {"seat": _ID, "reason": {"type": "string", "minLength": 1, "maxLength": 20}}}
TICKET_BRIEF_SCHEMA = {"type": "object", "required": ["id", "status", "received_at", "confidential"],
                       "properties": {"id": {"type": "string"}, "status": {"type": "string"},
                                      "received_at": {"type": ["string", "null"]},
                                      "confidential": {"type": "boolean"}}}
CALL_VIEW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["call_id", "caller", "lane", "phase", "seat", "path", "waited_s", "earlier_tickets", "ticket"],
    "properties": {
        "call_id": {"type": "string"}, "caller": {"type": ["string", "null"]}, "lane": {"type": ["string", "null"]},
        "phase": {"type": ["string", "null"]}, "seat": {"type": ["string", "null"]},
        "path": {"type": "array"}, "waited_s": {"type": ["number", "null"]},
        "earlier_tickets": {"type": "array", "items": TICKET_BRIEF_SCHEMA},
        "ticket": {"type": ["object", "null"]},
    },
}
CONFIRM_SCHEMA = {"type": "object", "required": ["fields"], "additionalProperties": False,
                  "properties": {"fields": {"type": "object"}}}
TICKET_SCHEMA = {"type": "object", "required": ["id", "status", "confirmed", "corrections"],
                 "properties": {"id": {"type": "string"}, "status": {"type": "string"},
                                "confirmed": {"type": ["object", "null"]}, "corrections": {"type": "object"}}}


STATIC_DIR = Path(__file__).resolve().parent / "static"
TAXONOMY_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["categories", "districts", "appeal_types", "urgencies"],
    "properties": {
        "categories": {"type": "array", "items": {
            "type": "object", "required": ["name", "children"],
            "properties": {"name": {"type": "string"}, "children": {"type": "array", "items": {"type": "string"}}}}},
        "districts": {"type": "array", "items": {"type": "string"}},
        "appeal_types": {"type": "array", "items": {"type": "string"}},
        "urgencies": {"type": "array", "items": {"type": "string"}},
    },
}


def taxonomy_view(rules: Any) -> dict[str, Any]:
    """The pickers' choices from the ticket rules (config/tickets): categories (two levels), districts."""
    tax = rules.taxonomy
    return {"categories": [{"name": c, "children": list(tax.children.get(c, ()))} for c in tax.level1],
            "districts": list(rules.gazetteer.codes), "appeal_types": list(APPEAL_TYPES),
            "urgencies": list(URGENCIES)}


def _lane_label(router: Router, lane: str | None) -> str | None:
    got = router.rules.lanes.get(lane) if lane else None
    return getattr(got, "label", None) or lane


def _brief(t: Ticket, tz: Any) -> dict[str, Any]:
    """An earlier ticket of the caller, as the next operator sees it. A ticket the caller asked to
    keep confidential shows only that it exists (id, status, time), marked as such."""
    base = {"id": t.id, "call_id": t.call_id, "status": t.status, "received_at": t.to_dict(tz)["received_at"],
            "confidential": t.confidential}
    if t.confidential:
        return {**base, "title": None, "category": None, "district": None, "appeal_type": None}
    f = t.fields
    return {**base, "title": f.get("title"), "category": f.get("category"), "district": f.get("district"),
            "appeal_type": f.get("appeal_type")}


routes = RouteTable(tag="console")


def console_routes(seats: SeatService, router: Router, tickets: TicketStore, calls: CallRecords) -> RouteBundle:
    """The console's routes, bound to the routing and ticket services."""
    return RouteBundle(routes, {SEATS: seats, ROUTER: router, TICKETS: tickets, CALLS: calls})


def own_operator_id(user: User) -> str:
    if not user.operator_id:
        raise forbidden({"reason": "no_operator_id"})
    return user.operator_id


async def acting_seat(request: web.Request, given: str | None) -> str:
    """The seat a request acts on: an operator's own (the one they are logged in to);
    supervisors name one, or act on their own when they have an operator id."""
    user, store = current_user(request), request.app[SEATS].store
    if user.role is Role.OPERATOR:
        own = await store.operator_seat(own_operator_id(user))
        if given is not None and given != own:
            raise forbidden({"reason": "own_seat_only", "seat": given})
        if own is None:
            raise ApiError(409, "not_logged_in", "尚未登录坐席")
        return own
    if given is not None:
        return given
    own = await store.operator_seat(user.operator_id) if user.operator_id else None
    if own is None:
        raise ApiError(400, "seat_required", "请指定坐席")
    return own


async def may_handle_call(request: web.Request, call_id: str) -> None:
    """Operators: only the operator the call was given to (the routing engine records who was
    at the seat), not whoever sits at that seat later; supervisors and admins by role."""
    user = current_user(request)
    if user.role is not Role.OPERATOR:
        return
    op = own_operator_id(user)
    st = await request.app[ROUTER].call(call_id)
    if st is None or not st.operator_id or st.operator_id != op:
        raise forbidden({"reason": "not_your_call"})


def seat_view(request: web.Request, s: SeatStatus | None, operator_id: str | None) -> dict[str, Any]:
    config = request.app[SEATS].config
    return {"seat": s.to_dict() if s is not None else None, "operator_id": operator_id,
            "pause_reasons": [r.code for r in config.pause_reasons if not r.system],
            "wrap_up_s": config.wrap_up_s}


async def seat_action(request: web.Request, action: str) -> web.Response:
    data, seats = body(request) or {}, request.app[SEATS]
    seat_id = await acting_seat(request, data.get("seat"))
    if action == "ready":
        st = await seats.ready(seat_id)
    elif action == "pause":
        st = await seats.pause(seat_id, data["reason"])
    elif action == "wrap_up":
        st = await seats.wrap_up(seat_id)
    else:
        st = await seats.logout(seat_id)
    return json_ok(seat_view(request, st, st.operator_id or None))


@routes.get("/console", summary="坐席工作台页面", role=Role.OPERATOR, api=False, content_type="text/html")
async def console_page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC_DIR / "console.html", headers={"Cache-Control": "no-store"})


@routes.get("/api/console/taxonomy", summary="工单选项：诉求分类（两级）、属地、诉求类型、紧急程度",
            role=Role.OPERATOR, response=TAXONOMY_SCHEMA)
async def console_taxonomy(request: web.Request) -> web.Response:
    return json_ok(taxonomy_view(request.app[TICKETS].rules()))


@routes.post("/api/console/seat/login", summary="登录坐席（话务员只能以本人工号登录）", role=Role.OPERATOR,
             request=LOGIN_SCHEMA, response=CONSOLE_SEAT_SCHEMA, errors=(400, 404, 409))
async def console_seat_login(request: web.Request) -> web.Response:
    user, data = current_user(request), body(request)
    operator_id = data.get("operator_id")
    if user.role is Role.OPERATOR:
        own = own_operator_id(user)
        if operator_id is not None and operator_id != own:
            raise forbidden({"reason": "own_operator_only", "operator_id": operator_id})
        operator_id = own
    elif operator_id is None:
        operator_id = own_operator_id(user) if user.operator_id else None
        if operator_id is None:
            raise ApiError(400, "operator_required", "请指定话务员工号")
    st = await request.app[SEATS].login(data["seat"], operator_id, pause_reason=data.get("pause_reason"))
    await request.app[AUDIT].record(actor(request), "seat.login", f"seat:{data['seat']}",
                                    {"operator_id": operator_id})
    return json_ok(seat_view(request, st, operator_id))


@routes.post("/api/console/seat/ready", summary="示闲（结束暂停或提前结束话后整理）", role=Role.OPERATOR,
             request=SEAT_ONLY_SCHEMA, response=CONSOLE_SEAT_SCHEMA, errors=(400, 404, 409))
async def console_seat_ready(request: web.Request) -> web.Response:
    return await seat_action(request, "ready")


@routes.post("/api/console/seat/pause", summary="示忙（暂停，须选择原因）", role=Role.OPERATOR,
             request=PAUSE_SCHEMA, response=CONSOLE_SEAT_SCHEMA, errors=(400, 404, 409))
async def console_seat_pause(request: web.Request) -> web.Response:
    return await seat_action(request, "pause")


@routes.post("/api/console/seat/wrap_up", summary="话后整理（重新计时）", role=Role.OPERATOR,
             request=SEAT_ONLY_SCHEMA, response=CONSOLE_SEAT_SCHEMA, errors=(400, 404, 409))
async def console_seat_wrap_up(request: web.Request) -> web.Response:
    return await seat_action(request, "wrap_up")


@routes.post("/api/console/seat/logout", summary="退出坐席", role=Role.OPERATOR,
             request=SEAT_ONLY_SCHEMA, response=CONSOLE_SEAT_SCHEMA, errors=(400, 404, 409))
async def console_seat_logout(request: web.Request) -> web.Response:
    response = await seat_action(request, "logout")
    await request.app[AUDIT].record(actor(request), "seat.logout", "seat", {})
    return response


@routes.get("/api/console/seat", summary="本人坐席状态（班长可查看指定坐席）", role=Role.OPERATOR,
            response=CONSOLE_SEAT_SCHEMA, query={"seat": _ID}, errors=(404,))
async def console_seat(request: web.Request) -> web.Response:
    user, given = current_user(request), query(request).get("seat")
    seats = request.app[SEATS]
    if user.role is Role.OPERATOR:
        own = await seats.store.operator_seat(own_operator_id(user))
        if given is not None and given != own:
            raise forbidden({"reason": "own_seat_only", "seat": given})
        st = await seats.status(own) if own else None
        return json_ok(seat_view(request, st, user.operator_id))
    seat_id = given or (await seats.store.operator_seat(user.operator_id) if user.operator_id else None)
    if seat_id is None:
        return json_ok(seat_view(request, None, user.operator_id))
    st = await seats.status(seat_id)
    return json_ok(seat_view(request, st, st.operator_id or None))


@routes.get("/api/console/call/{call_id}", summary="来电弹屏：来电号码、队列、IVR 路径、等待时长、历史工单、工单草稿",
            role=Role.OPERATOR, response=CALL_VIEW_SCHEMA, errors=(404,),
            description="话务员只能查看本人坐席的通话；每次查看写入审计（工单访问）。")
async def console_call(request: web.Request) -> web.Response:
    call_id = request.match_info["call_id"]
    router, tickets = request.app[ROUTER], request.app[TICKETS]
    await may_handle_call(request, call_id)
    st = await router.call(call_id)
    record = await request.app[CALLS].get(call_id)
    if st is None and record is None:
        raise not_found("call", {"call_id": call_id})
    record = record or {}
    caller = (st.caller if st is not None else None) or record.get("caller") or None
    ticket = await tickets.get_by_call(call_id)
    earlier = [t for t in await tickets.list_by_caller(caller, limit=20) if t.call_id != call_id]
    waited = None
    if st is not None and st.arrived_at:
        until = float(record["answered"]) if record.get("answered") else request.app[SEATS].store.clock()
        waited = round(max(0.0, until - st.arrived_at), 1)
    view = {
        "call_id": call_id, "caller": caller, "lane": st.lane if st is not None else None,
        "lane_label": _lane_label(router, st.lane if st is not None else None),
        "phase": st.phase.value if st is not None else record.get("status"),
        "seat": (st.seat_id or None) if st is not None else record.get("seat"),
        "path": record.get("path") if isinstance(record.get("path"), list) else [],
        "waited_s": waited, "started": record.get("started"), "did": record.get("did"),
        "earlier_tickets": [_brief(t, tickets.tz) for t in earlier],
        "ticket": ticket.to_dict(tickets.tz) if ticket is not None else None,
    }
    await request.app[AUDIT].record(actor(request), "ticket.read", f"call:{call_id}",
                                    {"ticket": ticket.id if ticket else None,
                                     "earlier": [t.id for t in earlier]})
    return json_ok(view)


@routes.post("/api/tickets/{id}/confirm", summary="确认工单（可修改字段；记录更正）", role=Role.OPERATOR,
             request=CONFIRM_SCHEMA, response=TICKET_SCHEMA, errors=(400, 404, 409))
async def confirm_ticket(request: web.Request) -> web.Response:
    ticket_id, user, tickets = request.match_info["id"], current_user(request), request.app[TICKETS]
    try:
        ticket = await tickets.get(ticket_id)
    except TicketNotFound:
        raise not_found("ticket", {"id": ticket_id}) from None
    await may_handle_call(request, ticket.call_id)
    who = user.operator_id or user.username
    done = await tickets.confirm(ticket_id, who, body(request)["fields"])
    await request.app[AUDIT].record(actor(request), "ticket.confirm", f"ticket:{ticket_id}",
                                    {"call_id": done.call_id, "corrected": sorted(done.corrections)})
    return json_ok(done.to_dict(tickets.tz))
