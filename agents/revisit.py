"""Satisfaction callbacks (回访): the closed-ticket webhook's tasks, calls out through the trunk, the
revisit tree on the answered leg, and the result on the ticket.

    revisits = Revisits(store, outbound, ami, tickets, calls, handler, policy=RevisitPolicy(), secret=...)
    await revisits.closed({...})          # the work-order system reported a ticket closed
    await revisits.tick()                 # one pass of the scheduler (the feature runs it in a loop)

Decisions (hours, attempts, never-call, pacing, what the walk means) are agents/revisit_plan.py's;
this module does the I/O. A call out is an AMI Originate of ``dial_string(number)`` (the checked
number through ``hotline-out``, which presents the trunk's caller ID, the hotline's number) into the
``hotline-revisit`` context, whose AGI runs the revisit tree in the same IVR engine as every call.
An attempt ends by the AGI session (answered) or by a failed OriginateResponse (no answer, busy,
the trunk refused); one never heard of is settled after ring time plus a margin.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from agents import revisit_plan as P
from agents.dialpolicy import Refusal
from agents.outbound import Outbound, dial_string
from kernel.notify import LiveEvent
from kernel.privacy import mask_number
from pbx import contract as V
from pbx.agi import AGISession
from pbx.events import OriginateResponse

log = logging.getLogger("hotline.agents.revisit")
SETTLE_MARGIN_S = 90.0           # an attempt with no outcome after ring time + this is settled as failed
LIMIT_DEFER_S = 600.0            # the dialling policy's hourly limits: try again after this
Transcribe = Callable[[str, Path], Awaitable[str]]


@dataclasses.dataclass(frozen=True)
class RevisitUnsatisfied(LiveEvent):
    """A citizen was not satisfied: the supervisors' pages show it (the ticket is reopened)."""

    TYPE = "revisit_unsatisfied"
    ticket: str
    reason: str


class Originator(Protocol):
    async def originate(self, channel: str, *, context: str, exten: str, caller_id: str, timeout_ms: int,
                        channel_id: str, variables: dict[str, str]) -> Any: ...


class CallRecordsLike(Protocol):
    async def get(self, call_id: str) -> dict[str, Any] | None: ...
    async def revisit_call(self, call_id: str, ticket: str) -> None: ...


class RevisitWebhookError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


# ------------------------------------------------------------------ store (PostgreSQL)

