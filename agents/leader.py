"""Leader-answering days (领导接听日): the sessions admins schedule, and what they change on a call.

    days = LeaderDays(pool, seats, tickets, calls, say=deps.say, redis=redis)
    handler.intro = days.intro                         # the announcement before the tree's menu
    handler.queue = LeaderQueueRunner(handler.queue, days)   # the leader's seat first

During a session covering the call (its DID; then its lane when it queues):
- the caller hears the session's announcement before the tree's first prompt;
- a call queueing in a covered lane rings the leader's seat first (the same dial, screen pop and
  draft ticket as any routed call: agents/delivery.py), waiting up to ``wait_s`` while the leader is
  busy, then the usual lane;
- the leader's seat is kept out of ordinary routing while the session runs (paused 领导接听 when it
  goes ready), so the router never offers it a second call;
- a call the leader answered gets its ticket tagged 领导接听 / 领导交办 with the session's follow-up
  deadline, and a row in leader_calls for the session's report.
Decisions are agents/leader_plan.py's.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from redis.exceptions import RedisError

from agents import leader_plan as L
from agents.errors import AgentsError
from agents.model import LEADER_HOLD, Assignment, SeatState
from ivr import engine as E
from kernel.privacy import mask_number
from kernel.tasks import TaskSet
from pbx.contract import DIAL_ANSWERED

log = logging.getLogger("hotline.agents.leader")
REFRESH_S = 10.0
POLL_S = 1.0
TICKET_WAIT_S = 5.0          # the describe step's draft may still be on its way when the leader hangs up


class LeaderDays:
    def __init__(self, pool: Any, seats: Any, tickets: Any, calls: Any, *, say: Callable[[str], Awaitable[str]],
                 redis: Any, prefix: str = "hotline", timezone: str = L.DEFAULT_TZ,
                 clock: Callable[[], float] = time.time) -> None:
        self.pool = pool                 # the records database (leader_sessions, leader_calls)
        self.seats = seats               # agents.service.SeatService: the leader seat's state, pausing it
        self.tickets = tickets           # tickets.store.TicketStore
        self.calls = calls               # ivr.calls.CallRecords
        self.say = say
        self.redis = redis
        self.prefix = prefix
        self.timezone = timezone
        self.clock = clock               # injectable (tests)
        self.sessions: list[L.LeaderSession] = []
        self.jobs = TaskSet("leader")     # tickets being tagged after a leader's call

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC)

    # -- sessions (PostgreSQL, cached here) ----------------------------------------------
    async def refresh(self) -> None:
        rows = await self.pool.fetch("SELECT doc FROM leader_sessions WHERE NOT cancelled AND ends_at >= $1",
                                     self.now() - dt.timedelta(days=1))
        self.sessions = [_session(json.loads(r["doc"]) if isinstance(r["doc"], str) else r["doc"]) for r in rows]

    async def create(self, form: Mapping[str, Any], by: str, seats: Iterable[str], lanes: Iterable[str]) -> L.LeaderSession:
        s = L.parse_session(form, session_id=f"ld-{uuid.uuid4().hex[:10]}", seats=seats, lanes=lanes,
                            timezone=self.timezone)
        await self.refresh()
        clash = L.clashes(s, self.sessions)
        if clash:
            raise L.SessionInvalid([{"path": "seat", "message": f"该坐席在此时段已有领导接听安排（{', '.join(clash)}）"}])
        lo, hi = s.window()
        await self.pool.execute("INSERT INTO leader_sessions (id, starts_at, ends_at, doc, created_by)"
                                " VALUES ($1, $2, $3, $4::jsonb, $5)", s.id, lo, hi,
                                json.dumps(s.to_dict(), ensure_ascii=False), by)
        await self.refresh()
        log.info("leader session %s scheduled: %s %s-%s, seat %s", s.id, s.day, s.start, s.end, s.seat)
        return s

    async def cancel(self, session_id: str) -> bool:
        done = await self.pool.fetchval("UPDATE leader_sessions SET cancelled = true WHERE id = $1 RETURNING id",
                                        session_id)
        await self.refresh()
        return done is not None

    async def listing(self) -> list[dict[str, Any]]:
        rows = await self.pool.fetch("SELECT s.doc, s.cancelled, (SELECT count(*) FROM leader_calls c"
                                     " WHERE c.session_id = s.id) AS calls FROM leader_sessions s"
                                     " ORDER BY s.starts_at DESC LIMIT 200")
        out = []
        for r in rows:
            doc = json.loads(r["doc"]) if isinstance(r["doc"], str) else dict(r["doc"])
            out.append({**doc, "cancelled": bool(r["cancelled"]), "calls": int(r["calls"])})
        return out

    async def report(self, session_id: str) -> dict[str, Any] | None:
        """The session and the tickets taken in it, each with its follow-up deadline and whether it is overdue."""
        row = await self.pool.fetchrow("SELECT doc, cancelled FROM leader_sessions WHERE id = $1", session_id)
        if row is None:
            return None
        doc = json.loads(row["doc"]) if isinstance(row["doc"], str) else dict(row["doc"])
        calls = await self.pool.fetch("SELECT * FROM leader_calls WHERE session_id = $1 ORDER BY answered_at",
                                      session_id)
        today = self.now().astimezone(ZoneInfo(self.timezone)).date()
        tickets = []
        for c in calls:
            t = None
            if c["ticket_id"]:
                with contextlib.suppress(Exception):
                    t = await self.tickets.get(c["ticket_id"])
            fields = t.fields if t is not None else {}
            status = t.status if t is not None else None
            closed = t is not None and bool(t.revisit)     # the work-order system reported it closed
            tickets.append({"ticket_id": c["ticket_id"], "call_id": c["call_id"], "seat": c["seat"],
                            "caller": mask_number(c["caller"] or ""), "answered_at": c["answered_at"].isoformat(),
                            "follow_up_by": c["follow_up_by"].isoformat(), "status": status,
                            "title": fields.get("title"), "category": fields.get("category"),
                            "tags": list(L.TAGS),
                            "closed": closed, "overdue": c["follow_up_by"] < today and not closed})
        return {"session": {**doc, "cancelled": bool(row["cancelled"])}, "tickets": tickets,
                "count": len(tickets), "overdue": sum(1 for t in tickets if t["overdue"])}

    async def run(self) -> None:
        """Keep the cache fresh and the leader's seat out of ordinary routing while a session runs."""
        while True:
            try:
                await self.refresh()
                await self.hold_seats()
            except Exception:          # noqa: BLE001 - the loop goes on (PostgreSQL or Redis away)
                log.exception("leader sessions: refresh failed")
            await asyncio.sleep(REFRESH_S)

    async def hold_seats(self) -> None:
        now = self.now()
        for s in self.sessions:
            if not s.covers_time(now):
                continue
            st = await self.seats.status(s.seat)
            if st.state == SeatState.READY:
                with contextlib.suppress(AgentsError):
                    await self.seats.hold(s.seat, LEADER_HOLD)
                    log.info("leader session %s: seat %s kept for the leader (paused %s)", s.id, s.seat, LEADER_HOLD)

    # -- on a call -------------------------------------------------------------------
    async def intro(self, call: Any) -> list[str]:
        """The prompts a new call hears before the tree (the session's announcement), as files."""
        s = L.active(self.sessions, self.now(), call.did)
        if s is None:
            return []
        await self.calls.leader_step(call.call_id, s.id, "announced")
        return [await self.say(s.announcement_text)]

    def _busy_key(self, seat: str) -> str:
        return f"{self.prefix}:leader:busy:{seat}"

    async def leader_free(self, s: L.LeaderSession) -> bool:
        """The leader's seat is logged in and on no call (ours or a routed one)."""
        try:
            st = await self.seats.status(s.seat)
        except AgentsError:
            return False
        return st.state in (SeatState.READY, SeatState.PAUSED, SeatState.WRAP_UP)

    async def offer(self, call: Any, action: E.Queue, s: L.LeaderSession, dial: Callable[[Any, Assignment], Awaitable[str]]) -> bool:
        """Ring the leader's seat, waiting up to ``wait_s`` while it is busy. True: the leader took the call."""
        session = call.session
        deadline = time.monotonic() + s.wait_s
        await self.calls.leader_step(call.call_id, s.id, "offered")
        # queued in the lane for the leader, so the seat's offer and answer move the record as a routed
        # call's do (an offer is taken from the queue only)
        await self.calls.queued(call.call_id, action.lane)
        music = False
        try:
            while True:
                if await self.leader_free(s) and await self.redis.set(self._busy_key(s.seat), call.call_id, nx=True, ex=3600):
                    if music:
                        await session.set_music(False)
                        music = False
                    try:
                        return await self._ring(call, action, s, dial)
                    finally:
                        with contextlib.suppress(RedisError):
                            await self.redis.delete(self._busy_key(s.seat))
                if time.monotonic() >= deadline:
                    log.info("call %s: the leader (seat %s) busy for %d s: the usual lane", call.call_id, s.seat, s.wait_s)
                    await self.calls.leader_step(call.call_id, s.id, "overflow")
                    return False
                if not music:
                    await session.set_music(True, action.moh or "default")
                    music = True
                await session.wait_for_digit(int(POLL_S * 1000))
        finally:
            if music:
                with contextlib.suppress(Exception):
                    await session.set_music(False)

    async def _ring(self, call: Any, action: E.Queue, s: L.LeaderSession, dial: Callable[[Any, Assignment], Awaitable[str]]) -> bool:
        st = await self.seats.status(s.seat)
        a = Assignment(call_id=call.call_id, seat_id=s.seat, lane=action.lane, decided_at=time.time(),
                       operator_id=st.operator_id or "")
        status = await dial(call, a)
        if status != DIAL_ANSWERED:
            log.info("call %s: the leader's seat %s did not answer (%s): the usual lane", call.call_id, s.seat, status)
            return False
        await self.calls.leader_step(call.call_id, s.id, "answered")
        await self.calls.lane_chosen(call.call_id, action.lane)
        # (in the background: the caller goes on to the rating while the describe step's draft arrives)
        self.jobs.spawn(self.taken(call.call_id, call.caller, s), name=f"leader-{call.call_id}")
        return True

    async def close(self, timeout: float = 10.0) -> None:
        """Let the tagging of tickets in progress finish (at stop), then end what is left."""
        running = list(self.jobs)
        if running:
            await asyncio.wait(running, timeout=timeout)
        await self.jobs.stop(1.0)

    async def taken(self, call_id: str, caller: str | None, s: L.LeaderSession) -> None:
        """The leader took the call: its ticket tagged 领导接听 / 领导交办, with the follow-up deadline."""
        now = self.now()
        due = L.follow_up_by(s, now)
        ticket = None
        waited = 0.0
        while ticket is None and waited < TICKET_WAIT_S:
            ticket = await self.tickets.get_by_call(call_id, recall=False)     # drafted meanwhile
            if ticket is None:
                await asyncio.sleep(0.5)
                waited += 0.5
        if ticket is None:
            ticket = await self.tickets.create_draft(call_id, caller or None, "", seat=s.seat)
        info = {"session": s.id, "tags": list(L.TAGS), "leader": f"{s.leader_title}{s.leader_name}",
                "seat": s.seat, "answered_at": now.isoformat(), "follow_up_by": due.isoformat()}
        with contextlib.suppress(Exception):
            ticket = await self.tickets.annotate(ticket.id, "leader", info)
        await self.pool.execute("INSERT INTO leader_calls (call_id, session_id, ticket_id, seat, caller, answered_at,"
                                " follow_up_by) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (call_id) DO NOTHING",
                                call_id, s.id, ticket.id, s.seat, caller, now, due)
        log.info("call %s: taken by the leader in session %s; ticket %s (follow-up by %s)", call_id, s.id, ticket.id, due)


