"""Records to PostgreSQL through the spool: callers `put` (local, never waits on the network), one
loop writes batches in order and removes them from the spool only once committed.

A PostgreSQL outage is logged once when it starts (with how many records wait) and once when it
ends; meanwhile the spool grows (bounded) and calls go on. A batch PostgreSQL refuses for its
content (not for being away) is written record by record, and a record refused on its own is set
aside in `rejected.jsonl` beside the spool with an error in the log, so one bad record never holds
up the others.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from records.model import ticket_payload
from records.spool import Spool
from records.store import write_batch

log = logging.getLogger("records.writer")

_AWAY = (OSError, asyncio.TimeoutError, asyncpg.exceptions.InterfaceError,
         asyncpg.exceptions.ConnectionDoesNotExistError, asyncpg.exceptions.CannotConnectNowError,
         asyncpg.exceptions.TooManyConnectionsError, asyncpg.exceptions.AdminShutdownError,
         asyncpg.exceptions.CrashShutdownError, asyncpg.exceptions.ConnectionFailureError,
         asyncpg.exceptions.PostgresConnectionError)


class RecordWriter:
    def __init__(self, spool: Spool, pool: asyncpg.Pool | None, tz: ZoneInfo, *, batch: int = 500,
                 idle_s: float = 0.2, retry_s: float = 1.0, node: str = "") -> None:
        self.spool = spool
        self.pool = pool
        self.tz = tz
        self.batch = batch
        self.idle_s = idle_s
        self.retry_s = retry_s
        self.node = node
        self.written = 0
        self.rejected = 0
        self.outage_since: float | None = None
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()

    # -- the sinks the record owners call (synchronous, local) -----------------------------------
    def put(self, kind: str, key: str, payload: Mapping[str, Any]) -> None:
        if self.spool.put(kind, key, dict(payload)):
            self._idle.clear()
            self._wake.set()

    def call(self, call_id: str, fields: Mapping[str, Any]) -> None:
        """A call record's fields (ivr.calls.CallRecords.sink)."""
        self.put("call", call_id, fields)

    def ticket(self, event: str, ticket: Any) -> None:
        """A ticket as it now stands (tickets.store.TicketStore.sink)."""
        self.put("ticket", ticket.id, ticket_payload(ticket, self.tz, event))

    def audit(self, entry_id: str, fields: Mapping[str, Any]) -> None:
        """An audit entry (web.audit.AuditLog.sink): fields who, role, action, target, ip, ts, details."""
        details = fields.get("details")
        if isinstance(details, str):
            details = json.loads(details or "{}")
        self.put("audit", entry_id, {**fields, "id": entry_id, "details": details or {}})

    def seat(self, seat_id: str, event: str, *, operator: str | None = None, state: str | None = None,
             reason: str | None = None, at: float | None = None) -> None:
        """A seat or operator state change (agents.service.SeatService.history)."""
        self.put("seat", seat_id, {"id": uuid.uuid4().hex, "at": at or time.time(), "seat": seat_id,
                                   "operator": operator, "event": event, "state": state, "reason": reason,
                                   "node": self.node or None})

    # -- the loop ---------------------------------------------------------------------------------
    async def run(self) -> None:
        """Until cancelled; never ends on an error (a dead writer would leave every record spooled)."""
        while True:
            try:
                wrote = await self.write_some()
            except Exception:
                log.exception("records: writing a batch failed unexpectedly; trying again")
                wrote = -1
            if wrote == 0 and len(self.spool) == 0:
                self._idle.set()
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self.idle_s * 25)
                except TimeoutError:
                    pass
            elif wrote < 0:                          # PostgreSQL away: wait, then try again
                await asyncio.sleep(self.retry_s)

    async def write_some(self) -> int:
        """One batch: the count written, 0 when the spool is empty, -1 when PostgreSQL is away."""
        rows = await asyncio.to_thread(self.spool.peek, self.batch)
        if not rows:
            return 0
        if self.pool is None:                    # no database given (yet): the records wait in the spool
            return -1
        try:
            async with self.pool.acquire(timeout=5) as conn:
                try:
                    await write_batch(conn, rows, self.tz)
                except asyncpg.PostgresError as exc:
                    if isinstance(exc, _AWAY):
                        raise
                    await self._one_by_one(conn, rows, exc)
        except (*_AWAY, asyncpg.exceptions.InternalClientError) as exc:
            if self.outage_since is None:
                self.outage_since = time.time()
                log.error("records: PostgreSQL unavailable (%s): %d record(s) kept in the spool, written when "
                          "it is back; calls go on", type(exc).__name__, len(self.spool))
            return -1
        await asyncio.to_thread(self.spool.done, rows[-1][0])
        if self.outage_since is not None:
            log.warning("records: PostgreSQL back after %.0f s; writing the spooled records (%d written, "
                        "%d waiting)", time.time() - self.outage_since, len(rows), len(self.spool))
            self.outage_since = None
        self.written += len(rows)
        return len(rows)

    async def _one_by_one(self, conn, rows, exc: Exception) -> None:
        log.warning("records: a batch of %d was refused (%s); writing one by one", len(rows), exc)
        for row in rows:
            try:
                await write_batch(conn, [row], self.tz)
            except asyncpg.PostgresError as one:
                if isinstance(one, _AWAY):
                    raise
                self.rejected += 1
                self._set_aside(row, one)

    def _set_aside(self, row, exc: Exception) -> None:
        path = Path(self.spool.path).with_name("rejected.jsonl")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as fh:
            fh.write(json.dumps({"seq": row[0], "kind": row[1], "key": row[2], "payload": row[3],
                                 "error": str(exc)}, ensure_ascii=False, default=str) + "\n")
        log.error("records: %s record %s refused by PostgreSQL (%s); set aside in %s", row[1], row[0], exc, path)

    async def drain(self, timeout: float = 10.0) -> bool:
        """Wait until the spool is empty (True) or `timeout` passes (False)."""
        deadline = time.monotonic() + timeout
        while len(self.spool) > 0:
            if time.monotonic() > deadline:
                return False
            self._wake.set()
            await asyncio.sleep(0.05)
        return True
