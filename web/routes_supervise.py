"""Supervisors listen to, whisper to or barge into a seat's call (ChanSpy).

    app = create_app(..., routes=[supervise_routes(store, actions, outbound)])
    actions.register("supervise", supervise_handler(lambda: rt.ami, demo_seats, outbound))

`POST /api/supervise {"seat": "1004", "mode": "listen"|"whisper"|"barge"}`
calls the supervisor's own phone — the seat on their account, else the seat
they are logged in to — and, once it answers, puts it on the seat's channel
(pbx/spy.py). Supervisors and admins only; every request is written to the
audit trail, refused ones too.

With ``"number": "13800001234"`` the supervisor's phone is an external one
(a mobile, a landline at home): it is dialled out like every other call out,
through ``hotline-out`` (the trunks in order, the hotline's caller ID), after
the dialling policy (agents/outbound.py: normalised, domestic only, counted
against the per-number and per-hour limits). Only mobiles and landlines are
accepted (not service, toll-free or international numbers: a call's audio is
never streamed to 110 or abroad), and the audit trail keeps the number
masked.

The spy is placed by the node holding the call (its channels are on that
node's Asterisk), whichever node's web app the request reached: the node
action "supervise" (agents/node_actions.py); a node that does not answer is a
503 (通话所在节点未响应).
"""
from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from aiohttp import web

from agents.dialpolicy import Verdict
from agents.errors import AgentsError
from agents.model import SeatState
from agents.node_actions import NodeActions
from agents.outbound import Outbound, dial_string
from agents.store import RoutingStore
from kernel.privacy import mask_number
from pbx.ami import AMIClient, AMIError
from pbx.contract import seat_interface
from pbx.spy import MODES, originate_spy, seat_channel
from web.access import RouteBundle, RouteTable, actor, body, current_user, json_ok
from web.accounts import Role, User
from web.errors import ApiError
from web.keys import AUDIT, NODE_ACTIONS, OUTBOUND, ROUTING_STORE
from web.routes_transfer import call_node, on_node

MODE_LABELS = {"listen": "监听", "whisper": "耳语", "barge": "强插"}
EXTERNAL_KINDS = ("mobile", "landline")      # what a supervisor's external phone may be
EXTERNAL_RING_S = 45                          # a mobile takes longer to answer than a desk phone
SUPERVISE_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["seat", "mode"], "additionalProperties": False,
    "properties": {"seat": {"type": "string", "minLength": 1, "maxLength": 32, "pattern": r"^[A-Za-z0-9_.-]+$"},
                   "mode": {"type": "string", "enum": list(MODES)},
                   "number": {"type": "string", "minLength": 1, "maxLength": 32, "pattern": r"^\+?[0-9]+$",
                              "description": "本人外线号码（手机或固话），经中继外呼；不填则呼叫本人话机（坐席）"}},
}
SUPERVISE_RESULT_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["spy", "seat", "mode", "phone", "call_id"],
    "properties": {"spy": {"type": "string"}, "seat": {"type": "string"}, "mode": {"type": "string"},
                   "phone": {"type": "string"}, "external": {"type": "boolean"},
                   "call_id": {"type": ["string", "null"]}},
}


routes = RouteTable(tag="supervise")


def supervise_routes(store: RoutingStore, actions: NodeActions, outbound: Outbound | None = None) -> RouteBundle:
    """`actions`: the node-action channel, with the "supervise" handler (`supervise_handler`) on every
    node; `outbound`: the gate of calls out (without it a supervisor's external number is refused)."""
    return RouteBundle(routes, {ROUTING_STORE: store, NODE_ACTIONS: actions, OUTBOUND: outbound})


async def own_phone(store: RoutingStore, user: User) -> str | None:
    if user.seat:
        return user.seat
    if user.operator_id:
        return await store.operator_seat(user.operator_id)
    return None


def supervise_handler(ami: Callable[[], AMIClient | None], demo_seats: Collection[str] = (),
                      outbound: Outbound | None = None) -> Callable[[dict[str, str]], Awaitable[Any]]:
    """The node action "supervise" on the node holding the call: the seat's channel found on this
    node's Asterisk, the supervisor's phone (a seat, or an external number after the dialling
    policy) called and put on it. Refusals are ApiErrors (the asking node answers with them)."""
    demo = frozenset(demo_seats)

    async def run(p: dict[str, str]) -> dict[str, Any]:
        seat_id, mode, phone, number = p["seat"], p["mode"], p.get("phone"), p.get("number")
        if mode not in MODES:
            raise ApiError(400, "bad_mode", "监听方式无效")
        client = ami()
        if client is None or not client.connected:
            raise ApiError(503, "unavailable", "交换机连接暂不可用")
        try:
            target = seat_channel(await client.core_show_channels(), seat_interface(seat_id, seat_id in demo),
                                  p.get("call_id"))
            if target is None:
                raise ApiError(409, "no_channel", "未找到该坐席的通话通道")
            if phone is not None:
                await originate_spy(client, phone=seat_interface(phone, phone in demo), target=target, mode=mode,
                                    channel_id=p["spy"], caller_id=f'"{MODE_LABELS[mode]}{seat_id}" <{seat_id}>')
                return {"phone": phone}
            if outbound is None or number is None:
                raise ApiError(409, "no_outbound", "未启用外呼，无法呼叫外线号码")
            v = await outbound.approve(number, "supervisor", ref=f"seat {seat_id}")   # counted now
            if not v.ok or not v.number:
                raise ApiError(400, "number_refused", v.prompt if not v.ok else "本人外线号码须为手机或固定电话号码。",
                               {"number": mask_number(v.raw), "refusal": str(v.refusal)})
            # (hotline-out presents the trunk's caller ID; this one is only seen without trunks)
            await originate_spy(client, phone=dial_string(v.number), target=target, mode=mode,
                                channel_id=p["spy"], caller_id=f'"Supervise {seat_id}" <{seat_id}>',
                                ring_s=EXTERNAL_RING_S)
            return {"phone": mask_number(v.number)}
        except AMIError as exc:
            raise ApiError(503, "pbx_error", f"交换机操作失败：{exc}") from None

    return run


