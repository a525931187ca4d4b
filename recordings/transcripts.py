"""The transcript record of a call: what speech-to-text heard, beside the call record, not in it.

One hash per call (``<prefix>:calltext:<call id>``, expiring with the call record):
``transcript``, ``transcript_finals``, ``transcript_stats`` (the caller's account, recordings/describe.py)
and ``live_transcript`` (the answered call's turns, recordings/live.py). `ivr.calls.CallRecords.get`
reads it with the call, so the readers (the console, `hotline call`, PostgreSQL's record) see the
same fields as when they were written into the call hash. Each write goes to the same sink as the
call record's (PostgreSQL keeps them in the call's row).
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

import redis.asyncio as aioredis

from kernel.redis_text import hash_fields

log = logging.getLogger(__name__)

Sink = Callable[[str, dict[str, Any]], None]


class TranscriptRecords:
    def __init__(self, redis: aioredis.Redis, prefix: str, ttl_s: int, sink: Sink | None = None) -> None:
        self.r = redis
        self.prefix = prefix
        self.ttl = ttl_s
        self.sink = sink

    def key(self, call_id: str) -> str:
        return f"{self.prefix}:calltext:{call_id}"

    async def account(self, call_id: str, text: str, finals: list[dict[str, Any]], stats: Mapping[str, Any]) -> None:
        """The caller's account (describe step), transcribed."""
        await self._write(call_id, {"transcript": text, "transcript_finals": finals, "transcript_stats": dict(stats)})

    async def live(self, call_id: str, turns: list[dict[str, Any]]) -> None:
        """The answered call's turns so far (both directions)."""
        await self._write(call_id, {"live_transcript": turns})

    async def _write(self, call_id: str, fields: dict[str, Any]) -> None:
        if self.sink is not None:
            try:
                self.sink(call_id, fields)
            except Exception:          # the record is lost, the call goes on
                log.exception("call %s: the transcript sink failed", call_id)
        enc = {k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for k, v in fields.items()}
        async with self.r.pipeline(transaction=True) as p:
            p.hset(self.key(call_id), mapping=hash_fields(enc))
            p.expire(self.key(call_id), self.ttl)
            await p.execute()
