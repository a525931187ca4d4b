"""The upgrade path: records an earlier version kept only in Redis are moved into PostgreSQL once.

At start, unless `imports` has the row REDIS_IMPORT, every ticket hash and call-record hash in Redis
goes through the spool like any new record; when the spool has been written, the row is added. The
audit stream is read at every start (entries written by commands that only reach Redis, e.g.
`hotline users create`, arrive this way; those already kept are skipped by their id). Running it again (a crash half-way) is harmless: tickets keep the newest
snapshot, call records merge the same fields, audit entries are keyed by their stream id.
"""
from __future__ import annotations

import logging
import time
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

log = logging.getLogger("records.upgrade")
REDIS_IMPORT = "redis-records-v1"
ROUTE_COUNTS_IMPORT = "redis-route-counts-v1"


async def import_route_counters(redis: Any, pool: Any, *, prefix: str, tz: ZoneInfo,
                                now: float | None = None) -> dict[str, int] | None:
    """The routing engine's day counters an earlier version kept only in Redis (`<prefix>:stats:*`)
    into route_counts once, so the reports from SQL show the days before the upgrade. Only days
    before today and with no counts in PostgreSQL yet: the counts of today on go there from the
    routing events (records/route_counts.py), so the day of the upgrade shows only what was counted
    after it. The counts imported, or None when done before."""
    from agents.events import split_hours

    async with pool.acquire() as conn:
        if await conn.fetchval("SELECT 1 FROM imports WHERE name = $1", ROUTE_COUNTS_IMPORT):
            return None
        kept = {r["day"] for r in await conn.fetch("SELECT DISTINCT day FROM route_counts")}
    today = datetime.fromtimestamp(time.time() if now is None else now, tz).date()
    head = f"{prefix}:stats:"
    rows: list[tuple[date, str, str, int]] = []
    async for key in redis.scan_iter(match=f"{head}*", count=500):
        day_text, _, scope = key[len(head):].partition(":")
        if len(day_text) != 8 or not day_text.isdigit() or not scope:
            continue
        day = date(int(day_text[:4]), int(day_text[4:6]), int(day_text[6:]))
        if day >= today or day in kept:
            continue
        counters, _ = split_hours(await redis.hgetall(key))
        rows += [(day, scope, name, n) for name, n in sorted(counters.items()) if n]
    async with pool.acquire() as conn, conn.transaction():
        if rows:
            await conn.executemany("INSERT INTO route_counts (day, scope, counter, n) VALUES ($1, $2, $3, $4) "
                                   "ON CONFLICT (day, scope, counter) DO NOTHING", rows)
        counts = {"days": len({r[0] for r in rows}), "counters": len(rows)}
        await conn.execute("INSERT INTO imports (name, counts) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                           ROUTE_COUNTS_IMPORT, counts)
    log.info("records: the routing counters of %(days)d earlier day(s) moved from Redis into PostgreSQL once",
             counts)
    return counts


async def import_from_redis(redis: Any, writer: Any, pool: Any, *, tickets_prefix: str = "tickets",
                            calls_prefix: str = "hotline", audit_stream: str = "web:audit",
                            drain_timeout: float = 300.0) -> dict[str, int] | None:
    """Move the Redis records once; the counts, or None when done before (or not finished)."""
    from ivr.calls import CallRecords
    from kernel.redis_text import text
    from tickets.store import Ticket

    await import_route_counters(redis, pool, prefix=calls_prefix, tz=writer.tz)
    counts = {"tickets": 0, "calls": 0, "audit": 0}
    last = "-"
    while True:
        rows = await redis.xrange(audit_stream, min=last, max="+", count=1000)
        rows = [r for r in rows if r[0] != last]
        if not rows:
            break
        for entry_id, fields in rows:
            writer.audit(f"{audit_stream}:{entry_id}", fields)
            counts["audit"] += 1
        last = rows[-1][0]
    async with pool.acquire() as conn:
        if await conn.fetchval("SELECT 1 FROM imports WHERE name = $1", REDIS_IMPORT):
            return None
    async for key in redis.scan_iter(match=f"{tickets_prefix}:t:*", count=500):
        h = await redis.hgetall(key)
        if h and h.get("id") and h.get("received_at"):
            writer.ticket("import", Ticket.from_hash(h))
            counts["tickets"] += 1
    calls = CallRecords(redis, calls_prefix)
    async for key in redis.scan_iter(match=f"{calls_prefix}:calllog:*", count=500):
        h = await calls.raw(text(key)[len(calls.key("")):])      # with its transcript and transfer records
        if h and h.get("call_id"):
            writer.call(h["call_id"], h)
            counts["calls"] += 1
    if not await writer.drain(drain_timeout):
        log.warning("records: Redis records queued for PostgreSQL but not yet written; the move runs again "
                    "at the next start")
        return None
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO imports (name, counts) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                           REDIS_IMPORT, counts)
    log.info("records: moved the Redis records into PostgreSQL once: %(tickets)d ticket(s), %(calls)d call "
             "record(s), %(audit)d audit entr(ies)", counts)
    return counts