@routes.post("/api/supervise", summary="班长监听 / 耳语 / 强插坐席通话（先呼叫本人话机）", role=Role.SUPERVISOR,
             request=SUPERVISE_SCHEMA, response=SUPERVISE_RESULT_SCHEMA, status=202, errors=(400, 404, 409, 503),
             description="本人话机为账号中设置的坐席，否则为本人登录的坐席；填写 number 时经中继呼叫本人外线号码"
                         "（手机或固话，按外呼策略校验）。每次操作写入审计（号码脱敏）。")
async def supervise(request: web.Request) -> web.Response:
    data, user = body(request), current_user(request)
    seat_id, mode, number = data["seat"], data["mode"], data.get("number")
    audit, store = request.app[AUDIT], request.app[ROUTING_STORE]
    outbound = request.app.get(OUTBOUND)

    async def refuse(status: int, error: str, message: str, **detail: Any) -> ApiError:
        await audit.record(actor(request), "call.supervise.refused", f"seat:{seat_id}",
                           {"mode": mode, "reason": error, **detail})
        return ApiError(status, error, message, {"seat": seat_id, **detail})

    async def refuse_number(v: Verdict) -> ApiError:
        why = v.prompt if not v.ok else "本人外线号码须为手机或固定电话号码。"
        return await refuse(400, "number_refused", why, number=mask_number(v.raw),
                            refusal=str(v.refusal) if not v.ok else f"kind:{v.kind}")

    if seat_id not in store.config.seats:
        raise await refuse(404, "unknown_seat", "坐席不存在")
    if number is not None:
        if outbound is None:
            raise await refuse(409, "no_outbound", "未启用外呼，无法呼叫外线号码")
        checked = outbound.check(number)
        if not checked.ok or checked.kind not in EXTERNAL_KINDS:
            raise await refuse_number(checked)
        phone = None
    else:
        phone = await own_phone(store, user)
        if phone is None or phone not in store.config.seats:
            raise await refuse(409, "no_phone", "账号未设置本人话机（坐席），无法接入")
        if phone == seat_id:
            raise await refuse(400, "own_seat", "不能监听本人话机所在的坐席")
    try:
        st = await store.seat(seat_id)
    except AgentsError:
        raise await refuse(404, "unknown_seat", "坐席不存在") from None
    if st.state is not SeatState.ON_CALL:
        raise await refuse(409, "not_on_call", "该坐席当前没有通话")
    spy_id = f"spy-{seat_id}-{uuid.uuid4().hex[:8]}"
    node = await call_node(store, st.call_id or None)      # the spy is placed where the call's channels are
    try:
        out = await on_node(request, node, "supervise", {"seat": seat_id, "call_id": st.call_id or None,
                                                         "mode": mode, "phone": phone, "number": number,
                                                         "spy": spy_id})
    except ApiError as exc:
        raise await refuse(exc.status, exc.error_id, exc.message,
                           **{k: v for k, v in exc.details.items() if k != "seat"}) from None
    shown = str(out["phone"])
    await audit.record(actor(request), "call.supervise", f"seat:{seat_id}",
                       {"mode": mode, "phone": shown, "external": phone is None, "call_id": st.call_id or None,
                        "spy": spy_id})
    return json_ok({"spy": spy_id, "seat": seat_id, "mode": mode, "phone": shown, "external": phone is None,
                    "call_id": st.call_id or None}, status=202)


LIVE_CAPTURE_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["seat", "on"], "additionalProperties": False,
    "properties": {"seat": SUPERVISE_SCHEMA["properties"]["seat"], "on": {"type": "boolean"}},
}
LIVE_CAPTURE_RESULT_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["call_id", "seat", "live"],
    "properties": {"call_id": {"type": "string"}, "seat": {"type": "string"}, "live": {"type": "boolean"}},
}


@routes.post("/api/supervise/live-capture", summary="开启 / 停止坐席当前通话的实时转写", role=Role.SUPERVISOR,
             request=LIVE_CAPTURE_SCHEMA, response=LIVE_CAPTURE_RESULT_SCHEMA, errors=(400, 404, 409, 503),
             description="在通话所在节点执行（无论请求到达哪个节点）。每次操作写入审计。")
async def live_capture(request: web.Request) -> web.Response:
    data = body(request)
    seat_id, on = data["seat"], bool(data["on"])
    store = request.app[ROUTING_STORE]
    if seat_id not in store.config.seats:
        raise ApiError(404, "unknown_seat", "坐席不存在", {"seat": seat_id})
    st = await store.seat(seat_id)
    if st.state is not SeatState.ON_CALL or not st.call_id:
        raise ApiError(409, "not_on_call", "该坐席当前没有通话", {"seat": seat_id})
    node = await call_node(store, st.call_id)
    out = await on_node(request, node, "live_capture", {"call_id": st.call_id, "on": on})
    await request.app[AUDIT].record(actor(request), "call.live_capture", f"call:{st.call_id}",
                                    {"seat": seat_id, "on": on, "live": bool(out["live"]), "node": node})
    return json_ok({"call_id": st.call_id, "seat": seat_id, "live": bool(out["live"])})