class LeaderQueueRunner:
    """A QueueRunner: the leader's seat first during a covering session, then the usual queue."""

    def __init__(self, inner: Any, days: LeaderDays) -> None:
        self.inner = inner           # agents.delivery.RoutedQueueRunner
        self.days = days

    async def run(self, call: Any, action: E.Queue) -> E.Event:
        s = L.for_queue(self.days.sessions, self.days.now(), call.did, action.lane)
        if s is not None and await self.days.offer(call, action, s, self.inner.dial_seat):
            return E.Done()
        return await self.inner.run(call, action)


def _session(doc: Mapping[str, Any]) -> L.LeaderSession:
    return L.LeaderSession(
        id=str(doc["id"]), day=dt.date.fromisoformat(doc["date"]), start=dt.time.fromisoformat(doc["start"]),
        end=dt.time.fromisoformat(doc["end"]), leader_name=str(doc["leader_name"]),
        leader_title=str(doc.get("leader_title") or ""), seat=str(doc["seat"]), lanes=tuple(doc.get("lanes") or ()),
        dids=tuple(doc.get("dids") or ()), wait_s=int(doc.get("wait_s", 60)),
        follow_up_days=int(doc.get("follow_up_days", 5)), announcement=str(doc.get("announcement") or ""),
        timezone=str(doc.get("timezone") or L.DEFAULT_TZ), cancelled=bool(doc.get("cancelled")))
