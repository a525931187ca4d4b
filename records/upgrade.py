"""The upgrade path: records an earlier version kept only in Redis are moved into PostgreSQL once.

At start, unless `imports` has the row REDIS_IMPORT, every ticket hash and call-record hash in Redis
goes through the spool like any new record; when the spool has been written, the row is added. The
audit stream is read at every start (entries written by commands that only reach Redis, e.g.
`hotline users create`, arrive this way; those already kept are skipped by their id). Running it again (a crash half-way) is harmless: tickets keep the newest
snapshot, call records merge the same fields, audit entries are keyed by their stream id.
"""
from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("records.upgrade")
REDIS_IMPORT = "redis-records-v1"


async def import_from_redis(redis: Any, writer: Any, pool: Any, *, tickets_prefix: str = "tickets",
                            calls_prefix: str = "hotline", audit_stream: str = "web:audit",
                            drain_timeout: float = 300.0) -> dict[str, int] | None:
    """Move the Redis records once; the counts, or None when done before (or not finished)."""
    from tickets.store import Ticket

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
    async for key in redis.scan_iter(match=f"{calls_prefix}:calllog:*", count=500):
        h = await redis.hgetall(key)
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
