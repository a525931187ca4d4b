"""The record of each call in Redis: who, when, which tree version, the IVR
path, the outcome. `hotline call`, the console and reports read it.

Kept as a hash per call (expiring after the retention period) plus a per-caller
sorted set of arrival times for repeat-caller checks.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import redis.asyncio as aioredis

from ivr.numbers import caller_key

DAY = 86400
RECENT_KEPT = 10000          # calls listed by `hotline calls recent`
log = logging.getLogger(__name__)


class CallRecords:
    def __init__(self, redis: aioredis.Redis, prefix: str = "hotline", retention_days: int = 90,
                 sink: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self.r = redis
        self.prefix = prefix
        self.ttl = retention_days * DAY
        # The system of record (records.writer.RecordWriter.call): every field written here, in
        # order, first; it queues locally and never waits on the network.
        self.sink = sink

    def _sink(self, call_id: str, fields: dict[str, Any]) -> None:
        if self.sink is not None:
            try:
                self.sink(call_id, fields)
            except Exception:          # the record is lost, the call goes on
                log.exception("call %s: the record sink failed", call_id)

    def key(self, call_id: str) -> str:
        return f"{self.prefix}:calllog:{call_id}"

    def _caller_key(self, caller: str | None) -> str:
        return f"{self.prefix}:caller:{caller_key(caller)}:calls"

    async def started(self, call_id: str, *, caller: str, caller_name: str, did: str, version: int,
                      channel: str, at: float | None = None) -> None:
        at = at or time.time()
        self._sink(call_id, {"call_id": call_id, "caller": caller, "caller_name": caller_name, "did": did,
                             "version": version, "channel": channel, "started": at, "status": "ivr", "path": []})
        async with self.r.pipeline(transaction=True) as p:
            p.hset(self.key(call_id), mapping={
                "call_id": call_id, "caller": caller, "caller_name": caller_name, "did": did,
                "version": version, "channel": channel, "started": at, "status": "ivr", "path": "[]"})
            p.expire(self.key(call_id), self.ttl)
            if caller_key(caller):            # a withheld number links no calls together
                p.zadd(self._caller_key(caller), {call_id: at})
                p.zremrangebyscore(self._caller_key(caller), 0, at - 400 * DAY)
                p.expire(self._caller_key(caller), 400 * DAY)
            p.zadd(self.recent_key, {call_id: at})            # `hotline calls recent`, newest first
            p.zremrangebyrank(self.recent_key, 0, -RECENT_KEPT - 1)
            await p.execute()

    @property
    def recent_key(self) -> str:
        return f"{self.prefix}:calls:recent"

    async def latest(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest calls' records, newest first (those whose record expired are skipped)."""
        ids = await self.r.zrevrange(self.recent_key, 0, max(0, limit - 1))
        out = []
        for call_id in ids:
            rec = await self.get(call_id)
            if rec is not None:
                out.append(rec)
        return out

    async def recent_calls(self, caller: str, windows: Iterable[int], now: float | None = None,
                           exclude: str | None = None) -> dict[int, int]:
        now = now or time.time()
        out = {}
        if not caller_key(caller):
            return {days: 0 for days in windows}
        for days in windows:
            ids = await self.r.zrangebyscore(self._caller_key(caller), now - days * DAY, now)
            out[days] = sum(1 for i in ids if i != exclude)
        return out

    async def update(self, call_id: str, **fields: Any) -> None:
        self._sink(call_id, fields)
        enc = {k: json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else
               ("" if v is None else v) for k, v in fields.items()}
        await self.r.hset(self.key(call_id), mapping=enc)

    async def get(self, call_id: str) -> dict[str, Any] | None:
        raw = await self.r.hgetall(self.key(call_id))
        if not raw:
            return None
        for k in ("path", "outcome", "notes", "vars", "transcript_finals", "transcript_stats", "live_transcript",
                  "transfers"):
            if raw.get(k):
                try:
                    raw[k] = json.loads(raw[k])
                except ValueError:
                    pass
        return raw
