"""The console's transfer and hang-up API: the external numbers an operator
may transfer to, transferring the call at the seat (blind, attended,
three-way), and hanging up (the operator's leg, or the transfer target's).

    app = create_app(..., routes=[transfer_routes(transfers, store, actions)])

Who may act on which call is decided here: an operator only on the call at
the seat they are logged in to (the seat and call are looked up server side;
naming another seat or call is refused); supervisors and admins name a seat
(or act on their own). Every transfer and hang-up is audited.

The transfer and the hang-up run on the node holding the call (its channels
are on that node's Asterisk), whichever node's web app the request reached:
agents/node_actions.py; a node that does not answer is a 503.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from agents.errors import AgentsError, UnknownSeat
from agents.node_actions import ActionRefused, BadAction, NodeActions, NodeUnavailable
from agents.store import RoutingStore
from agents.transfer import Mode, NotOnCall
from agents.transfer_service import TransferService
from web.access import RouteBundle, RouteTable, actor, body, current_user, json_ok
from web.accounts import Role
from web.errors import ApiError, forbidden
from web.keys import AUDIT, NODE_ACTIONS, ROUTING_STORE, TRANSFERS

_ID = {"type": "string", "minLength": 1, "maxLength": 32, "pattern": r"^[A-Za-z0-9_.-]+$"}
_CALL_ID = {"type": "string", "minLength": 1, "maxLength": 80, "pattern": r"^[A-Za-z0-9_.;-]+$"}
TARGET_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["id", "label", "number", "modes", "default_mode"],
    "properties": {"id": {"type": "string"}, "label": {"type": "string"}, "number": {"type": "string"},
                   "modes": {"type": "array", "items": {"type": "string", "enum": [m.value for m in Mode]}},
                   "default_mode": {"type": "string"}},
}
TARGETS_SCHEMA = {"type": "object", "required": ["targets"],
                  "properties": {"targets": {"type": "array", "items": TARGET_SCHEMA}}}
TRANSFER_BODY = {
    "type": "object", "required": ["target"], "additionalProperties": False,
    "properties": {"target": _ID, "mode": {"type": "string", "enum": [m.value for m in Mode]},
                   "seat": _ID, "call_id": _CALL_ID},
}
TRANSFER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "call_id", "seat_id", "by", "target", "number", "mode", "at", "state", "result"],
    "properties": {"id": {"type": "string"}, "call_id": {"type": "string"}, "seat_id": {"type": "string"},
                   "by": {"type": "string"}, "target": {"type": "string"}, "number": {"type": "string"},
                   "mode": {"type": "string"}, "at": {"type": "number"}, "state": {"type": "string"},
                   "result": {"type": "string"}, "answered_at": {"type": ["number", "null"]},
                   "operator_left_at": {"type": ["number", "null"]}, "ended_at": {"type": ["number", "null"]}},
}
HANGUP_BODY = {"type": "object", "additionalProperties": False,
               "properties": {"leg": {"type": "string", "enum": ["seat", "target"]}, "seat": _ID,
                              "call_id": _CALL_ID}}
HANGUP_SCHEMA = {"type": "object", "required": ["call_id", "leg"],
                 "properties": {"call_id": {"type": "string"}, "leg": {"type": "string"},
                                "transfer": {"type": ["string", "null"]}}}


routes = RouteTable(tag="console")


def transfer_routes(transfers: TransferService, store: RoutingStore, actions: NodeActions) -> RouteBundle:
    """``actions``: the node-action channel (the handlers "transfer" and "hangup" registered on every node)."""
    return RouteBundle(routes, {TRANSFERS: transfers, ROUTING_STORE: store, NODE_ACTIONS: actions})


async def call_node(store: RoutingStore, call_id: str | None) -> str:
    """The node holding the call ("" when none is recorded: this one)."""
    st = await store.call(call_id) if call_id else None
    return st.node if st is not None else ""


async def on_node(request: web.Request, node: str, action: str, payload: dict[str, Any]) -> Any:
    """Run a node action for a web request: the owner's refusal as its HTTP error, silence as a 503."""
    try:
        return await request.app[NODE_ACTIONS].call(node, action, payload, timeout=5)
    except NodeUnavailable as exc:
        raise ApiError(503, exc.error_id, exc.message, exc.details) from None
    except ActionRefused as exc:
        raise ApiError(exc.status, exc.error_id, exc.message, exc.details) from None
    except BadAction:                           # not served on that node (e.g. its feature is off)
        raise ApiError(409, "unsupported", "该节点不支持此操作", {"node": node, "action": action}) from None


