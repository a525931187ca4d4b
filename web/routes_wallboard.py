"""The wallboard's API (the hall's big screen and the supervisors' page):
waiting calls and seats by state now, today's service figures per lane
against the DOMAIN.md targets, and the callback list (漏接回拨).

    app = create_app(..., routes=[wallboard_routes(router, redis)])

The figures come from the routing engine's counters (agents.events), so
they are the same numbers reports use; each target carries a `missed` flag
(the page paints it red). A figure with nothing measured yet is null and
never missed.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web

from agents.events import stats_today
from agents.service import Router
from kernel.privacy import mask_number
from web.access import RouteBundle, RouteTable, json_ok, query
from web.accounts import Role
from web.keys import WALLBOARD


@dataclass(frozen=True)
class Targets:
    """DOMAIN.md's service targets (configurable)."""

    answer_rate_min: float = 0.95     # 接通率 ≥ 95 %
    service_level_min: float = 0.80   # answered within 15 s ≥ 80 %
    avg_answer_s_max: float = 15.0    # a person picks up within 15 s
    avg_wait_s_max: float = 15.0      # the same, over every call that ended its wait
    abandon_rate_max: float = 0.05    # follows from the answer rate (answered + abandoned = all that ended)


FIGURES = ("offered", "answered", "abandoned", "answer_rate", "service_level", "abandon_rate", "avg_wait_s",
           "avg_answer_s", "avg_talk_s", "avg_handle_s")


def judge(figures: dict[str, Any], targets: Targets) -> dict[str, dict[str, Any]]:
    """Each target with the figure it is measured on and whether it is missed (pure)."""
    checks = (("answer_rate", ">=", targets.answer_rate_min), ("service_level", ">=", targets.service_level_min),
              ("avg_answer_s", "<=", targets.avg_answer_s_max), ("abandon_rate", "<=", targets.abandon_rate_max),
              ("avg_wait_s", "<=", targets.avg_wait_s_max))
    out = {}
    for name, op, target in checks:
        value = figures.get(name)
        missed = value is not None and (value < target if op == ">=" else value > target)
        out[name] = {"value": value, "target": target, "op": op, "missed": missed}
    return out


def per_hour(hours: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {h: {"offered": v["offered"], "answered": v["answered"], "abandoned": v["abandoned"]}
            for h, v in hours.items()}


def top_counts(tickets: list[Any], limit: int = 10) -> dict[str, Any]:
    """Today's most frequent first-level categories and districts (confirmed fields first, else the draft)."""
    cats: Counter[str] = Counter()
    districts: Counter[str] = Counter()
    for t in tickets:
        f = t.fields
        cat = f.get("category")
        if isinstance(cat, (list, tuple)) and cat:
            cats[str(cat[0])] += 1
        elif isinstance(cat, str) and cat:
            cats[cat] += 1
        if f.get("district"):
            districts[str(f["district"])] += 1
    return {"categories": [[k, v] for k, v in cats.most_common(limit)],
            "districts": [[k, v] for k, v in districts.most_common(limit)], "tickets": len(tickets)}


STATIC_DIR = Path(__file__).resolve().parent / "static"
SCOPE_SCHEMA = {"type": "object", "required": ["figures", "targets", "hours"],
                "properties": {"figures": {"type": "object"}, "targets": {"type": "object"},
                               "hours": {"type": "object"}}}
WALLBOARD_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["day", "waiting", "seats", "lanes", "all", "targets"],
    "properties": {"day": {"type": "string"}, "waiting": {"type": "object"}, "seats": {"type": "object"},
                   "lanes": {"type": "object", "additionalProperties": SCOPE_SCHEMA}, "all": SCOPE_SCHEMA,
                   "targets": {"type": "object"}, "longest_wait_s": {"type": "object"}},
}
MISSED_SCHEMA = {"type": "object", "required": ["calls"],
                 "properties": {"calls": {"type": "array", "items": {"type": "object"}}}}


