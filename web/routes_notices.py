"""Notices for the people who must act on them (supervisors and admins): today, a calendar year
whose official holiday and 调休 schedule is not loaded (ivr.notices). Shown as a banner on the
admin page and the wallboard, and at /metrics for the site's monitoring.

    rt.web_routes.append(notices_routes(watch.notices))       # the metric comes with the bundle
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from ivr.calendar import HolidayNotice
from web.access import RouteBundle, RouteTable, json_ok
from web.accounts import Role
from web.keys import METRICS, NOTICES

Source = Callable[[], Awaitable[list[HolidayNotice]]]

NOTICE_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["calendar", "year", "starts", "days_left", "message", "message_en", "link"],
    "properties": {"calendar": {"type": "string"}, "year": {"type": "integer"}, "starts": {"type": "string"},
                   "days_left": {"type": "integer"}, "message": {"type": "string"},
                   "message_en": {"type": "string"}, "link": {"type": "string"}}}
NOTICES_SCHEMA: dict[str, Any] = {"type": "object", "required": ["notices"],
                                  "properties": {"notices": {"type": "array", "items": NOTICE_SCHEMA}}}


routes = RouteTable(tag="notices")


def notices_routes(source: Source) -> RouteBundle:
    """The notices route and their metric (notices_metrics)."""
    return RouteBundle(routes, {NOTICES: source}, (notices_metrics(source),))


@routes.get("/api/notices", summary="需要处理的系统提醒（如未载入下一年节假日安排）", role=Role.SUPERVISOR,
            response=NOTICES_SCHEMA)
async def list_notices(request: web.Request) -> web.Response:
    return json_ok({"notices": [n.to_dict() for n in await request.app[NOTICES]()]})


def notices_metrics(source: Source) -> Callable[[web.Application], AsyncIterator[None]]:
    """`hotline_holiday_schedule_missing{calendar,year}`: days until that year starts (0: already)."""
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        async def values() -> Mapping[tuple[str, ...], float]:
            return {(n.calendar, str(n.year)): float(max(0, n.days_left)) for n in await source()}
        app[METRICS].callback("hotline_holiday_schedule_missing",
                              "A holidays: cn calendar lacks the official schedule of this year: days until it "
                              "starts (0: in force now). Enter it on the admin page (工作日历).",
                              values, labels=("calendar", "year"))
        yield
    return ctx