async def seat_and_call(request: web.Request, data: dict[str, Any]) -> tuple[str, str | None]:
    """The seat acted on and the call at it. Operators: their own seat and its call only."""
    user, store = current_user(request), request.app[ROUTING_STORE]
    given_seat, given_call = data.get("seat"), data.get("call_id")
    if user.role is Role.OPERATOR:
        if not user.operator_id:
            raise forbidden({"reason": "no_operator_id"})
        seat_id = await store.operator_seat(user.operator_id)
        if given_seat is not None and given_seat != seat_id:
            raise forbidden({"reason": "own_seat_only", "seat": given_seat})
        if seat_id is None:
            raise ApiError(409, "not_logged_in", "尚未登录坐席")
    else:
        seat_id = given_seat or (await store.operator_seat(user.operator_id) if user.operator_id else None)
        if seat_id is None:
            raise ApiError(400, "seat_required", "请指定坐席")
    if seat_id not in store.config.seats:
        raise UnknownSeat(f"no seat {seat_id}", seat=seat_id)
    st = await store.seat(seat_id)
    if given_call is not None and given_call != st.call_id:
        if user.role is Role.OPERATOR:
            raise forbidden({"reason": "not_your_call", "call_id": given_call})
        raise NotOnCall(f"seat {seat_id} is not on call {given_call}", seat=seat_id, call_id=given_call)
    return seat_id, st.call_id or None


@routes.get("/api/console/transfer-targets", role=Role.OPERATOR, response=TARGETS_SCHEMA,
            summary="可转接的外部号码（12366、110 等，及允许的转接方式）")
async def console_transfer_targets(request: web.Request) -> web.Response:
    return json_ok({"targets": request.app[TRANSFERS].targets()})


@routes.post("/api/console/transfer", role=Role.OPERATOR, request=TRANSFER_BODY, response=TRANSFER_SCHEMA,
             errors=(400, 404, 409, 503), summary="转接本坐席的通话（盲转、咨询转、三方通话）",
             description="话务员只能转接本人坐席上已接通的通话；班长、管理员可指定坐席。"
                         "每次转接写入审计并记入通话记录。")
async def console_transfer(request: web.Request) -> web.Response:
    data = body(request)
    user = current_user(request)
    seat_id, call_id = await seat_and_call(request, data)
    by = user.operator_id or user.username
    node = await call_node(request.app[ROUTING_STORE], call_id)
    try:
        t = await on_node(request, node, "transfer", {"call_id": call_id, "seat": seat_id, "by": by,
                                                      "target": data["target"], "mode": data.get("mode")})
    except (AgentsError, ApiError) as exc:
        await request.app[AUDIT].record(
            actor(request), "call.transfer.refused", f"call:{call_id or ''}",
            {"seat": seat_id, "target": data["target"], "mode": data.get("mode"), "error": exc.error_id,
             "node": node})
        raise
    await request.app[AUDIT].record(actor(request), "call.transfer", f"call:{t['call_id']}",
                                    {"seat": seat_id, "target": t["target"], "mode": t["mode"],
                                     "transfer": t["id"], "node": node})
    return json_ok(t)


@routes.post("/api/console/hangup", role=Role.OPERATOR, request=HANGUP_BODY, response=HANGUP_SCHEMA,
             errors=(400, 404, 409, 503), summary="挂断（本坐席离开通话；或挂断转接对象）",
             description="leg=seat（默认）：坐席挂机，来电人进入满意度评价；三方或咨询转接中则由对方继续。"
                         "leg=target：挂断转接对象，回到与来电人的通话。")
async def console_hangup(request: web.Request) -> web.Response:
    data = body(request) or {}
    seat_id, call_id = await seat_and_call(request, data)
    leg = data.get("leg", "seat")
    node = await call_node(request.app[ROUTING_STORE], call_id)
    out = await on_node(request, node, "hangup", {"call_id": call_id, "seat": seat_id, "leg": leg})
    await request.app[AUDIT].record(actor(request), "call.hangup", f"call:{out['call_id']}",
                                    {"seat": seat_id, "leg": leg, "transfer": out.get("transfer"), "node": node})
    return json_ok(out)
