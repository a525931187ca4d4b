"""The routing engine's day counters in PostgreSQL: what the reports' call figures are summed from
when the records database is on (the same numbers as Redis's `<prefix>:stats:<day>:<scope>`).

The routing scripts (agents/lua.py) attach the counts they make to the event they emit in the
same step (`counts`: [lane, seat, counter, n] each, `day`: YYYYMMDD). `follow_route_events` reads
the events stream and puts each event with counts in the records spool; `write_route_events`
(in the spool's batch transaction) keeps each event once by id and adds its counts to
`route_counts`; `day_counters` reads them back as `web.routes_reports` wants them.

    task = asyncio.create_task(follow_route_events(redis, writer, prefix="hotline",
                                                   position=data / "records" / "route_events.last"))
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError

from agents.events import COUNTERS, events_key

log = logging.getLogger("records.route_counts")
_KNOWN = frozenset(COUNTERS)


def event_counts(ev: Mapping[str, Any]) -> dict[tuple[date, str, str], int]:
    """Pure: an event's counts as {(day, scope, counter): n}, each count in the scopes the routing
    script counted it in (all, its lane, its seat)."""
    out: dict[tuple[date, str, str], int] = {}
    counts, day_text = ev.get("counts"), str(ev.get("day") or "")
    if not isinstance(counts, list) or len(day_text) != 8 or not day_text.isdigit():
        return out
    day = date(int(day_text[:4]), int(day_text[4:6]), int(day_text[6:]))
    for item in counts:
        if not (isinstance(item, list) and len(item) == 4) or item[2] not in _KNOWN:
            continue
        lane, seat, counter, n = str(item[0] or ""), str(item[1] or ""), str(item[2]), int(item[3])
        scopes = ["all"] + ([f"lane:{lane}"] if lane else []) + ([f"seat:{seat}"] if seat else [])
        for scope in scopes:
            out[(day, scope, counter)] = out.get((day, scope, counter), 0) + n
    return out


async def write_route_events(conn, payloads: Iterable[Mapping[str, Any]]) -> int:
    """Keep each event once and add the counts of those new here (inside the caller's transaction);
    the number of events new here."""
    events = {str(p["id"]): p for p in payloads}        # a repeat inside one batch: once
    if not events:
        return 0
    rows = [(eid, datetime.fromtimestamp(float(p["ev"].get("ts") or 0), UTC), p["ev"]) for eid, p in events.items()]
    rows = [r for r in rows if event_counts(r[2])]
    if not rows:
        return 0
    new = {r["id"] for r in await conn.fetch(
        "INSERT INTO route_events (id, at, day, type, call_id, data) "
        "SELECT id, at, to_date(day, 'YYYYMMDD'), type, nullif(call_id, ''), data::jsonb "
        "FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[]) "
        "AS e(id, at, day, type, call_id, data) ON CONFLICT (id) DO NOTHING RETURNING id",
        [r[0] for r in rows], [r[1] for r in rows], [str(r[2]["day"]) for r in rows],
        [str(r[2].get("type") or "") for r in rows], [str(r[2].get("call_id") or "") for r in rows],
        [json.dumps(r[2], ensure_ascii=False) for r in rows])}
    total: dict[tuple[date, str, str], int] = {}
    for eid, _, ev in rows:
        if eid in new:
            for k, n in event_counts(ev).items():
                total[k] = total.get(k, 0) + n
    if total:
        keys = sorted(total)                     # one order for every writer: no deadlock between them
        await conn.execute(
            "INSERT INTO route_counts (day, scope, counter, n) "
            "SELECT * FROM unnest($1::date[], $2::text[], $3::text[], $4::bigint[]) "
            "ON CONFLICT (day, scope, counter) DO UPDATE SET n = route_counts.n + EXCLUDED.n",
            [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys], [total[k] for k in keys])
    return len(new)


async def day_counters(conn, days: Iterable[date], scopes: Iterable[str]) -> dict[date, dict[str, dict[str, int]]]:
    """{day: {scope: {counter: n}}} for the days and scopes asked (missing: nothing counted)."""
    rows = await conn.fetch("SELECT day, scope, counter, n FROM route_counts "
                            "WHERE day = ANY($1::date[]) AND scope = ANY($2::text[])", list(days), list(scopes))
    out: dict[date, dict[str, dict[str, int]]] = {}
    for r in rows:
        out.setdefault(r["day"], {}).setdefault(r["scope"], {})[r["counter"]] = int(r["n"])
    return out


async def _read_events(redis: Any, prefix: str, last_id: str, count: int, block_ms: int) -> list[tuple[str, dict]]:
    """Routing events after `last_id` (waiting up to `block_ms` for new ones), oldest first."""
    got = await redis.xread({events_key(prefix): last_id}, count=count, block=block_ms)
    out = []
    for _stream, entries in got or []:
        for eid, fields in entries:
            raw = fields.get("json") or fields.get(b"json")
            eid = eid.decode() if isinstance(eid, bytes) else str(eid)
            try:
                out.append((eid, json.loads(raw)))
            except (TypeError, ValueError):
                out.append((eid, {}))          # not an event of ours: skipped, but read past
    return out


def _read_position(path: Path) -> str:
    try:
        text = path.read_text().strip()
    except OSError:
        return "0"
    return text if text.replace("-", "").isdigit() else "0"


def _write_position(path: Path, last: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(last)
    os.replace(tmp, path)


async def follow_route_events(redis: Any, writer: Any, *, prefix: str, position: Path,
                              block_ms: int = 1000, retry_s: float = 1.0) -> None:
    """Until cancelled: every routing event with counts into the records spool, in stream order.

    The stream id last handed to the spool is kept in `position` (after the spool has the events,
    so a crash in between replays them, which PostgreSQL then counts once). From the stream's
    start on the first run; Redis away is waited out (logged once per outage)."""
    last = _read_position(position)
    away = False
    while True:
        try:
            got = await _read_events(redis, prefix, last, 500, block_ms)
        except (RedisError, OSError) as exc:
            if not away:
                log.warning("records: routing events not read (%s); the report counters catch up when "
                            "Redis is back", exc)
                away = True
            await asyncio.sleep(retry_s)
            continue
        away = False
        for eid, ev in got:
            if ev.get("counts"):
                writer.put("route", f"{prefix}:{eid}", {"id": f"{prefix}:{eid}", "ev": ev})
            last = eid
        if got:
            await asyncio.to_thread(_write_position, position, last)
