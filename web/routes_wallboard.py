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

from dataclasses import asdict, dataclass
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web

from agents.events import stats_today
from agents.service import Router
from hotline.privacy import mask_number
from web.access import RouteTable, json_ok, query
from web.accounts import Role


@dataclass(frozen=True)
class Targets:
    """DOMAIN.md's service targets (configurable)."""

    answer_rate_min: float = 0.95     # 接通率 ≥ 95 %
    service_level_min: float = 0.80   # answered within 15 s ≥ 80 %
    avg_answer_s_max: float = 15.0    # a person picks up within 15 s
    abandon_rate_max: float = 0.05    # follows from the answer rate (answered + abandoned = all that ended)


FIGURES = ("offered", "answered", "abandoned", "answer_rate", "service_level", "abandon_rate", "avg_wait_s",
           "avg_answer_s", "avg_talk_s", "avg_handle_s")


def judge(figures: dict[str, Any], targets: Targets) -> dict[str, dict[str, Any]]:
    """Each target with the figure it is measured on and whether it is missed (pure)."""
    checks = (("answer_rate", ">=", targets.answer_rate_min), ("service_level", ">=", targets.service_level_min),
              ("avg_answer_s", "<=", targets.avg_answer_s_max), ("abandon_rate", "<=", targets.abandon_rate_max))
    out = {}
    for name, op, target in checks:
        value = figures.get(name)
        missed = value is not None and (value < target if op == ">=" else value > target)
        out[name] = {"value": value, "target": target, "op": op, "missed": missed}
    return out


def per_hour(hours: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {h: {"offered": v["offered"], "answered": v["answered"], "abandoned": v["abandoned"]}
            for h, v in hours.items()}


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


def wallboard_routes(router: Router, redis: aioredis.Redis, *, targets: Targets = Targets()) -> RouteTable:
    routes = RouteTable(tag="wallboard")
    store = router.store

    async def scope(lane: str | None) -> dict[str, Any]:
        s = await stats_today(redis, lane, prefix=store.prefix, clock=store.clock,
                              timezone=router.config.timezone, service_level_s=router.config.service_level_s)
        figures = {k: s[k] for k in FIGURES}
        return {"figures": figures, "targets": judge(figures, targets), "hours": per_hour(s["hours"]),
                "day": s["day"]}

    async def longest_waits() -> dict[str, float]:
        now = store.clock()
        out: dict[str, float] = {}
        for call in await store.waiting_calls(router.rules.lanes):
            out[call.lane] = max(out.get(call.lane, 0.0), round(now - call.arrived_at, 1))
        return out

    @routes.get("/api/wallboard", summary="大屏：各队列等待、坐席状态与今日服务指标（含目标达成）", role=Role.SUPERVISOR,
                response=WALLBOARD_SCHEMA)
    async def wallboard(request: web.Request) -> web.Response:
        snap = await router.snapshot()
        total = await scope(None)
        lanes = {ln: await scope(ln) for ln in router.rules.lanes}
        names = {ln.id: ln.label for ln in router.rules.lanes.values()}
        return json_ok({"day": total.pop("day"), "waiting": snap["waiting"], "seats": snap["seats"],
                        "longest_wait_s": await longest_waits(), "lane_names": names,
                        "lanes": {k: {kk: vv for kk, vv in v.items() if kk != "day"} for k, v in lanes.items()},
                        "all": total, "targets": asdict(targets)})

    @routes.get("/api/wallboard/missed", summary="漏接回拨名单（最早的在前）", role=Role.SUPERVISOR,
                response=MISSED_SCHEMA, audit="callbacks.read", query={"reveal": {"type": "boolean", "default": True}},
                description="号码用于回拨，默认完整显示；reveal=false 时打码（大屏展示用）。")
    async def wallboard_missed(request: web.Request) -> web.Response:
        rows = await router.missed_calls()
        reveal = query(request)["reveal"]
        out = []
        for r in rows:
            r = dict(r)
            for k in ("caller", "number", "callback_number"):
                if not reveal and r.get(k):
                    r[k] = mask_number(r[k])
            out.append(r)
        return json_ok({"calls": out})

    return routes
