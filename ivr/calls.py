"""The record of each call in Redis: who, when, which tree version, the IVR
path, the outcome. `hotline call`, the console and reports read it.

One owner: every write is a named transition (`started`, `queued`, `offered`,
`answered`, …; ivr/call_record.py decides what each writes and from which
status). A status change is written compare-and-set on the status it was
decided from (ivr/lua/call_status.lua), so two writers of one call cannot
interleave; one that cannot happen (answered after the call ended) or has
already happened (a second `answered`) is logged and not written, never an
error for the call.

Kept as a hash per call (expiring after the retention period) plus a per-caller
sorted set of arrival times for repeat-caller checks. The transcripts
(recordings/transcripts.py) and the transfers (agents/transfer_service.py)
are records of their own beside it; `get` reads the three together, as the
one hash they used to be.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import redis.asyncio as aioredis

from ivr import call_record as R
from ivr.call_record import CallRecord, Decision
from ivr.numbers import caller_key
from kernel.redis_text import hash_fields, text_map, text_or_none, texts
from kernel.resources import package_text
from recordings.transcripts import TranscriptRecords

DAY = 86400
RECENT_KEPT = 10000          # calls listed by `hotline calls recent`
CAS_TRIES = 5
LIVE_KEPT = 20000            # calls in progress whose record this process can write back (Redis lost it)
log = logging.getLogger(__name__)

_STATUS = package_text("ivr", "lua/call_status.lua")


class CallRecords:
    def __init__(self, redis: aioredis.Redis, prefix: str = "hotline", retention_days: int = 90,
                 sink: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self.r = redis
        self.prefix = prefix
        self.ttl = retention_days * DAY
        # The system of record (records.writer.RecordWriter.call): every field written here, in
        # order, first; it queues locally and never waits on the network.
        self.sink = sink
        self.transcripts = TranscriptRecords(redis, prefix, self.ttl, sink)
        self._status = redis.register_script(_STATUS)
        # What this process wrote of each call in progress, so a record Redis lost (FLUSHALL, a
        # restart without persistence) is written back before its next transition, not refused
        # as "no record". Dropped when the call's walk ends.
        self._live: dict[str, dict[str, Any]] = {}

    def _sink(self, call_id: str, fields: dict[str, Any]) -> None:
        if self.sink is not None:
            try:
                self.sink(call_id, fields)
            except Exception:          # the record is lost, the call goes on
                log.exception("call %s: the record sink failed", call_id)

    def key(self, call_id: str) -> str:
        return f"{self.prefix}:calllog:{call_id}"

    def transfers_key(self, call_id: str) -> str:
        """The call's transfer record (a hash, field ``transfers``: every version of each transfer), written
        by agents/transfer_service.py's Lua with the active transfer."""
        return f"{self.prefix}:calltransfers:{call_id}"

    def _caller_key(self, caller: str | None) -> str:
        return f"{self.prefix}:caller:{caller_key(caller)}:calls"

    # ------------------------------------------------------------ the transitions

    async def started(self, call_id: str, *, caller: str, caller_name: str, did: str, version: int,
                      channel: str, at: float | None = None, trunk: str = "", node: str = "",
                      withheld: bool = False) -> Decision:
        at = at or time.time()
        d = await self._change(call_id, R.Started(call_id, caller, caller_name, did, version, channel, at,
                                                  trunk=trunk, node=node, withheld=withheld), ttl=self.ttl)
        if not isinstance(d, R.Apply):
            return d
        async with self.r.pipeline(transaction=True) as p:
            if caller_key(caller):            # a withheld number links no calls together
                p.zadd(self._caller_key(caller), {call_id: at})
                p.zremrangebyscore(self._caller_key(caller), 0, at - 400 * DAY)
                p.expire(self._caller_key(caller), 400 * DAY)
            p.zadd(self.recent_key, {call_id: at})            # `hotline calls recent`, newest first
            p.zremrangebyrank(self.recent_key, 0, -RECENT_KEPT - 1)
            await p.execute()
        return d

    async def menu_done(self, call_id: str, outcome: Mapping[str, Any], path: Iterable[Any]) -> None:
        await self._fact(call_id, R.MenuDone(outcome, tuple(path)))

    async def lane_chosen(self, call_id: str, lane: str) -> None:
        await self._fact(call_id, R.LaneChosen(lane))

    async def queued(self, call_id: str, lane: str, at: float | None = None) -> Decision:
        return await self._change(call_id, R.Queued(lane, at or time.time()))

    async def offered(self, call_id: str, seat: str) -> Decision:
        return await self._change(call_id, R.Offered(seat))

    async def answered(self, call_id: str, seat: str, *, recording: str = "", at: float | None = None,
                       after_dial: bool = False) -> Decision:
        return await self._change(call_id, R.Answered(seat, at or time.time(), recording, after_dial))

    async def callback_requested(self, call_id: str, number: str) -> Decision:
        return await self._change(call_id, R.CallbackRequested(number))

    async def callback_connected(self, call_id: str, seat: str, at: float | None = None) -> Decision:
        return await self._change(call_id, R.CallbackConnected(seat, at or time.time()))

    async def missed(self, call_id: str) -> Decision:
        return await self._change(call_id, R.Missed())

    async def transferred(self, call_id: str, number: str, status: str) -> None:
        await self._fact(call_id, R.Transferred(number, status))

    async def described(self, call_id: str, recording: str, ended: str) -> None:
        await self._fact(call_id, R.Described(recording, ended))

    async def recording_kept(self, call_id: str, path: str, *, describe: bool = False) -> None:
        await self._fact(call_id, R.RecordingKept(path, describe))

    async def seat_connected(self, call_id: str, channel: str) -> None:
        await self._fact(call_id, R.SeatConnected(channel))

    async def surveyed(self, call_id: str, result: str, *, node: str = "", rating: str = "",
                       reason: str = "") -> dict[str, Any]:
        t = R.Surveyed(result, node, rating, reason)
        await self._fact(call_id, t)
        return t.fields()

    async def ticket_linked(self, call_id: str, ticket: str) -> None:
        await self._fact(call_id, R.TicketLinked(ticket))

    async def revisit_call(self, call_id: str, ticket: str) -> None:
        await self._fact(call_id, R.RevisitCall(ticket))

    async def leader_step(self, call_id: str, session: str, step: str) -> None:
        await self._fact(call_id, R.LeaderStep(session, step))

    async def ended(self, call_id: str, *, path: Iterable[Any], outcome: Mapping[str, Any] | None,
                    variables: Mapping[str, Any], notes: Iterable[Any], end_reason: str, finished: bool,
                    at: float | None = None) -> Decision:
        return await self._change(call_id, R.Ended(tuple(path), outcome, variables, tuple(notes), end_reason,
                                                   at or time.time(), finished))

    def transfers_saved(self, call_id: str, transfers: list[Any]) -> None:
        """The transfer record changed (its Lua wrote it): the system of record gets the whole list."""
        self._sink(call_id, {"transfers": transfers})

    async def _fact(self, call_id: str, t: R.Fact) -> None:
        fields = t.fields()
        self._sink(call_id, fields)
        self._remember(call_id, fields)
        await self.r.hset(self.key(call_id), mapping=hash_fields(R.encode(fields)))

    def _remember(self, call_id: str, fields: Mapping[str, Any], *, first: bool = False) -> None:
        live = self._live.get(call_id)
        if live is None:
            if not first:
                return                        # not a call this process started
            if len(self._live) >= LIVE_KEPT:
                self._live.pop(next(iter(self._live)))
            live = self._live[call_id] = {}
        live.update(fields)

    async def _restore(self, call_id: str) -> bool:
        """Write back the record of a call in progress that Redis no longer has; whether it did."""
        live = self._live.get(call_id)
        if not live or not live.get("status"):
            return False
        async with self.r.pipeline(transaction=True) as p:
            p.hset(self.key(call_id), mapping=hash_fields(R.encode(live)))
            p.expire(self.key(call_id), self.ttl)
            await p.execute()
        log.warning("call %s: its record was gone from Redis (data lost): written back as %s", call_id,
                    live.get("status"))
        return True

    async def _change(self, call_id: str, t: R.Transition, ttl: int = 0) -> Decision:
        """A status change, compare-and-set on the status it was decided from (tried again if another
        writer changed the status meanwhile)."""
        name = type(t).__name__
        for _ in range(CAS_TRIES):
            read = text_or_none(await self.r.hget(self.key(call_id), "status")) or ""
            if not read and not isinstance(t, R.Started) and await self._restore(call_id):
                read = text_or_none(await self.r.hget(self.key(call_id), "status")) or ""
            d = R.decide(R.status_of(read), t, exists=bool(read))
            if isinstance(d, R.Ignore):       # e.g. every answered call's second report of the answer
                log.debug("call %s: %s", call_id, d.reason)
                return d
            if isinstance(d, R.Refuse):
                log.warning("call %s: %s refused: %s", call_id, name, d.reason)
                return d
            args: list[Any] = [read, ttl]
            for k, v in R.encode(d.fields).items():
                args += [k, v]
            ok, _ = await self._status(keys=[self.key(call_id)], args=args)
            if ok:
                self._sink(call_id, d.fields)
                if isinstance(t, R.Ended):
                    self._live.pop(call_id, None)
                else:
                    self._remember(call_id, d.fields, first=isinstance(t, R.Started))
                return d
        log.warning("call %s: %s not written: the status kept changing under it", call_id, name)
        return R.Refuse("contended")

    # ------------------------------------------------------------ reading

    @property
    def recent_key(self) -> str:
        return f"{self.prefix}:calls:recent"

    async def latest(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest calls' records, newest first (those whose record expired are skipped)."""
        ids = await self.r.zrevrange(self.recent_key, 0, max(0, limit - 1))
        out = []
        for call_id in texts(ids):
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

    async def raw(self, call_id: str) -> dict[str, str]:
        """The call's fields as stored (the call hash, its transcript and its transfers), not decoded."""
        async with self.r.pipeline(transaction=False) as p:
            p.hgetall(self.key(call_id))
            p.hgetall(self.transcripts.key(call_id))
            p.hget(self.transfers_key(call_id), "transfers")
            call, text, transfers = await p.execute()
        out = text_map(call)
        if not out:
            return {}
        out.update(text_map(text))         # records from before the split had these in the call hash
        if transfers:
            out["transfers"] = text_or_none(transfers) or ""
        return out

    async def get(self, call_id: str) -> dict[str, Any] | None:
        """The call record as the web API and `hotline call` give it (the JSON fields decoded)."""
        raw = await self.raw(call_id)
        return R.decode(raw) if raw else None

    async def record(self, call_id: str) -> CallRecord | None:
        """The call record, typed."""
        data = await self.get(call_id)
        return CallRecord.from_data(data) if data is not None else None