class RevisitStore:
    """revisit_tasks, revisit_attempts and do_not_call (records/migrations/0011_revisit_leader.sql)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    async def add(self, ticket_id: str, event_id: str, number: str | None, closed_at: dt.datetime,
                  state: P.State, next_at: dt.datetime | None, reason: str | None,
                  payload: Mapping[str, Any]) -> bool:
        """False when the ticket (or the event) already has a task: the webhook is idempotent."""
        got = await self.pool.fetchval(
            "INSERT INTO revisit_tasks (ticket_id, event_id, number, closed_at, state, next_at, reason, payload)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb) ON CONFLICT DO NOTHING RETURNING ticket_id",
            ticket_id, event_id, number, closed_at, str(state), next_at, reason,
            json.dumps(dict(payload), ensure_ascii=False))
        return got is not None

    async def get(self, ticket_id: str) -> dict[str, Any] | None:
        row = await self.pool.fetchrow("SELECT * FROM revisit_tasks WHERE ticket_id = $1", ticket_id)
        return dict(row) if row else None

    async def pending(self, now: dt.datetime, limit: int = 50) -> list[dict[str, Any]]:
        rows = await self.pool.fetch("SELECT * FROM revisit_tasks WHERE state = 'pending' AND next_at <= $1"
                                     " ORDER BY next_at LIMIT $2", now, limit)
        return [dict(r) for r in rows]

    async def dialling(self) -> list[dict[str, Any]]:
        return [dict(r) for r in await self.pool.fetch("SELECT * FROM revisit_tasks WHERE state = 'dialling'")]

    async def claim(self, ticket_id: str, at: dt.datetime) -> int | None:
        """Take a pending task for one attempt (atomic: of several controllers, one dials). Its attempt number."""
        got = await self.pool.fetchval("UPDATE revisit_tasks SET state = 'dialling', attempts = attempts + 1,"
                                       " dialled_at = $2, call_id = NULL, updated_at = now()"
                                       " WHERE ticket_id = $1 AND state = 'pending' RETURNING attempts", ticket_id, at)
        return int(got) if got is not None else None

    async def update(self, ticket_id: str, **fields: Any) -> None:
        names = list(fields)
        sets = ", ".join(f"{n} = ${i}" for i, n in enumerate(names, start=2))
        await self.pool.execute(f"UPDATE revisit_tasks SET {sets}, updated_at = now() WHERE ticket_id = $1",
                                ticket_id, *[str(v) if isinstance(v, (P.State, P.Skip, P.Result)) else v
                                             for v in fields.values()])

    async def attempt(self, ticket_id: str, attempt: int, channel_id: str, at: dt.datetime) -> None:
        await self.pool.execute("INSERT INTO revisit_attempts (ticket_id, attempt, started_at, channel_id)"
                                " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING", ticket_id, attempt, at, channel_id)

    async def attempt_over(self, ticket_id: str, attempt: int, outcome: str, at: dt.datetime,
                           call_id: str | None = None) -> None:
        await self.pool.execute("UPDATE revisit_attempts SET outcome = $3, ended_at = $4, call_id = $5"
                                " WHERE ticket_id = $1 AND attempt = $2 AND outcome IS NULL",
                                ticket_id, attempt, outcome, at, call_id)

    async def attempts(self, ticket_id: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch("SELECT * FROM revisit_attempts WHERE ticket_id = $1 ORDER BY attempt",
                                     ticket_id)
        return [dict(r) for r in rows]

    async def do_not_call(self, number: str) -> bool:
        return bool(await self.pool.fetchval("SELECT 1 FROM do_not_call WHERE number = $1", number))

    async def add_do_not_call(self, number: str, reason: str, by: str = "") -> bool:
        """On the list (canonical number); False when it was there already (kept as it was)."""
        got = await self.pool.fetchval("INSERT INTO do_not_call (number, reason, added_by) VALUES ($1, $2, $3)"
                                       " ON CONFLICT (number) DO NOTHING RETURNING number", number, reason, by)
        return got is not None

    async def list_do_not_call(self, limit: int = 500) -> tuple[list[dict[str, Any]], int]:
        """The newest `limit` entries of the do-not-call list, and how many there are in all."""
        rows = await self.pool.fetch("SELECT number, reason, added_at, added_by FROM do_not_call"
                                     " ORDER BY added_at DESC, number LIMIT $1", limit)
        total = await self.pool.fetchval("SELECT count(*) FROM do_not_call")
        return [dict(r) for r in rows], int(total or 0)

    async def remove_do_not_call(self, number: str) -> dict[str, Any] | None:
        """Off the list: the entry removed, or None when the number was not on it."""
        row = await self.pool.fetchrow("DELETE FROM do_not_call WHERE number = $1"
                                       " RETURNING number, reason, added_at, added_by", number)
        return dict(row) if row else None

    async def campaign(self, limit: int = 200) -> list[dict[str, Any]]:
        rows = await self.pool.fetch("SELECT ticket_id, number, closed_at, state, attempts, next_at, result,"
                                     " reason, transcript, updated_at FROM revisit_tasks"
                                     " ORDER BY updated_at DESC LIMIT $1", limit)
        return [dict(r) for r in rows]

    async def counts(self, since: dt.datetime | None = None, until: dt.datetime | None = None,
                     ) -> dict[str, dict[str, int]]:
        """Tasks by state and answers by result, of the tickets closed in [since, until)."""
        lo = since or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        hi = until or dt.datetime(9999, 1, 1, tzinfo=dt.UTC)
        rows = await self.pool.fetch("SELECT state, result, count(*) AS n FROM revisit_tasks"
                                     " WHERE closed_at >= $1 AND closed_at < $2 GROUP BY state, result", lo, hi)
        states: dict[str, int] = {}
        results: dict[str, int] = {}
        for r in rows:
            states[r["state"]] = states.get(r["state"], 0) + int(r["n"])
            if r["result"]:
                results[r["result"]] = results.get(r["result"], 0) + int(r["n"])
        return {"states": states, "results": results}


# ------------------------------------------------------------------ the service

class Revisits:
    def __init__(self, store: RevisitStore, outbound: Outbound, ami: Originator, tickets: Any,
                 calls: CallRecordsLike, handler: Callable[[AGISession], Awaitable[None]], *,
                 policy: P.RevisitPolicy, secret: str = "", transcribe: Transcribe | None = None,
                 publish: Callable[[LiveEvent], Awaitable[None]] | None = None,
                 load: Callable[[], Awaitable[tuple[int, int]]] | None = None,
                 clock: Callable[[], float] = time.time, wall: Callable[[], float] = time.time) -> None:
        self.store = store
        self.outbound = outbound
        self.ami = ami
        self.tickets = tickets            # tickets.store.TicketStore
        self.calls = calls                # ivr.calls.CallRecords
        self.handler = handler            # the IVR handler on the revisit tree
        self.policy = policy
        self.cal = P.hours_calendar(policy)
        self.secret = secret
        self.transcribe = transcribe
        self.publish = publish
        self.load = load                  # () -> (callers waiting, free seats): the seats' load
        self.clock = clock                # when calls may be placed (injectable, tests): Unix seconds
        self.wall = wall                  # the webhook's freshness check (the sender's clock is real)
        self.placed: dict[str, tuple[str, int]] = {}     # channel id -> (ticket id, attempt)
        self.answered: set[str] = set()                  # channel ids whose AGI session came
        self._lock = asyncio.Lock()

    def set_policy(self, policy: P.RevisitPolicy) -> None:
        self.policy, self.cal = policy, P.hours_calendar(policy)

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC)

    # -- the webhook ------------------------------------------------------------------
    def authenticate(self, timestamp: str | None, given: str | None, body: bytes) -> None:
        why = P.verify(self.secret, timestamp, given, body, self.wall())
        if why == "not_configured":
            raise RevisitWebhookError(404, "revisit_off", "回访接口未配置密钥")   # not offered, not a fault
        if why is not None:
            log.warning("revisit webhook refused: %s", why)
            raise RevisitWebhookError(401, "bad_signature", "签名无效")

    async def closed(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """A ticket closed by the work-order system: its revisit task, scheduled or refused at once."""
        ticket_id, event_id = str(payload.get("ticket_id") or ""), str(payload.get("event_id") or "")
        if not ticket_id or not event_id:
            raise RevisitWebhookError(400, "invalid_request", "缺少 ticket_id 或 event_id")
        closed_at = self.now()
        if payload.get("closed_at"):
            with contextlib.suppress(ValueError):
                closed_at = dt.datetime.fromisoformat(str(payload["closed_at"]))
                if closed_at.tzinfo is None:
                    closed_at = closed_at.replace(tzinfo=dt.UTC)
        contact = await self._contact(ticket_id, payload)
        verdict = self.outbound.check(contact.number) if contact.number else None
        number = verdict.number if verdict is not None and verdict.ok else None
        why = P.never(contact, bool(number) and await self.store.do_not_call(number or ""))
        if why is None and number is None:
            why = P.Skip.REFUSED
        next_at = P.first_attempt(self.policy, self.cal, closed_at) if why is None else None
        if why is None and next_at is None:
            why = P.Skip.EXPIRED
        state = P.State.PENDING if why is None else P.State.FAILED
        added = await self.store.add(ticket_id, event_id, number, closed_at, state, next_at,
                                     str(why) if why else None, _masked_payload(payload))
        if added and why is not None:
            await self._on_ticket(ticket_id, {"state": str(state), "reason": str(why),
                                              "reason_label": P.SKIP_LABELS[why]})
        log.info("revisit for ticket %s: %s%s", ticket_id, "queued" if added else "already known",
                 f" ({why})" if why else "")
        task = await self.store.get(ticket_id) or {}
        return {"ticket_id": ticket_id, "state": task.get("state"), "reason": task.get("reason"),
                "next_at": _iso(task.get("next_at")), "duplicate": not added}

    async def _contact(self, ticket_id: str, payload: Mapping[str, Any]) -> P.Contact:
        fields: Mapping[str, Any] = {}
        caller, confidential = None, False
        try:
            t = await self.tickets.get(ticket_id)
            fields, caller, confidential = t.fields, t.caller, t.confidential
        except Exception:             # noqa: BLE001 - a ticket no longer in Redis: the webhook's own fields
            log.info("revisit for ticket %s: no ticket here, the webhook's fields are used", ticket_id)
        number = payload.get("callback_number") or fields.get("callback_number") or caller
        agreed = fields.get("agrees_callback", payload.get("agrees_callback"))
        return P.Contact(number=str(number) if number else None,
                         opted_out=bool(payload.get("no_revisit") or fields.get("no_revisit")),
                         confidential=bool(confidential or payload.get("confidential")),
                         agreed=None if agreed is None else bool(agreed))

    # -- the scheduler ----------------------------------------------------------------
    async def run(self, every_s: float = 5.0) -> None:
        while True:
            try:
                await self.tick()
            except Exception:          # noqa: BLE001 - the loop goes on (PostgreSQL away, AMI reconnecting)
                log.exception("revisit scheduler pass failed")
            await asyncio.sleep(every_s)

    async def tick(self) -> int:
        """One pass: stale attempts settled, due tasks deferred, expired or dialled (paced). How many dialled."""
        async with self._lock:
            now = self.now()
            dialling = await self.store.dialling()
            for task in dialling:              # an attempt never heard of (AMI lost, a controller restarted)
                started = task["dialled_at"] or now
                if (task.get("call_id") is None and (now - started).total_seconds()
                        > self.policy.ring_s + SETTLE_MARGIN_S and not self._is_answered(task["ticket_id"])):
                    await self._failed_attempt(task, "timeout")
            in_progress = len(await self.store.dialling())
            waiting, free = await self.load() if self.load else (0, 1)
            room = P.capacity(self.policy, in_progress=in_progress, waiting_calls=waiting, free_seats=free)
            placed = 0
            for task in await self.store.pending(now):
                d = P.due(self.policy, self.cal, task["next_at"], task["closed_at"], now)
                if isinstance(d, P.Skip):
                    await self._fail(task, d)
                    continue
                if d is not None:
                    if d != task["next_at"]:           # outside the hours: deferred to the next allowed time
                        await self.store.update(task["ticket_id"], next_at=d)
                        log.info("revisit for ticket %s deferred to %s (outside the allowed hours)",
                                 task["ticket_id"], d.isoformat())
                    continue
                if placed >= room:
                    break
                if await self._dial(task):
                    placed += 1
            return placed

    def _is_answered(self, ticket_id: str) -> bool:
        return any(t == ticket_id and ch in self.answered for ch, (t, _) in self.placed.items())

    async def _dial(self, task: dict[str, Any]) -> bool:
        ticket_id, number = task["ticket_id"], task["number"] or ""
        if await self.store.do_not_call(number):            # added since the task was queued
            await self._fail(task, P.Skip.DO_NOT_CALL)
            return False
        verdict = await self.outbound.approve(number, "revisit", ref=ticket_id)
        if not verdict.ok:
            if verdict.refusal in (Refusal.NUMBER_LIMIT, Refusal.HOURLY_LIMIT):
                later = P.next_allowed(self.cal, self.now() + dt.timedelta(seconds=LIMIT_DEFER_S))
                await self.store.update(ticket_id, next_at=later or self.now())
                return False
            await self._fail(task, P.Skip.REFUSED)
            return False
        attempt = await self.store.claim(ticket_id, self.now())
        if attempt is None:                   # another controller took it
            return False
        chan = f"rv-{ticket_id}-{attempt}-{int(self.clock() * 1000) % 10_000_000}"
        await self.store.attempt(ticket_id, attempt, chan, self.now())
        self.placed[chan] = (ticket_id, attempt)
        log.info("revisit for ticket %s: attempt %d to %s", ticket_id, attempt, mask_number(verdict.number or ""))
        try:
            await self.ami.originate(dial_string(verdict.number or ""), context=V.REVISIT, exten="s",
                                     caller_id=f'"" <{verdict.number}>', timeout_ms=self.policy.ring_s * 1000,
                                     channel_id=chan, variables={V.REVISIT_TASK: ticket_id})
        except Exception as exc:        # noqa: BLE001 - AMI away: the attempt failed, retried as any other
            log.warning("revisit for ticket %s: originate failed (%s)", ticket_id, exc)
            self.placed.pop(chan, None)
            await self._failed_attempt(await self.store.get(ticket_id) or task, "originate")
        return True

    async def _failed_attempt(self, task: dict[str, Any], why: str) -> None:
        ticket_id, attempts = task["ticket_id"], int(task["attempts"])
        await self.store.attempt_over(ticket_id, attempts, f"failed:{why}", self.now())
        nxt = P.after_failure(self.policy, self.cal, task["closed_at"], attempts, self.now())
        if isinstance(nxt, P.Skip):
            await self._fail(task, nxt)
        else:
            await self.store.update(ticket_id, state=P.State.PENDING, next_at=nxt)
            log.info("revisit for ticket %s: attempt %d failed (%s); next at %s", ticket_id, attempts, why,
                     nxt.isoformat())

    async def _fail(self, task: dict[str, Any], why: P.Skip) -> None:
        await self.store.update(task["ticket_id"], state=P.State.FAILED, reason=why, next_at=None)
        await self._on_ticket(task["ticket_id"], {"state": "failed", "reason": str(why),
                                                  "reason_label": P.SKIP_LABELS[why],
                                                  "attempts": int(task["attempts"])})
        log.info("revisit for ticket %s failed: %s", task["ticket_id"], why)

    # -- AMI: how an attempt that was not answered ended --------------------------------
    def on_event(self, e: OriginateResponse) -> Awaitable[None] | None:
        if e.uniqueid in self.placed and e.failed and e.uniqueid not in self.answered:
            return self._originate_failed(e.uniqueid, e.reason)
        return None

    async def _originate_failed(self, chan: str, reason: str) -> None:
        ticket_id, _ = self.placed.pop(chan)
        why = {"3": "no_answer", "5": "busy", "8": "congestion", "1": "hangup", "0": "failed"}.get(reason, reason)
        async with self._lock:
            task = await self.store.get(ticket_id)
            if task is not None and task["state"] == str(P.State.DIALLING):
                await self._failed_attempt(task, why or "failed")

    # -- the answered call: the revisit tree ------------------------------------------
    async def agi(self, s: AGISession) -> None:
        ticket_id = await s.get_variable(V.REVISIT_TASK) or ""
        chan = s.env.uniqueid
        placed = self.placed.get(chan)
        self.answered.add(chan)
        task = await self.store.get(ticket_id) if ticket_id else None
        if task is None or placed is None:
            log.warning("revisit session %s for unknown task %r: hung up", chan, ticket_id)
            await s.hangup()
            return
        await self.store.update(ticket_id, call_id=chan)
        try:
            await self.handler(s)
            # (the call record says what the call was: not a call in, no lane, not in the call figures)
            await self.calls.revisit_call(chan, ticket_id)
        finally:
            self.placed.pop(chan, None)
            self.answered.discard(chan)
            await self._answered(task, placed[1], chan)

    async def _answered(self, task: dict[str, Any], attempt: int, call_id: str) -> None:
        ticket_id = task["ticket_id"]
        record = await self.calls.get(call_id) or {}
        result, opt_out = P.result_of(record.get("path") or [])
        now = self.now()
        await self.store.attempt_over(ticket_id, attempt, "answered", now, call_id)
        if opt_out:
            await self.store.add_do_not_call(task["number"], "asked_in_revisit")
            await self.store.update(ticket_id, state=P.State.DONE, reason=P.Skip.OPTED_OUT, next_at=None)
            await self._on_ticket(ticket_id, {"state": "done", "reason": str(P.Skip.OPTED_OUT),
                                              "reason_label": P.SKIP_LABELS[P.Skip.OPTED_OUT], "call_id": call_id})
            return
        if result is None:                      # answered, but no choice made: an attempt like a no-answer
            async with self._lock:
                await self._failed_attempt(dict(task, attempts=attempt), "no_choice")
            return
        transcript, recording = "", record.get("describe_recording") or ""
        if result is P.Result.UNSATISFIED and recording and self.transcribe is not None:
            try:
                transcript = await self.transcribe(call_id, Path(recording))
            except Exception:                  # noqa: BLE001 - the ticket is reopened all the same
                log.exception("revisit for ticket %s: transcription failed", ticket_id)
        await self.store.update(ticket_id, state=P.State.DONE, result=result, transcript=transcript or None,
                                recording=recording or None, next_at=None)
        info = {"state": "done", "result": str(result), "result_label": P.RESULT_LABELS[result],
                "call_id": call_id, "at": now.isoformat(), "attempts": attempt}
        if result is P.Result.UNSATISFIED:
            info.update(transcript=transcript, recording=recording)
        await self._on_ticket(ticket_id, info, reopen=result is P.Result.UNSATISFIED)
        log.info("revisit for ticket %s: %s", ticket_id, result)
        if result is P.Result.UNSATISFIED and self.publish is not None:
            with contextlib.suppress(Exception):
                await self.publish(RevisitUnsatisfied(ticket=ticket_id, reason=transcript[:200]))

    async def _on_ticket(self, ticket_id: str, info: Mapping[str, Any], *, reopen: bool = False) -> None:
        try:
            await self.tickets.annotate(ticket_id, "revisit", info, reopen=reopen)
        except Exception as exc:             # noqa: BLE001 - a ticket no longer here: the task keeps the result
            log.info("revisit for ticket %s: not on the ticket (%s)", ticket_id, exc)

    # -- reading ----------------------------------------------------------------------
    async def campaign(self) -> dict[str, Any]:
        rows = await self.store.campaign()
        tasks = [{"ticket_id": r["ticket_id"], "number": mask_number(r["number"] or ""), "state": r["state"],
                  "state_label": P.STATE_LABELS.get(P.State(r["state"]), r["state"]), "attempts": r["attempts"],
                  "next_at": _iso(r["next_at"]), "closed_at": _iso(r["closed_at"]), "result": r["result"],
                  "result_label": P.RESULT_LABELS[P.Result(r["result"])] if r["result"] else None,
                  "reason": r["reason"],
                  "reason_label": P.SKIP_LABELS.get(P.Skip(r["reason"])) if r["reason"] else None,
                  "updated_at": _iso(r["updated_at"])} for r in rows]
        return {"summary": await self.summary(), "tasks": tasks}

    async def summary(self, since: dt.datetime | None = None, until: dt.datetime | None = None) -> dict[str, Any]:
        """States and answers of the tickets closed in the range: 回访满意率, 不满意率 (each ticket sent
        back for rework: the 返工 count)."""
        c = await self.store.counts(since, until)
        states = {str(s): c["states"].get(str(s), 0) for s in P.State}
        results = {str(r): c["results"].get(str(r), 0) for r in P.Result}
        rate = P.satisfaction_rate(results)
        return {"states": states, "results": results, "satisfaction_rate": rate,
                "unsatisfied_rate": None if rate is None else round(1 - rate, 4),
                "reopened": results[str(P.Result.UNSATISFIED)]}


def _iso(v: Any) -> str | None:
    return v.isoformat() if isinstance(v, dt.datetime) else None


def _masked_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(payload)
    if out.get("callback_number"):
        out["callback_number"] = mask_number(str(out["callback_number"]))
    return out
