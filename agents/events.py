"""Events and counters of the routing engine, as the console and wallboard read them.

Writing happens inside the store's Lua scripts (``agents/lua/*.lua``), in the
same atomic step as the change itself, so an event or a count is never lost
or doubled. This module names what is written and reads it back.

Events: the stream ``<prefix>:events`` (default ``hotline:events``), trimmed
with ``XADD MAXLEN ~``. Each entry has the fields ``type``, ``ts`` (ms) and
``json``: a JSON-able dict with ``type``, ``ts`` (seconds) and ids. Caller
numbers are never in events; the console asks ``Router.call`` for them.

Types: seat_state (seat_id, operator_id, from, to, reason, call_id, lane),
call_queued, call_assigned (the screen pop: published before the seat rings),
call_answered (waited_s), call_ended (talk_s), call_requeued (reason:
no_answer | callback_retry | resync), call_abandoned, call_removed,
call_callback_requested, callback_retry, callback_failed, callback_list_done,
call_lost.

Counters: one hash per day and scope, ``<prefix>:stats:<YYYYMMDD>:<scope>``
with scope ``all``, ``lane:<id>`` or ``seat:<id>``; each counter is kept for
the day (``answered``) and per hour (``answered@09``), in the hotline's time
zone. Durations are in ms.
"""
from __future__ import annotations

import datetime as dt
import json
import time
import zoneinfo
from collections.abc import Callable, Mapping
from typing import Any

import redis.asyncio as aioredis

from kernel.redis_text import text, text_map

COUNTERS = (
    "offered",             # calls that entered a lane
    "answered",            # answered by a seat (not counting callbacks)
    "answered_sl",         # answered within the service-level time (service_level_s, default 15 s)
    "abandoned",           # the caller hung up while waiting
    "wait_ms",             # total wait of answered and abandoned calls
    "answer_wait_ms",      # total wait of answered calls
    "talk_ms",             # total talk time
    "wrap_ms",             # total wrap-up time
    "rang",                # seats rung (per seat: calls offered to it)
    "no_answer",           # rings with no answer
    "callback_requested",  # callers who chose a callback (keeping their place)
    "callback_connected",  # callbacks that reached the caller
    "callback_failed",     # callbacks given up after the last attempt
    "lost",                # calls dropped at a resync (gone while the controller was away)
)


def events_key(prefix: str = "hotline") -> str:
    return f"{prefix}:events"


def seat_log_key(prefix: str = "hotline") -> str:
    return f"{prefix}:seatlog"


def stats_key(prefix: str, day: str, scope: str = "all") -> str:
    return f"{prefix}:stats:{day}:{scope}"


def _s(v: Any) -> Any:
    return v.decode() if isinstance(v, bytes) else v


def _entry(fields: Mapping[Any, Any]) -> dict[str, Any]:
    return json.loads(_s(fields.get("json") or fields.get(b"json")))


async def all_events(redis: aioredis.Redis, prefix: str = "hotline", batch: int = 5000
                     ) -> list[tuple[str, dict[str, Any]]]:
    """Every event still in the stream, oldest first."""
    out: list[tuple[str, dict[str, Any]]] = []
    start = "-"
    while True:
        rows = await redis.xrange(events_key(prefix), min=start, max="+", count=batch)
        if not rows:
            return out
        out += [(text(eid), _entry(f or {})) for eid, f in rows]
        if len(rows) < batch:
            return out
        start = "(" + text(rows[-1][0])


async def seat_log(redis: aioredis.Redis, prefix: str = "hotline", count: int = 10000) -> list[dict[str, Any]]:
    """The latest seat transitions (seat, operator, from, to, reason, call, ts in seconds), oldest first."""
    rows = await redis.xrevrange(seat_log_key(prefix), count=count)
    out = []
    for _eid, f in reversed(rows or []):
        d: dict[str, Any] = text_map(f)
        d["ts"] = int(d["ts"]) / 1000
        out.append(d)
    return out


# ---------------------------------------------------------------- figures


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None


def summarize(c: Mapping[str, int]) -> dict[str, Any]:
    """Counters -> the service figures of DOMAIN.md (pure).

    Over the calls that ended their wait (answered + abandoned): answer rate,
    service level (answered within the service-level time), abandonment rate,
    average wait. Average handling time = (talk + wrap-up) per handled call.
    A figure with nothing to measure yet is None.
    """
    g = {k: int(c.get(k, 0)) for k in COUNTERS}
    ended = g["answered"] + g["abandoned"]
    handled = g["answered"] + g["callback_connected"]
    return {
        **g,
        "answer_rate": _ratio(g["answered"], ended),
        "service_level": _ratio(g["answered_sl"], ended),
        "abandon_rate": _ratio(g["abandoned"], ended),
        "avg_wait_s": round(g["wait_ms"] / ended / 1000, 1) if ended else None,
        "avg_answer_s": round(g["answer_wait_ms"] / g["answered"] / 1000, 1) if g["answered"] else None,
        "avg_talk_s": round(g["talk_ms"] / handled / 1000, 1) if handled else None,
        "avg_handle_s": round((g["talk_ms"] + g["wrap_ms"]) / handled / 1000, 1) if handled else None,
    }


def split_hours(raw: Mapping[Any, object]) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """A stats hash (as HGETALL gives it) -> (day counters, {HH: hour counters})."""
    day: dict[str, int] = {}
    hours: dict[str, dict[str, int]] = {}
    for k, v in text_map(raw).items():
        name, _, hour = k.partition("@")
        if hour:
            hours.setdefault(hour, {})[name] = int(v)
        else:
            day[name] = int(v)
    return day, hours


class Stats:
    """Today's (or any day's) figures for the wallboard."""

    def __init__(self, redis: aioredis.Redis, *, prefix: str = "hotline", clock: Callable[[], float] = time.time,
                 timezone: str = "Asia/Shanghai", service_level_s: int = 15) -> None:
        self.r = redis
        self.prefix = prefix
        self.clock = clock
        self.tz = zoneinfo.ZoneInfo(timezone)
        self.service_level_s = service_level_s

    def today_key(self) -> str:
        return dt.datetime.fromtimestamp(self.clock(), self.tz).strftime("%Y%m%d")

    async def day(self, day: str, *, lane: str | None = None, seat: str | None = None) -> dict[str, Any]:
        scope = f"lane:{lane}" if lane else f"seat:{seat}" if seat else "all"
        raw = await self.r.hgetall(stats_key(self.prefix, day, scope))
        totals, hours = split_hours(raw)
        out = summarize(totals)
        out.update(day=day, scope=scope, service_level_s=self.service_level_s,
                   hours={h: summarize(v) for h, v in sorted(hours.items())})
        return out

    async def today(self, lane: str | None = None, seat: str | None = None) -> dict[str, Any]:
        return await self.day(self.today_key(), lane=lane, seat=seat)


async def stats_today(redis: aioredis.Redis, lane: str | None = None, *, seat: str | None = None,
                      prefix: str = "hotline", clock: Callable[[], float] = time.time,
                      timezone: str = "Asia/Shanghai", service_level_s: int = 15) -> dict[str, Any]:
    """Today's figures (all lanes, one lane, or one seat): counts, rates, averages, and per hour."""
    return await Stats(redis, prefix=prefix, clock=clock, timezone=timezone,
                       service_level_s=service_level_s).today(lane=lane, seat=seat)
