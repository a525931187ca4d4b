"""The audit trail: an append-only Redis stream of who did what to what.

Every admin change, every login and logout, and every access to a ticket or
a call recording is written here. Entries are never edited; the stream is
only trimmed (approximately) past `maxlen` entries, a retention limit.

Entry fields: who (username or "system"), role, action ("user.create",
"ticket.read", ...), target ("user:u3", "/api/tickets/42"), ip, ts (the
injected clock) and details (JSON object).

From a request handler, write with `await audit(request, action, target,
details)`; routes can also declare `audit="ticket.read"` in their metadata
and get one entry per successful request (see web.access).
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

STREAM = "web:audit"


@dataclass(frozen=True)
class Actor:
    who: str       # a username, or "system" / "cli" for the machine
    role: str      # a role id, or "" (e.g. a failed login)
    ip: str = ""

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(who=name, role="system", ip="")


@dataclass(frozen=True)
class AuditEntry:
    id: str
    who: str
    role: str
    action: str
    target: str
    ip: str
    ts: float
    details: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "who": self.who, "role": self.role, "action": self.action,
                "target": self.target, "ip": self.ip, "ts": self.ts, "details": self.details}


ENTRY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "who", "role", "action", "target", "ip", "ts", "details"],
    "properties": {"id": {"type": "string"}, "who": {"type": "string"}, "role": {"type": "string"},
                   "action": {"type": "string"}, "target": {"type": "string"}, "ip": {"type": "string"},
                   "ts": {"type": "number"}, "details": {"type": "object"}},
}


class AuditLog:
    def __init__(self, redis: aioredis.Redis, clock: Callable[[], float], maxlen: int = 0,
                 stream: str = STREAM, sink: Callable[[str, Mapping[str, Any]], None] | None = None) -> None:
        # decode_responses=True: every answer is str, which redis-py's types cannot tell
        self.redis: Any = redis
        # The system of record (records.writer.RecordWriter.audit): every entry, with its stream id;
        # the stream here is trimmed, the records keep it.
        self.sink = sink
        self.clock = clock
        self.maxlen = maxlen
        self.stream = stream

    async def record(self, actor: Actor, action: str, target: str = "",
                     details: Mapping[str, Any] | None = None) -> str:
        """Append one entry; its stream id."""
        fields = {"who": actor.who, "role": actor.role, "action": action, "target": target,
                  "ip": actor.ip, "ts": repr(self.clock()),
                  "details": json.dumps(dict(details or {}), ensure_ascii=False, sort_keys=True)}
        if self.maxlen:
            entry_id = await self.redis.xadd(self.stream, fields, maxlen=self.maxlen, approximate=True)
        else:
            entry_id = await self.redis.xadd(self.stream, fields)
        if self.sink is not None:
            self.sink(f"{self.stream}:{entry_id}", fields)
        return entry_id

    async def entries(self, count: int = 100, before: str | None = None) -> list[AuditEntry]:
        """The newest `count` entries (newest first), older than id `before` when given."""
        top = f"({before}" if before else "+"
        rows = await self.redis.xrevrange(self.stream, max=top, min="-", count=count)
        return [_entry(entry_id, f) for entry_id, f in rows]


def _entry(entry_id: str, f: Mapping[str, str]) -> AuditEntry:
    return AuditEntry(id=entry_id, who=f.get("who", ""), role=f.get("role", ""), action=f.get("action", ""),
                      target=f.get("target", ""), ip=f.get("ip", ""), ts=float(f.get("ts", 0)),
                      details=json.loads(f.get("details") or "{}"))
