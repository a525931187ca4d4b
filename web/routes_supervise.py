"""Supervisors listen to, whisper to or barge into a seat's call (ChanSpy).

    app = create_app(..., routes=[supervise_routes(store, lambda: rt.ami, demo_seats)])

`POST /api/supervise {"seat": "1004", "mode": "listen"|"whisper"|"barge"}`
calls the supervisor's own phone — the seat on their account, else the seat
they are logged in to — and, once it answers, puts it on the seat's channel
(pbx/spy.py). Supervisors and admins only; every request is written to the
audit trail, refused ones too.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from typing import Any

from aiohttp import web

from agents.errors import AgentsError
from agents.model import SeatState
from agents.store import RoutingStore
from dialplan.seats import seat_interface
from pbx.ami import AMIClient, AMIError
from pbx.spy import MODES, originate_spy, seat_channel
from web.access import RouteTable, actor, body, current_user, json_ok
from web.accounts import Role, User
from web.errors import ApiError
from web.keys import AUDIT

MODE_LABELS = {"listen": "监听", "whisper": "耳语", "barge": "强插"}
SUPERVISE_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["seat", "mode"], "additionalProperties": False,
    "properties": {"seat": {"type": "string", "minLength": 1, "maxLength": 32, "pattern": r"^[A-Za-z0-9_.-]+$"},
                   "mode": {"type": "string", "enum": list(MODES)}},
}
SUPERVISE_RESULT_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["spy", "seat", "mode", "phone", "call_id"],
    "properties": {"spy": {"type": "string"}, "seat": {"type": "string"}, "mode": {"type": "string"},
                   "phone": {"type": "string"}, "call_id": {"type": ["string", "null"]}},
}


def supervise_routes(store: RoutingStore, ami: Callable[[], AMIClient | None],
                     demo_seats: Collection[str] = ()) -> RouteTable:
    """`ami` returns the connected client (it exists only once Asterisk runs)."""
    routes = RouteTable(tag="supervise")
    demo = frozenset(demo_seats)

    async def own_phone(user: User) -> str | None:
        if user.seat:
            return user.seat
        if user.operator_id:
            return await store.operator_seat(user.operator_id)
        return None

    @routes.post("/api/supervise", summary="班长监听 / 耳语 / 强插坐席通话（先呼叫本人话机）", role=Role.SUPERVISOR,
                 request=SUPERVISE_SCHEMA, response=SUPERVISE_RESULT_SCHEMA, status=202, errors=(400, 404, 409, 503),
                 description="本人话机为账号中设置的坐席，否则为本人登录的坐席；每次操作写入审计。")
    async def supervise(request: web.Request) -> web.Response:
        data, user = body(request), current_user(request)
        seat_id, mode = data["seat"], data["mode"]
        audit = request.app[AUDIT]

        async def refuse(status: int, error: str, message: str) -> ApiError:
            await audit.record(actor(request), "call.supervise.refused", f"seat:{seat_id}",
                               {"mode": mode, "reason": error})
            return ApiError(status, error, message, {"seat": seat_id})

        if seat_id not in store.config.seats:
            raise await refuse(404, "unknown_seat", "坐席不存在")
        phone = await own_phone(user)
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
        client = ami()
        if client is None or not client.connected:
            raise await refuse(503, "unavailable", "交换机连接暂不可用")
        try:
            target = seat_channel(await client.core_show_channels(), seat_interface(seat_id, seat_id in demo),
                                  st.call_id or None)
            if target is None:
                raise await refuse(409, "no_channel", "未找到该坐席的通话通道")
            spy_id = f"spy-{seat_id}-{uuid.uuid4().hex[:8]}"
            await originate_spy(client, phone=seat_interface(phone, phone in demo), target=target, mode=mode,
                                channel_id=spy_id, caller_id=f'"{MODE_LABELS[mode]}{seat_id}" <{seat_id}>')
        except AMIError as exc:
            raise await refuse(503, "pbx_error", f"交换机操作失败：{exc}") from None
        await audit.record(actor(request), "call.supervise", f"seat:{seat_id}",
                           {"mode": mode, "phone": phone, "call_id": st.call_id or None, "spy": spy_id})
        return json_ok({"spy": spy_id, "seat": seat_id, "mode": mode, "phone": phone,
                        "call_id": st.call_id or None}, status=202)

    return routes
