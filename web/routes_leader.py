"""Leader-answering days (领导接听日) on the web: admins schedule and cancel sessions, supervisors list
them and read each session's report (the tickets taken, tagged 领导接听 / 领导交办, with their
follow-up deadlines); the page /leader.

    app = create_app(..., routes=[leader_routes(days, seat_ids, lane_ids)])
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from agents.leader import LeaderDays
from agents.leader_plan import SessionInvalid
from web.access import RouteBundle, RouteTable, actor, body, json_ok
from web.accounts import Role
from web.errors import invalid, not_found
from web.routes_pages import STATIC_DIR


@dataclass(frozen=True)
class LeaderWeb:
    days: LeaderDays
    seats: Callable[[], Iterable[str]]          # the configured seat ids
    lanes: Callable[[], Iterable[str]]          # the published tree's lanes


LEADER: web.AppKey[LeaderWeb] = web.AppKey("leader")
routes = RouteTable(tag="leader")

SESSION_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["date", "start", "end", "leader_name", "seat"],
    "properties": {"date": {"type": "string", "description": "YYYY-MM-DD"},
                   "start": {"type": "string", "description": "HH:MM（热线所在时区）"},
                   "end": {"type": "string", "description": "HH:MM"},
                   "leader_name": {"type": "string"}, "leader_title": {"type": "string"},
                   "seat": {"type": "string", "description": "领导使用的坐席"},
                   "lanes": {"type": "array", "items": {"type": "string"}, "description": "覆盖的队列；空：全部"},
                   "dids": {"type": "array", "items": {"type": "string"}, "description": "覆盖的被叫号码；空：全部"},
                   "wait_s": {"type": "integer", "description": "领导忙时等待多久转常规队列（秒）"},
                   "follow_up_days": {"type": "integer", "description": "领导交办件跟进期限（工作日）"},
                   "announcement": {"type": "string", "description": "菜单前播放的提示语；空：默认"}}}
SESSIONS_SCHEMA: dict[str, Any] = {"type": "object", "required": ["sessions"],
                                   "properties": {"sessions": {"type": "array", "items": {"type": "object"}}}}
REPORT_SCHEMA: dict[str, Any] = {"type": "object", "required": ["session", "tickets", "count", "overdue"],
                                 "properties": {"session": {"type": "object"},
                                                "tickets": {"type": "array", "items": {"type": "object"}},
                                                "count": {"type": "integer"}, "overdue": {"type": "integer"}}}


def leader_routes(days: LeaderDays, seats: Callable[[], Iterable[str]],
                  lanes: Callable[[], Iterable[str]]) -> RouteBundle:
    return RouteBundle(routes, {LEADER: LeaderWeb(days, seats, lanes)})


@routes.get("/api/leader/sessions", summary="领导接听日安排", role=Role.SUPERVISOR, response=SESSIONS_SCHEMA)
async def leader_sessions(request: web.Request) -> web.Response:
    return json_ok({"sessions": await request.app[LEADER].days.listing()})


@routes.post("/api/leader/sessions", summary="安排领导接听日", role=Role.ADMIN, request=SESSION_SCHEMA,
             response={"type": "object"}, status=201, audit="leader.schedule", errors=(400,))
async def leader_schedule(request: web.Request) -> web.Response:
    lw = request.app[LEADER]
    try:
        s = await lw.days.create(body(request), actor(request).who, lw.seats(), lw.lanes())
    except SessionInvalid as exc:
        raise invalid(exc.problems) from None
    return json_ok(s.to_dict(), status=201)


@routes.delete("/api/leader/sessions/{id}", summary="取消领导接听日安排", role=Role.ADMIN, status=204,
               audit="leader.cancel", errors=(404,))
async def leader_cancel(request: web.Request) -> web.Response:
    if not await request.app[LEADER].days.cancel(request.match_info["id"]):
        raise not_found("leader_session")
    return web.Response(status=204)


@routes.get("/api/leader/sessions/{id}/report", summary="领导接听日报表：本场受理的工单与跟进期限",
            role=Role.SUPERVISOR, response=REPORT_SCHEMA, audit="leader.report", errors=(404,))
async def leader_report(request: web.Request) -> web.Response:
    got = await request.app[LEADER].days.report(request.match_info["id"])
    if got is None:
        raise not_found("leader_session")
    return json_ok(got)


@routes.get("/leader", summary="领导接听日页面", role=Role.SUPERVISOR, api=False, content_type="text/html")
async def leader_page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC_DIR / "leader.html", headers={"Cache-Control": "no-store"})
