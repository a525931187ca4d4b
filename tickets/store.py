"""The ticket store on Redis: draft -> confirmed (corrections kept) -> handed_off | dead_letter.

    store = TicketStore(redis)                       # decode_responses=True client
    t = await store.create_draft(call_id, "13800001234", transcript, seat="s01")
    t = await store.update_transcript(t.id, "来电人：...")   # live text; draft re-extracted
    t = await store.confirm(t.id, "op07", {"district": "芦淞区"})  # queued for hand-off, same MULTI
    await store.export_jsonl(sys.stdout, "2025-03-01", "2025-03-31")

A ticket id is `{prefix}-{YYYYMMDD}-{NNNNNN}`, the day local to the hotline
and the number from a per-day INCR. One draft per call id: creating it again
returns the existing ticket. The extracted draft (`DraftTicket.to_dict()`) is
kept as extracted; confirmation stores the confirmed fields beside it, the
corrections (a diff of the two) and the work order that the hand-off delivers
unchanged, however often it is retried. Tickets are indexed by caller (a
sorted set by time) and by day. Redis persists them (appendonly).
Key layout: tickets/keys.py. Hand-off: tickets/outbox.py, tickets/handoff.py.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import IO, Any, Protocol
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from kernel.privacy import mask_name, mask_number
from kernel.redis_text import hash_fields, text_map, text_or_none, texts
from kernel.resources import package_text
from tickets.confirm import EXTRACTED_FIELDS, confirmed_fields, corrections, work_order
from tickets.extract import extract
from tickets.keys import TicketKeys
from tickets.model import DraftTicket, TicketsError
from tickets.outbox import enqueue
from tickets.repeat import RepeatCheck, RepeatPolicy, check_caller
from tickets.rules import Rules, load_rules
from tickets.turns import render as render_turns

log = logging.getLogger(__name__)
_SEQ_AT_LEAST = package_text("tickets", "lua/seq_at_least.lua")

DEFAULT_TZ = "Asia/Shanghai"
FLOOR_KEEP_S = 5.0            # how long the records' answer for a day's ticket-number floor is reused
_JSON_FIELDS = ("draft", "repeat", "confirmed", "corrections", "revisit", "leader")
# What other features note on a ticket (TicketStore.annotate): the satisfaction callback (agents/revisit.py),
# the leader-answering session it came from (agents/leader.py: tagged 领导接听 / 领导交办).
ANNOTATIONS = ("revisit", "leader")
_ANONYMOUS = {"anonymous", "unknown", "unavailable", "restricted", "private"}


class Recall(Protocol):
    async def __call__(self, ticket_id: str | None = None, *,
                      call_id: str | None = None) -> Mapping[str, Any] | None: ...


class TicketNotFound(TicketsError):
    def __init__(self, ticket_id: str) -> None:
        super().__init__("tickets.not_found", f"no ticket {ticket_id}", ticket_id=ticket_id)


class TicketStateError(TicketsError):
    def __init__(self, ticket_id: str, status: str, wanted: str) -> None:
        super().__init__("tickets.wrong_status", f"ticket {ticket_id} is {status}, not {wanted}",
                         ticket_id=ticket_id, status=status, wanted=wanted)


def normalize_caller(number: str | None) -> str | None:
    """Digits of a caller id, country and trunk prefixes dropped; None when withheld or empty."""
    if not number or str(number).strip().lower() in _ANONYMOUS:
        return None
    digits = re.sub(r"\D", "", str(number))
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13 and digits[2] == "1":
        digits = digits[2:]
    if len(digits) == 12 and re.match(r"01[3-9]", digits):
        digits = digits[1:]
    return digits or None


def _iso(ts: float | None, tz: ZoneInfo) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz).isoformat(timespec="seconds")


def _float(value: str | None) -> float | None:
    return float(value) if value not in (None, "") else None


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class Ticket:
    id: str
    call_id: str
    caller: str | None
    channel: str
    received_at: float
    seat: str | None
    recording: str | None
    status: str
    draft: Mapping[str, Any]            # DraftTicket.to_dict(), as extracted
    transcript: str                     # everything heard so far (the draft may hold a cut)
    confidential: bool = False
    repeat: RepeatCheck = RepeatCheck()
    confirmed: Mapping[str, Any] | None = None
    corrections: Mapping[str, Any] = field(default_factory=dict)
    confirmed_by: str | None = None
    confirmed_at: float | None = None
    handoff: Mapping[str, Any] = field(default_factory=dict)   # attempts, last_error, handed_off_at, ...
    updated_at: float | None = None
    turns: tuple[Mapping[str, Any], ...] = ()   # the live conversation: {"speaker", "text", "start", "end"}
    revisit: Mapping[str, Any] = field(default_factory=dict)   # the satisfaction callback (agents/revisit.py)
    leader: Mapping[str, Any] = field(default_factory=dict)    # the leader-answering session (agents/leader.py)

    @property
    def fields(self) -> dict[str, Any]:
        """The ticket's fields as they stand: confirmed ones when confirmed, else the draft's."""
        if self.confirmed is not None:
            return dict(self.confirmed)
        return {name: self.draft.get(name) for name in EXTRACTED_FIELDS}

    @classmethod
    def from_hash(cls, h: Mapping[str, str]) -> Ticket:
        data = {name: json.loads(h[name]) if h.get(name) else None for name in _JSON_FIELDS}
        handoff = {"attempts": int(h.get("attempts") or 0), "last_error": h.get("last_error") or None,
                   "handed_off_at": _float(h.get("handed_off_at")), "response": h.get("handoff_response") or None,
                   "next_attempt_at": _float(h.get("next_attempt_at")),
                   "dead_reason": h.get("dead_reason") or None, "dead_at": _float(h.get("dead_at"))}
        return cls(
            id=h["id"], call_id=h["call_id"], caller=h.get("caller") or None, channel=h.get("channel", "phone"),
            received_at=float(h["received_at"]), seat=h.get("seat") or None,
            recording=h.get("recording") or None, status=h["status"], draft=data["draft"] or {},
            transcript=h.get("transcript", ""), confidential=h.get("confidential") == "1",
            repeat=RepeatCheck.from_dict(data["repeat"]), confirmed=data["confirmed"],
            corrections=data["corrections"] or {}, confirmed_by=h.get("confirmed_by") or None,
            confirmed_at=_float(h.get("confirmed_at")), handoff=handoff, updated_at=_float(h.get("updated_at")),
            turns=tuple(json.loads(h["turns"])) if h.get("turns") else (),
            revisit=data["revisit"] or {}, leader=data["leader"] or {},
        )

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> Ticket:
        """A ticket from the records (hotline.records_up ticket_doc: its API form and exact times)."""
        d = rec["doc"]
        handoff = dict(d.get("handoff") or {})
        for name in ("handed_off_at", "next_attempt_at", "dead_at"):
            v = handoff.get(name)
            handoff[name] = datetime.fromisoformat(v).timestamp() if isinstance(v, str) and v else None
        return cls(
            id=d["id"], call_id=d["call_id"], caller=d.get("caller") or None, channel=d.get("channel") or "phone",
            received_at=float(rec["received_at"]), seat=d.get("seat") or None, recording=d.get("recording") or None,
            status=d["status"], draft=d.get("draft") or {}, transcript=d.get("transcript") or "",
            confidential=bool(d.get("confidential")), repeat=RepeatCheck.from_dict(d.get("repeat")),
            confirmed=d.get("confirmed"), corrections=d.get("corrections") or {},
            confirmed_by=d.get("confirmed_by") or None, confirmed_at=_float_or_none(rec.get("confirmed_at")),
            handoff=handoff, updated_at=_float_or_none(rec.get("updated_at")),
            turns=tuple(d.get("turns") or ()), revisit=d.get("revisit") or {}, leader=d.get("leader") or {})

    def to_hash(self, tz: ZoneInfo = ZoneInfo(DEFAULT_TZ)) -> dict[str, str]:
        """The Redis hash from_hash reads back (a ticket the records still had, written back)."""
        h = self.handoff
        out = {
            "id": self.id, "call_id": self.call_id, "caller": self.caller or "", "channel": self.channel,
            "received_at": repr(self.received_at), "seat": self.seat or "", "recording": self.recording or "",
            "status": self.status, "transcript": self.transcript, "confidential": "1" if self.confidential else "0",
            "confirmed_by": self.confirmed_by or "", "attempts": str(int(h.get("attempts") or 0)),
            "last_error": h.get("last_error") or "", "handoff_response": h.get("response") or "",
            "dead_reason": h.get("dead_reason") or "",
        }
        for name, value in (("confirmed_at", self.confirmed_at), ("updated_at", self.updated_at),
                            ("handed_off_at", h.get("handed_off_at")), ("next_attempt_at", h.get("next_attempt_at")),
                            ("dead_at", h.get("dead_at"))):
            out[name] = repr(float(value)) if value is not None else ""
        for name, data in (("draft", self.draft), ("repeat", self.repeat.to_dict()), ("confirmed", self.confirmed),
                           ("corrections", self.corrections), ("revisit", self.revisit), ("leader", self.leader)):
            out[name] = json.dumps(data, ensure_ascii=False) if data else ""
        if self.turns:
            out["turns"] = json.dumps([dict(t) for t in self.turns], ensure_ascii=False)
        if self.confirmed is not None:
            out["work_order"] = json.dumps(work_order(self.to_dict(tz)), ensure_ascii=False)
        return out

    def to_dict(self, tz: ZoneInfo = ZoneInfo(DEFAULT_TZ)) -> dict[str, Any]:
        handoff = dict(self.handoff)
        for name in ("handed_off_at", "next_attempt_at", "dead_at"):
            handoff[name] = _iso(handoff.get(name), tz)
        return {
            "id": self.id, "call_id": self.call_id, "caller": self.caller, "channel": self.channel,
            "received_at": _iso(self.received_at, tz), "seat": self.seat, "recording": self.recording,
            "status": self.status, "confidential": self.confidential, "draft": dict(self.draft),
            "transcript": self.transcript, "turns": [dict(t) for t in self.turns],
            "linked": list(self.repeat.linked), "repeat": self.repeat.to_dict(),
            "confirmed": dict(self.confirmed) if self.confirmed is not None else None,
            "corrections": dict(self.corrections), "confirmed_by": self.confirmed_by,
            "confirmed_at": _iso(self.confirmed_at, tz), "handoff": handoff, "updated_at": _iso(self.updated_at, tz),
            "revisit": dict(self.revisit), "leader": dict(self.leader),
        }


def _labelled(joined: str, turns: list[Mapping[str, Any]]) -> str:
    said = {str(t.get("text") or "").strip() for t in turns}
    head = [line for line in joined.split("\n") if line.strip() and line.strip() not in said]
    return "\n".join([*(f"来电人：{line}" for line in head), render_turns(turns)])


def _masked(d: dict[str, Any]) -> dict[str, Any]:
    """An exported ticket without personal data: numbers and names masked, the transcript left out."""
    d = dict(d, caller=mask_number(d["caller"]) if d["caller"] else None, transcript=None, turns=None)
    for part in ("draft", "confirmed"):
        if d.get(part):
            p = dict(d[part])
            p["caller_name"] = mask_name(p.get("caller_name")) if p.get("caller_name") else None
            p["callback_number"] = mask_number(p.get("callback_number")) if p.get("callback_number") else None
            p.pop("transcript", None)
            p.pop("evidence", None)
            if isinstance(p.get("suggestions"), dict):
                p["suggestions"] = {k: v for k, v in p["suggestions"].items() if k not in ("caller_name", "callback_number")}
            if isinstance(p.get("alert"), dict):
                p["alert"] = {k: v for k, v in p["alert"].items() if k != "cues"}
            d[part] = p
    d["corrections"] = {k: ("masked" if k in ("caller_name", "callback_number") else v)
                        for k, v in d["corrections"].items()}
    return d


def _day(value: date | str) -> date:
    if isinstance(value, date):
        return value
    text = str(value).replace("-", "")
    return date(int(text[:4]), int(text[4:6]), int(text[6:8]))


class TicketStore:
    """Tickets of one hotline on Redis (a client with decode_responses=True); several controllers share it."""

    def __init__(self, redis: aioredis.Redis, *, keys: TicketKeys = TicketKeys(), id_prefix: str = "ZZ12345",
                 tz: str = DEFAULT_TZ, rules: Rules | None = None,
                 extractor: Callable[[str], DraftTicket] | None = None,
                 repeat: RepeatPolicy = RepeatPolicy(), clock: Callable[[], float] = time.time,
                 max_transcript_chars: int = 200_000,
                 sink: Callable[[str, Ticket], None] | None = None,
                 seq_floor: Callable[[str], Awaitable[int]] | None = None,
                 recall: Recall | None = None) -> None:
        self.r = redis
        # The records' copy of a ticket Redis no longer has (hotline.records_up ticket_doc): written
        # back at first use, so a draft lost with Redis's data can still be confirmed.
        self.recall = recall
        # The system of record (records.writer.RecordWriter.ticket): each ticket as it stands after
        # a change, with the event; queued locally, never waits on the network.
        self.sink = sink
        # The highest ticket number of a day the records hold: a day counter lost with Redis
        # restarts above it, so no ticket id is given twice.
        self.seq_floor = seq_floor
        self._floors: dict[str, asyncio.Task[int]] = {}     # one records lookup per day in flight
        self._checked_days: set[str] = set()                 # day counters checked against the records
        self._seq_at_least = redis.register_script(_SEQ_AT_LEAST)
        self.keys = keys
        self.id_prefix = id_prefix
        self.tz = ZoneInfo(tz)
        self._rules = rules
        self._extractor = extractor
        self.repeat_policy = repeat
        self.clock = clock
        self.max_transcript_chars = max_transcript_chars

    # -- reading ------------------------------------------------------------------------
    async def get(self, ticket_id: str) -> Ticket:
        h = text_map(await self.r.hgetall(self.keys.ticket(ticket_id)))
        if not h:
            if await self._recalled(ticket_id) is None:
                raise TicketNotFound(ticket_id)
            h = text_map(await self.r.hgetall(self.keys.ticket(ticket_id)))
            if not h:
                raise TicketNotFound(ticket_id)
        return Ticket.from_hash(h)

    async def get_by_call(self, call_id: str, *, recall: bool = True) -> Ticket | None:
        """recall=False: Redis only (a new call's draft: asking the records for every new call would
        put PostgreSQL on the hot path)."""
        ticket_id = text_or_none(await self.r.get(self.keys.call(call_id)))
        if not ticket_id and recall and self.recall is not None:
            ticket = await self._recalled(call_id=call_id)
            ticket_id = ticket.id if ticket is not None else None
        return await self.get(ticket_id) if ticket_id else None

    async def _recalled(self, ticket_id: str | None = None, *, call_id: str | None = None) -> Ticket | None:
        """A ticket Redis does not have, from the records, written back (with its call, caller and day
        indexes) unless another controller did it first; None when the records have none either."""
        if self.recall is None:
            return None
        rec = await self.recall(ticket_id, call_id=call_id)
        if not rec:
            return None
        ticket = Ticket.from_record(rec)
        key = self.keys.ticket(ticket.id)
        async with self.r.pipeline(transaction=True) as pipe:
            await pipe.watch(key)
            if await pipe.exists(key):
                await pipe.unwatch()
                return ticket
            pipe.multi()
            pipe.hset(key, mapping=hash_fields(ticket.to_hash(self.tz)))
            pipe.set(self.keys.call(ticket.call_id), ticket.id, nx=True)
            if ticket.caller:
                pipe.zadd(self.keys.caller(ticket.caller), {ticket.id: ticket.received_at})
            pipe.zadd(self.keys.day(self._day_of(ticket.received_at)), {ticket.id: ticket.received_at})
            try:
                await pipe.execute()
            except WatchError:
                return ticket
        log.warning("ticket %s (%s) was gone from Redis (data lost): written back from the records", ticket.id,
                    ticket.status)
        return ticket

    async def _many(self, ids: Iterable[str]) -> list[Ticket]:
        ids = list(ids)
        out: list[Ticket] = []
        for start in range(0, len(ids), 200):
            async with self.r.pipeline(transaction=False) as pipe:
                for ticket_id in ids[start:start + 200]:
                    pipe.hgetall(self.keys.ticket(ticket_id))
                out.extend(Ticket.from_hash(h) for h in await pipe.execute() if h)
        return out

    async def list_by_caller(self, caller: str | None, within_days: float | None = None, *,
                             now: float | None = None, limit: int = 100) -> list[Ticket]:
        """The caller's tickets received in the last `within_days` (default: the repeat window), newest first."""
        number = normalize_caller(caller)
        if number is None:
            return []
        now = self.clock() if now is None else now
        days = self.repeat_policy.within_days if within_days is None else within_days
        ids = await self.r.zrevrangebyscore(self.keys.caller(number), now, now - days * 86400,
                                            start=0, num=limit)
        return await self._many(texts(ids))

    async def list_by_day(self, day: date | str) -> list[Ticket]:
        """The day's tickets (local day of the hotline), oldest first."""
        return await self._many(texts(await self.r.zrange(self.keys.day(_day(day).strftime("%Y%m%d")), 0, -1)))

    async def export_jsonl(self, out: IO[str], start: date | str, end: date | str | None = None, *,
                           mask: bool = False, reveal_confidential: bool = False,
                           after: float | None = None) -> int:
        """Write the tickets received from day `start` to day `end` (inclusive) as JSON Lines; the count.

        `mask` leaves personal data out of every ticket; confidential tickets
        are always exported masked unless `reveal_confidential`. `after`: only
        tickets received at or after this time (epoch seconds).
        """
        first, last = _day(start), _day(end if end is not None else start)
        count, day = 0, first
        while day <= last:
            for ticket in await self.list_by_day(day):
                if after is not None and ticket.received_at < after:
                    continue
                d = ticket.to_dict(self.tz)
                if mask or (ticket.confidential and not reveal_confidential):
                    d = _masked(d)
                out.write(json.dumps(d, ensure_ascii=False) + "\n")
                count += 1
            day += timedelta(days=1)
        return count

    # -- drafts -------------------------------------------------------------------------
    def rules(self) -> Rules:
        return self._rules if self._rules is not None else load_rules()

    async def _extract(self, text: str, caller: str | None) -> DraftTicket:
        """Extraction off the event loop (long transcripts take tens of milliseconds)."""
        if self._extractor is not None:
            draft = await asyncio.to_thread(self._extractor, text)
        else:
            draft = await asyncio.to_thread(extract, text, self.rules())
        return draft.with_default_callback(caller)

    def _day_of(self, ts: float) -> str:
        return datetime.fromtimestamp(ts, self.tz).strftime("%Y%m%d")

    async def create_draft(self, call_id: str, caller: str | None, source: str | DraftTicket | None = None, *,
                           seat: str | None = None, recording: str | None = None, channel: str = "phone",
                           received_at: float | None = None, confidential: bool = False) -> Ticket:
        """A new draft for a call from a transcript (extracted here) or a ready DraftTicket.

        Returns the call's existing ticket if it has one. The caller's tickets of
        the repeat window are linked and a likely repeat flagged.
        """
        if not call_id:
            raise TicketsError("tickets.call_id_required", "a ticket needs a call id")
        existing = await self.get_by_call(call_id, recall=False)
        if existing is not None:
            return existing
        number = normalize_caller(caller)
        if isinstance(source, DraftTicket):
            draft = source.with_default_callback(number)
        else:
            draft = await self._extract(source or "", number)
        transcript = (source if isinstance(source, str) else draft.transcript)[: self.max_transcript_chars]
        received = self.clock() if received_at is None else received_at
        check = await check_caller(self, number, draft.to_dict(), before=received, policy=self.repeat_policy)
        day = self._day_of(received)
        seq = await self._next_seq(day)
        ticket_id = f"{self.id_prefix}-{day}-{seq:06d}"
        mapping = {
            "id": ticket_id, "call_id": call_id, "caller": number or "", "channel": channel,
            "received_at": repr(received), "seat": seat or "", "recording": recording or "", "status": "draft",
            "draft": json.dumps(draft.to_dict(), ensure_ascii=False), "transcript": transcript,
            "confidential": "1" if confidential else "0",
            "repeat": json.dumps(check.to_dict(), ensure_ascii=False), "updated_at": repr(received),
        }
        call_key = self.keys.call(call_id)
        async with self.r.pipeline(transaction=True) as pipe:
            await pipe.watch(call_key)
            other = text_or_none(await pipe.get(call_key))
            if other:
                await pipe.unwatch()
                return await self.get(other)
            pipe.multi()
            pipe.set(call_key, ticket_id)
            pipe.hset(self.keys.ticket(ticket_id), mapping=hash_fields(mapping))
            if number:
                pipe.zadd(self.keys.caller(number), {ticket_id: received})
            pipe.zadd(self.keys.day(day), {ticket_id: received})
            self._event(pipe, "draft", ticket_id, "draft")
            try:
                await pipe.execute()
            except WatchError:
                return await self.get_by_call(call_id, recall=False) or await self.create_draft(
                    call_id, caller, source, seat=seat, recording=recording, channel=channel,
                    received_at=received_at, confidential=confidential)
        log.info("ticket %s drafted for call %s from %s (repeat of %s)", ticket_id, call_id,
                 mask_number(number), check.likely_repeat_of or "-")
        return self._record("draft", Ticket.from_hash(mapping))

    async def update_transcript(self, ticket_id: str, text: str, *, turn: Mapping[str, Any] | None = None,
                                max_turns: int = 2000) -> Ticket:
        """Append live transcript text (a new line); while the ticket is a draft, extract the draft
        again from the whole transcript (replacing a draft given ready-made) and re-check repeats.
        `turn` ({"speaker", "text", "start", "end"}) is kept in the ticket's speaker turns."""
        text = (text or "").strip()
        key = self.keys.ticket(ticket_id)
        recalled = False
        while True:
            async with self.r.pipeline(transaction=True) as pipe:
                await pipe.watch(key)
                h = text_map(await pipe.hgetall(key))
                if not h:
                    await pipe.unwatch()
                    if not recalled and await self._recalled(ticket_id) is not None:
                        recalled = True
                        continue
                    raise TicketNotFound(ticket_id)
                ticket = Ticket.from_hash(h)
                joined = f"{ticket.transcript}\n{text}" if ticket.transcript else text
                joined = joined[: self.max_transcript_chars]
                if not text or joined == ticket.transcript:
                    await pipe.unwatch()
                    return ticket
                updates = {"transcript": joined, "updated_at": repr(self.clock())}
                if turn is not None and len(ticket.turns) < max_turns:
                    updates["turns"] = json.dumps([*ticket.turns, dict(turn)], ensure_ascii=False)
                if ticket.status == "draft":
                    turns = [*ticket.turns, dict(turn)] if turn is not None else list(ticket.turns)
                    # the live call's speaker turns when there are any (the caller's carry the appeal);
                    # lines that are no turn (the account given before answer) are the caller's too
                    draft = await self._extract(_labelled(joined, turns) if turns else joined, ticket.caller)
                    check = await check_caller(self, ticket.caller, draft.to_dict(), before=ticket.received_at,
                                               exclude=ticket.id, policy=self.repeat_policy)
                    updates["draft"] = json.dumps(draft.to_dict(), ensure_ascii=False)
                    updates["repeat"] = json.dumps(check.to_dict(), ensure_ascii=False)
                pipe.multi()
                pipe.hset(key, mapping=hash_fields(updates))
                self._event(pipe, "transcript", ticket_id, ticket.status)
                try:
                    await pipe.execute()
                except WatchError:
                    continue
            return self._record("transcript", Ticket.from_hash({**h, **updates}))

    async def update_call_info(self, ticket_id: str, *, seat: str | None = None,
                               recording: str | None = None) -> Ticket:
        """Record the seat that answered and the recording link once known (a draft is often
        made while the caller still waits). A work order already built at confirmation keeps its values."""
        updates = {name: value for name, value in (("seat", seat), ("recording", recording)) if value}
        key = self.keys.ticket(ticket_id)
        if not await self.r.exists(key) and await self._recalled(ticket_id) is None:
            raise TicketNotFound(ticket_id)
        if updates:
            await self.r.hset(key, mapping=hash_fields({**updates, "updated_at": repr(self.clock())}))
            return self._record("call_info", await self.get(ticket_id))
        return await self.get(ticket_id)

    async def annotate(self, ticket_id: str, what: str, info: Mapping[str, Any], *, reopen: bool = False) -> Ticket:
        """Another feature's note on the ticket (``what``: one of ANNOTATIONS), replacing its earlier one;
        ``reopen``: the ticket goes back for rework (status ``reopened``: a 不满意 satisfaction callback)."""
        if what not in ANNOTATIONS:
            raise ValueError(f"unknown ticket annotation {what!r}")
        key = self.keys.ticket(ticket_id)
        if not await self.r.exists(key) and await self._recalled(ticket_id) is None:
            raise TicketNotFound(ticket_id)
        updates = {what: json.dumps(dict(info), ensure_ascii=False), "updated_at": repr(self.clock())}
        if reopen:
            updates["status"] = "reopened"
        event = "reopened" if reopen else what
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=hash_fields(updates))
            self._event(pipe, event, ticket_id, updates.get("status", ""))
            await pipe.execute()
        return self._record(event, await self.get(ticket_id))

    # -- confirmation -------------------------------------------------------------------
    async def confirm(self, ticket_id: str, operator: str, fields: Mapping[str, Any]) -> Ticket:
        """The operator confirms the draft with `fields` (their changes; `confidential` may be one).

        Stores the confirmed fields, the corrections and the work order, and
        queues the ticket for hand-off in the same transaction.
        Raises ConfirmError (fields refused), TicketNotFound, TicketStateError (not a draft).
        """
        if not operator:
            raise TicketsError("tickets.operator_required", "confirming needs the operator")
        fields = dict(fields)
        confidential = fields.pop("confidential", None)
        if confidential is not None and not isinstance(confidential, bool):
            raise TicketsError("tickets.invalid_fields", "confidential: must be true or false",
                               problems=[{"field": "confidential", "message": "must be true or false"}])
        key = self.keys.ticket(ticket_id)
        recalled = False
        while True:
            async with self.r.pipeline(transaction=True) as pipe:
                await pipe.watch(key)
                h = text_map(await pipe.hgetall(key))
                if not h:
                    await pipe.unwatch()
                    if not recalled and await self._recalled(ticket_id) is not None:
                        recalled = True
                        continue
                    raise TicketNotFound(ticket_id)
                ticket = Ticket.from_hash(h)
                if ticket.status != "draft":
                    raise TicketStateError(ticket_id, ticket.status, "draft")
                confirmed = confirmed_fields(ticket.draft, fields, self.rules())
                now = self.clock()
                ticket = dataclasses.replace(
                    ticket, status="confirmed", confirmed=confirmed, corrections=corrections(ticket.draft, confirmed),
                    confirmed_by=operator, confirmed_at=now, updated_at=now,
                    confidential=ticket.confidential if confidential is None else confidential)
                updates = {
                    "status": "confirmed", "confirmed": json.dumps(confirmed, ensure_ascii=False),
                    "corrections": json.dumps(ticket.corrections, ensure_ascii=False), "confirmed_by": operator,
                    "confirmed_at": repr(now), "updated_at": repr(now),
                    "confidential": "1" if ticket.confidential else "0",
                    "work_order": json.dumps(work_order(ticket.to_dict(self.tz)), ensure_ascii=False),
                }
                pipe.multi()
                pipe.hset(key, mapping=hash_fields(updates))
                enqueue(pipe, self.keys, ticket_id)
                self._event(pipe, "confirmed", ticket_id, "confirmed")
                try:
                    await pipe.execute()
                except WatchError:
                    continue
            log.info("ticket %s confirmed by %s (%d correction(s))", ticket_id, operator, len(ticket.corrections))
            return self._record("confirmed", ticket)

    async def record(self, ticket_id: str, event: str) -> None:
        """Hand the ticket as it now stands to the sink (e.g. after a hand-off outcome the outbox stored)."""
        if self.sink is not None:
            self._record(event, await self.get(ticket_id))

    def _record(self, event: str, ticket: Ticket) -> Ticket:
        if self.sink is not None:
            try:
                self.sink(event, ticket)
            except Exception:
                log.exception("ticket %s: the record sink failed", ticket.id)
        return ticket

    async def counters_suspect(self) -> None:
        """Redis changed under us (a failover to a replica, or data lost): a day counter that is there
        may still lag numbers already given (asynchronous replication loses the last writes), so each
        day's counter is checked against the records once more before its next number."""
        self._checked_days.clear()
        self._floors.clear()                          # a floor read before the change is not asked again

    async def _next_seq(self, day: str) -> int:
        key = self.keys.seq(day)
        if self.seq_floor is not None and (day not in self._checked_days or not await self.r.exists(key)):
            floor = await self._floor(day)
            if floor > 0:
                await self._seq_at_least(keys=[key], args=[floor])
            self._checked_days.add(day)
            if len(self._checked_days) > 8:           # only today and yesterday matter
                self._checked_days = set(sorted(self._checked_days)[-2:])
        return int(await self.r.incr(key))

    async def _floor(self, day: str) -> int:
        """The records' floor for a day, asked once however many drafts arrive together (a burst at
        midnight or after Redis was lost asked PostgreSQL once per draft and ran its pool dry)."""
        assert self.seq_floor is not None
        task = self._floors.get(day)
        if task is None:
            task = self._floors[day] = asyncio.ensure_future(self.seq_floor(day))
            # kept a few seconds after it answers: drafts that saw no counter just before the first
            # one set it use the same answer (a later loss of the counter asks again)
            task.add_done_callback(lambda _t: asyncio.get_running_loop().call_later(
                FLOOR_KEEP_S, lambda: self._floors.pop(day, None)))
        return await asyncio.shield(task)

    def _event(self, pipe: Any, event: str, ticket_id: str, status: str) -> None:
        pipe.publish(self.keys.events, json.dumps({"event": event, "ticket": ticket_id, "status": status}))