class WallboardSource:
    """The wallboard's figures: the routing engine's counters and state, today's top tickets."""

    def __init__(self, router: Router, redis: aioredis.Redis, targets: Targets, tickets: Any,
                 top_cache_s: float) -> None:
        self.router, self.redis, self.targets, self.tickets = router, redis, targets, tickets
        self.store = router.store
        self.top_cache_s = top_cache_s
        self._cache: dict[str, Any] = {"at": -1e18, "day": None, "top": None}

    async def top_today(self, day: str) -> dict[str, Any]:
        if self.tickets is None:
            return {"categories": [], "districts": [], "tickets": 0}
        now, cache = time.monotonic(), self._cache
        if cache["day"] != day or now - cache["at"] > self.top_cache_s:
            cache.update(at=now, day=day, top=top_counts(await self.tickets.list_by_day(day)))
        top: dict[str, Any] = cache["top"]
        return top

    async def seat_rows(self) -> list[dict[str, Any]]:
        """Seats not logged out, for the supervisors' list (no caller numbers)."""
        out = []
        for st in await self.store.seats(self.router.config.seats or None):
            if st.state.value == "logged_out":
                continue
            out.append({"seat_id": st.seat_id, "state": st.state.value, "operator_id": st.operator_id,
                        "since": st.since, "reason": st.reason, "call_id": st.call_id or None,
                        "lane": st.lane or None})
        return out

    async def scope(self, lane: str | None) -> dict[str, Any]:
        config = self.router.config
        s = await stats_today(self.redis, lane, prefix=self.store.prefix, clock=self.store.clock,
                              timezone=config.timezone, service_level_s=config.service_level_s)
        figures = {k: s[k] for k in FIGURES}
        return {"figures": figures, "targets": judge(figures, self.targets), "hours": per_hour(s["hours"]),
                "day": s["day"]}

    async def longest_waits(self) -> dict[str, float]:
        now = self.store.clock()
        out: dict[str, float] = {}
        for call in await self.store.waiting_calls(self.router.rules.lanes):
            out[call.lane] = max(out.get(call.lane, 0.0), round(now - call.arrived_at, 1))
        return out


routes = RouteTable(tag="wallboard")


def wallboard_routes(router: Router, redis: aioredis.Redis, *, targets: Targets = Targets(),
                     tickets: Any = None, top_cache_s: float = 10.0) -> RouteBundle:
    """`tickets` (tickets.store.TicketStore), when given, adds today's top categories and districts
    (recounted at most every `top_cache_s`)."""
    return RouteBundle(routes, {WALLBOARD: WallboardSource(router, redis, targets, tickets, top_cache_s)})


@routes.get("/wallboard", summary="实时大屏页面", role=Role.SUPERVISOR, api=False, content_type="text/html")
async def wallboard_page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC_DIR / "wallboard.html", headers={"Cache-Control": "no-store"})


@routes.get("/api/wallboard", summary="大屏：各队列等待、坐席状态与今日服务指标（含目标达成）", role=Role.SUPERVISOR,
            response=WALLBOARD_SCHEMA)
async def wallboard(request: web.Request) -> web.Response:
    wb = request.app[WALLBOARD]
    router = wb.router
    snap = await router.snapshot()
    total = await wb.scope(None)
    lanes = {ln: await wb.scope(ln) for ln in router.rules.lanes}
    names = {ln.id: ln.label for ln in router.rules.lanes.values()}
    day = total.pop("day")
    return json_ok({"day": day, "waiting": snap["waiting"], "seats": snap["seats"],
                    "longest_wait_s": await wb.longest_waits(), "lane_names": names,
                    "top": await wb.top_today(day), "seat_list": await wb.seat_rows(),
                    "lanes": {k: {kk: vv for kk, vv in v.items() if kk != "day"} for k, v in lanes.items()},
                    "all": total, "targets": asdict(wb.targets)})


@routes.get("/api/wallboard/missed", summary="漏接回拨名单（最早的在前）", role=Role.SUPERVISOR,
            response=MISSED_SCHEMA, audit="callbacks.read", query={"reveal": {"type": "boolean", "default": True}},
            description="号码用于回拨，默认完整显示；reveal=false 时打码（大屏展示用）。")
async def wallboard_missed(request: web.Request) -> web.Response:
    rows = await request.app[WALLBOARD].router.missed_calls()
    reveal = query(request)["reveal"]
    out = []
    for r in rows:
        r = dict(r)
        for k in ("caller", "number", "callback_number"):
            if not reveal and r.get(k):
                r[k] = mask_number(r[k])
        out.append(r)
    return json_ok({"calls": out})
