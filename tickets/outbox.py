"""The hand-off outbox in Redis: a stream with a consumer group, a retry schedule, a dead-letter set.

    confirm ─(same MULTI)─> XADD tickets:outbox {ticket}
    worker: XREADGROUP (own pending first, then new) / XAUTOCLAIM (entries idle
            past the visibility timeout: their worker died) -> one POST ->
            finish(): XACK + XDEL and, in the same script, the ticket's new state:
              done  -> status handed_off
              retry -> ZADD tickets:outbox:retry (due time); promote_due() moves it back to the stream
              dead  -> status dead_letter + ZADD tickets:outbox:dead; redrive() moves it back
    Nothing is acknowledged before its outcome is written, so a worker that dies
    mid-flight leaves the entry pending, and another worker reclaims it.

Every state change is one Lua script, atomic on the Redis side. A finish whose
entry was already acknowledged (a slow worker whose entry was reclaimed and
finished by another) changes nothing; a ticket never goes back from handed_off.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from kernel.redis_text import scored, texts
from kernel.resources import package_text
from tickets.keys import GROUP, TicketKeys

_FINISH = package_text("tickets", "lua/outbox_finish.lua")

_PROMOTE = package_text("tickets", "lua/outbox_promote.lua")

_REDRIVE = package_text("tickets", "lua/outbox_redrive.lua")

OUTCOMES = ("done", "retry", "dead", "drop")


def enqueue(pipe: Any, keys: TicketKeys, ticket_id: str) -> None:
    """Queue a ticket for hand-off inside the caller's transaction (pipeline in MULTI mode)."""
    pipe.xadd(keys.outbox, {"ticket": ticket_id})


@dataclass(frozen=True)
class Delivery:
    entry_id: str
    ticket_id: str | None       # None: the entry was deleted (already finished elsewhere)


@dataclass(frozen=True)
class DeadLetter:
    ticket_id: str
    at: float
    reason: str
    attempts: int

    def to_dict(self) -> dict[str, Any]:
        return {"ticket_id": self.ticket_id, "at": self.at, "reason": self.reason, "attempts": self.attempts}


def _only_stream(reply: object) -> Any:
    """The entries of the one stream an XREADGROUP read: a RESP2 reply is [[stream, entries]]."""
    if not reply:
        return []
    if not isinstance(reply, list):
        raise TypeError(f"XREADGROUP: expected a RESP2 reply ([[stream, entries]]), got {type(reply).__name__}")
    return reply[0][1]


def _deliveries(entries: Any) -> list[Delivery]:
    out = []
    for entry_id, fields in entries or ():
        out.append(Delivery(entry_id, (fields or {}).get("ticket")))
    return out


class Outbox:
    """The outbox of one hotline. Expects a client with decode_responses=True."""

    def __init__(self, redis: aioredis.Redis, keys: TicketKeys = TicketKeys(), group: str = GROUP) -> None:
        self.r = redis
        self.keys = keys
        self.group = group
        self._finish = redis.register_script(_FINISH)
        self._promote = redis.register_script(_PROMOTE)
        self._redrive = redis.register_script(_REDRIVE)
        self._cursor = "0-0"

    async def ensure_group(self) -> None:
        """Create the consumer group at the start of the stream (entries queued before any worker count)."""
        try:
            await self.r.xgroup_create(self.keys.outbox, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def own_pending(self, consumer: str, count: int) -> list[Delivery]:
        """Entries this consumer took and never finished (a restart under the same name)."""
        reply = await self.r.xreadgroup(self.group, consumer, {self.keys.outbox: "0"}, count=count)
        return _deliveries(_only_stream(reply))

    async def read_new(self, consumer: str, count: int, block_ms: int | None) -> list[Delivery]:
        reply = await self.r.xreadgroup(self.group, consumer, {self.keys.outbox: ">"}, count=count,
                                        block=block_ms)
        return _deliveries(_only_stream(reply))

    async def reclaim(self, consumer: str, min_idle_ms: int, count: int) -> list[Delivery]:
        """Take over entries another worker claimed and left idle longer than `min_idle_ms`."""
        reply = await self.r.xautoclaim(self.keys.outbox, self.group, consumer, min_idle_ms,
                                        start_id=self._cursor, count=count)
        self._cursor = reply[0] or "0-0"
        return _deliveries(reply[1])

    async def finish(self, delivery: Delivery, outcome: str, now: float, detail: str = "",
                     due: float | None = None) -> bool:
        """Acknowledge and record the outcome; False when the entry was already finished elsewhere."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        ticket_id = delivery.ticket_id or ""
        keys = [self.keys.outbox, self.keys.ticket(ticket_id), self.keys.retry, self.keys.dead, self.keys.events]
        args = [self.group, delivery.entry_id, outcome, repr(now), ticket_id, detail, repr(due or now)]
        return bool(await self._finish(keys=keys, args=args))

    async def promote_due(self, now: float, count: int = 100) -> int:
        """Move tickets whose retry time has come back to the stream."""
        return int(await self._promote(keys=[self.keys.retry, self.keys.outbox], args=[repr(now), count]))

    async def redrive(self, now: float, ticket_id: str | None = None) -> list[str]:
        """Queue dead-lettered tickets again (one, or all), attempts reset; the ids re-driven."""
        ids = [ticket_id] if ticket_id else texts(await self.r.zrange(self.keys.dead, 0, -1))
        done = []
        for tid in ids:
            keys = [self.keys.dead, self.keys.outbox, self.keys.ticket(tid), self.keys.events]
            if await self._redrive(keys=keys, args=[tid, repr(now)]):
                done.append(tid)
        return done

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Dead-lettered tickets, oldest first, with the reason."""
        entries = scored(await self.r.zrange(self.keys.dead, 0, limit - 1, withscores=True))
        async with self.r.pipeline(transaction=False) as pipe:
            for tid, _ in entries:
                pipe.hmget(self.keys.ticket(tid), "dead_reason", "attempts")
            rows = await pipe.execute()
        return [DeadLetter(tid, float(at), row[0] or "", int(row[1] or 0)) for (tid, at), row in zip(entries, rows)]

    async def depth(self) -> dict[str, int]:
        """Counts for monitoring: entries in the stream (new or in flight), in flight, waiting to retry, dead."""
        async with self.r.pipeline(transaction=False) as pipe:
            pipe.xlen(self.keys.outbox)
            pipe.zcard(self.keys.retry)
            pipe.zcard(self.keys.dead)
            queued, retry, dead = await pipe.execute()
        try:
            pending = (await self.r.xpending(self.keys.outbox, self.group))["pending"]
        except ResponseError:
            pending = 0
        return {"queued": int(queued), "in_flight": int(pending), "retry": int(retry), "dead": int(dead)}

    async def prune_consumers(self, idle_ms: int) -> list[str]:
        """Forget consumers (workers of past runs) with nothing pending, idle longer than `idle_ms`."""
        try:
            consumers = await self.r.xinfo_consumers(self.keys.outbox, self.group)
        except ResponseError:
            return []
        gone = [c["name"] for c in consumers if int(c["pending"]) == 0 and int(c["idle"]) > idle_ms]
        for name in gone:
            await self.r.xgroup_delconsumer(self.keys.outbox, self.group, name)
        return gone

