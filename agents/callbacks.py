"""Callbacks: the seat first, then the citizen, on a channel this controller
originates; and how each attempt ends (AMI events on that channel).

The dispatcher hands a callback assignment to `originate`; the attempt is
settled by the dialplan's `HotlineCallbackResult`, by the channel's hangup, or
by a failed `OriginateResponse` (the seat did not answer), whichever comes
first. `HotlineAnswered` (a routed call answered at a seat) is handled here
too, in the same subscription, so the events of a call keep Asterisk's order.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from redis.exceptions import RedisError

from agents.errors import AgentsError
from agents.model import Assignment, CallPhase
from agents.outbound import Outbound
from agents.service import Router
from pbx import contract as V
from pbx.contract import CALLBACK, seat_interface
from pbx.events import DialEnd, Hangup, HotlineAnswered, HotlineCallbackResult, OriginateResponse

log = logging.getLogger("agents.callbacks")
CallEvent = HotlineAnswered | HotlineCallbackResult | DialEnd | Hangup | OriginateResponse


class Originator(Protocol):
    async def originate(self, channel: str, *, context: str, exten: str, caller_id: str, timeout_ms: int,
                        channel_id: str, variables: dict[str, str]) -> Any: ...


class CallRecordsLike(Protocol):
    """The call record transitions written here (ivr.calls.CallRecords)."""

    async def answered(self, call_id: str, seat: str, *, recording: str = "", at: float | None = None) -> Any: ...
    async def callback_connected(self, call_id: str, seat: str, at: float | None = None) -> Any: ...
    async def missed(self, call_id: str) -> Any: ...


class Callbacks:
    """The callback attempts this controller placed, by originate channel id."""

    def __init__(self, router: Router, outbound: Outbound, ami: Originator, calls: CallRecordsLike, *,
                 recordings_dir: Path, ring_timeout_s: float, demo_seats: frozenset[str],
                 clock: Callable[[], float] = time.time) -> None:
        self.router = router
        self.outbound = outbound
        self.ami = ami
        self.calls = calls
        self.recordings_dir = recordings_dir
        self.ring_timeout_s = ring_timeout_s
        self.demo_seats = demo_seats
        self.clock = clock
        self.placed: dict[str, str] = {}          # originate channel id -> call id
        self.dial_status: dict[str, str] = {}     # callback channel id -> how its Dial to the citizen ended

    async def originate(self, a: Assignment) -> None:
        """Ring the seat, then dial the citizen (refused numbers are never dialled, logged masked)."""
        st = await self.router.call(a.call_id)
        raw = (st.callback_number or st.caller) if st else None
        verdict = await self.outbound.approve(raw, "callback", ref=a.call_id) if raw else None
        if verdict is None or not verdict.ok:
            await self.router.callback_failed(a.call_id)
            return
        number = verdict.number or ""
        chan_id = f"cb-{a.call_id}-{int(asyncio.get_running_loop().time() * 1000)}"
        self.placed[chan_id] = a.call_id
        rec = self.recordings_dir / "calls" / a.call_id
        rec.parent.mkdir(parents=True, exist_ok=True)
        try:
            await self.ami.originate(
                seat_interface(a.seat_id, a.seat_id in self.demo_seats), context=CALLBACK, exten="s",
                # (shown on the seat's phone; the citizen's leg presents the trunk's caller ID: hotline-out)
                caller_id=f'"Callback" <{number}>', timeout_ms=int(self.ring_timeout_s * 1000),
                channel_id=chan_id, variables={V.CB_NUM: number, V.CB_REC: str(rec),
                                               V.CB_CALL_ID: a.call_id, V.CB_SEAT: a.seat_id})
        except BaseException:
            self.placed.pop(chan_id, None)         # never placed: the dispatcher puts the call back
            raise

    async def over(self, uid: str) -> None:
        """A callback attempt's own channel is done: answered and talked, or failed.

        Its dialplan (seat first, then the citizen) does not always get to report
        the result (a Dial without `g` ends the channel when the citizen hangs up),
        so its hangup settles the attempt too; whichever comes first wins."""
        cid, status = self.placed.pop(uid, None), self.dial_status.pop(uid, "")
        st = await self.router.call(cid) if cid else None
        if cid is None or st is None or not st.callback:
            return
        if st.phase == CallPhase.RINGING:              # the seat did not answer
            await self.router.requeue_front(cid)
        elif st.phase == CallPhase.ON_CALL:
            if status == V.DIAL_ANSWERED:
                await self.router.ended(cid)
                await self.calls.callback_connected(cid, st.seat_id or "", at=self.clock())
            elif not await self.router.callback_failed(cid):      # no retry left: on the callback list
                await self.calls.missed(cid)

    # one subscription for all of them, so the events of a call are handled in the order Asterisk sent them
    EVENTS = (HotlineAnswered, HotlineCallbackResult, DialEnd, Hangup, OriginateResponse)

    async def handle(self, e: CallEvent) -> None:
        try:
            if isinstance(e, HotlineAnswered):
                await self.answered(e)
            elif isinstance(e, (HotlineCallbackResult, DialEnd)):     # on the callback's own channel
                self.dial_status[e.uniqueid] = e.status if isinstance(e, HotlineCallbackResult) else e.dial_status
                if isinstance(e, HotlineCallbackResult):
                    await self.over(e.uniqueid)
            elif isinstance(e, Hangup) or e.failed:   # OriginateResponse: the seat did not answer
                await self.over(e.uniqueid)
        except (AgentsError, RedisError) as exc:
            log.warning("%s for call %s: %s", e.NAME, getattr(e, "call_id", None) or self.placed.get(e.uniqueid), exc)

    async def answered(self, e: HotlineAnswered) -> None:
        """A seat answered. Sent twice for a callback: on its own channel when the seat answers (context
        CALLBACK), then on the citizen's leg (ON_ANSWER) when the citizen does, by then on call.

        The caller's session reports the answer too, when its Dial returns (agents/delivery.py); under
        load this event can come after it. Both go through `Router.answered_if_ringing` and the call
        record's `answered` transition, so the later one is a no-op, not a ``call_state`` warning."""
        st = await self.router.call(e.call_id)
        if st is None:
            return
        await self.router.answered_if_ringing(st.call_id, e.seat)
        if e.context == V.ON_ANSWER and not st.callback and e.seat:
            await self.calls.answered(st.call_id, e.seat, recording=f"{e.rec}.wav" if e.rec else "",
                                      at=self.clock())

    def on_event(self, e: CallEvent) -> Awaitable[None] | None:
        if isinstance(e, HotlineAnswered):
            return self.handle(e)
        if e.uniqueid in self.placed:
            return self.handle(e)              # callbacks this controller placed (HotlineCallbackResult and the rest)
        return None
