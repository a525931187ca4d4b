"""Delivery: a queued caller waits on their own FastAGI session (music,
position and wait announcements, the callback offer) until the routing engine
assigns a seat; then the session dials the seat, records the conversation,
and hands the call back to the IVR for the survey when the seat hangs up.

Dispatcher: one per controller. It takes this controller's assignments from
the routing engine's inbox and wakes the waiting call (or places a callback:
seat first, then the citizen).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from redis.exceptions import RedisError

from agents.dialpolicy import DialPolicy, check
from agents.errors import AgentsError
from agents.model import Assignment, CallPhase, CancelReason, WaitingCall
from agents.notify import ScreenPop
from agents.service import Router
from agents.transfer import caller_action, keeps_seat, seat_in_conference
from ivr import engine as E
from ivr.handler import WalkEnded
from kernel.loops import raise_if_cancelled
from kernel.privacy import mask_number
from kernel.tasks import TaskSet
from pbx.agi import AGIHangup
from pbx.contract import DIAL_ANSWERED, DIALSTATUS, ON_ANSWER, seat_interface

log = logging.getLogger("hotline.agents.delivery")

WAIT_SLICE_MS = 300          # how often a waiting call looks for its seat (decision -> ringing latency)


class CallbackRequested(WalkEnded):
    """The caller chose a callback and hung up; their place is kept."""

    reason = "callback_requested"


@dataclass(frozen=True)
class DeliverySettings:
    ring_timeout_s: int
    announce_every_s: int
    callback_offer_after_s: int | None
    demo_seats: frozenset[str] = frozenset()
    recordings_dir: Path = Path("recordings")
    outbound_dial: str = "Local/{number}@hotline-external"
    max_wait_s: int = 900        # then the call leaves the line, goes on the callback list, and the tree's on_fail runs
    demo_wrap_up_s: float | None = None   # demo seats' wrap-up after a call (None: the seats config's)


class Dispatcher:
    """This controller's assignments, handed to the calls waiting here."""

    def __init__(self, router: Router, node: str, originate=None, *, tasks: TaskSet | None = None) -> None:
        self.router = router
        self.node = node
        self.originate = originate           # async (Assignment) -> None, for callbacks
        # the callbacks being placed (the runtime's task set, or one of its own: close() cancels them)
        self.tasks = tasks if tasks is not None else TaskSet("dispatcher")
        self.waiting: dict[str, asyncio.Future[Assignment]] = {}
        self.held: dict[str, WaitingCall] = {}       # the calls in a lane whose AGI session is here
        self._warned = False

    def expect(self, call_id: str) -> asyncio.Future[Assignment]:
        """The future the next assignment of this call resolves (register before enqueueing)."""
        fut = self.waiting.get(call_id)
        if fut is None or fut.done():
            fut = self.waiting[call_id] = asyncio.get_running_loop().create_future()
        return fut

    def forget(self, call_id: str) -> None:
        self.waiting.pop(call_id, None)
        self.held.pop(call_id, None)

    async def enqueue_held(self, call_id: str) -> bool:
        """Put a call held here back in its lane, in its place (its first arrival), e.g. after Redis
        lost it; a call already known there is left as it is (False)."""
        waiting = self.held.get(call_id)
        if waiting is None:
            return False
        try:
            if await self.router.call(call_id) is not None:
                return False
            await self.router.enqueue(waiting)
        except AgentsError:                          # known again meanwhile (e.g. just enqueued): as it is
            return False
        return True

    async def requeue_lost(self) -> list[str]:
        """Redis lost its data: every call waiting here for a seat put back in its lane (a call
        being rung or talking to a seat is not waiting: its Dial goes on in Asterisk)."""
        back = []
        for call_id, fut in list(self.waiting.items()):
            if call_id in self.held and not fut.done() and await self.enqueue_held(call_id):
                back.append(call_id)
        if back:
            log.warning("routing: %d call(s) waiting here put back in their lanes after Redis lost them: %s",
                        len(back), ", ".join(back))
        return back

    async def run(self) -> None:
        while True:
            raise_if_cancelled()  # redis-py can swallow a cancel inside BLPOP
            try:
                a = await self.router.next_assignment(self.node, timeout=1.0)
                self._warned = False
            except RedisError as exc:
                raise_if_cancelled(exc)      # redis-py can turn a cancel into an error
                if not self._warned:                     # once per outage, not in a loop
                    log.error("dispatcher: redis unavailable (%s); waiting calls keep waiting", exc)
                    self._warned = True
                await asyncio.sleep(0.5)
                continue
            if a is None:
                continue
            if a.callback:
                if self.originate:
                    self.tasks.spawn(self._callback(a), name=f"callback-{a.call_id}")
                continue
            fut = self.waiting.get(a.call_id)
            if fut is not None and not fut.done():
                fut.set_result(a)
            else:                                        # the caller left meanwhile: free the seat
                log.info("assignment for call %s, which is no longer here", a.call_id)
                with contextlib.suppress(AgentsError, RedisError):
                    await self.router.store.call_op("drop", a.call_id, reason="lost", seat_to="ready")

    async def _callback(self, a: Assignment) -> None:
        try:
            await self.originate(a)
        except Exception:
            log.exception("callback %s: could not place the call", a.call_id)
            with contextlib.suppress(AgentsError, RedisError):
                await self.router.requeue_front(a.call_id)


class RoutedQueueRunner:
    """QueueRunner for the IVR handler: the Redis routing engine, with the
    dialplan's fallback queue when Redis cannot take the call."""

    def __init__(self, router: Router, dispatcher: Dispatcher, settings: DeliverySettings, say, calls,
                 fallback, publish=None, transfers=None, outbound=None) -> None:
        self.router = router
        self.dispatcher = dispatcher
        self.cfg = settings
        self.say = say                   # async (text) -> path of the spoken prompt
        self.calls = calls               # CallRecords
        self.fallback = fallback         # QueueRunner used when Redis is down
        self.publish = publish           # async (event dict) -> None (screen pop)
        self.transfers = transfers       # agents.transfer.TransferService: a seat's transfer of the call
        self.outbound = outbound         # agents.outbound.Outbound: the dialling policy for the callback number

    async def run(self, call, action: E.Queue) -> E.Event:
        waiting = WaitingCall(call_id=call.call_id, lane=action.lane, caller=call.caller or None,
                              node=self.dispatcher.node, arrived_at=self.router.store.clock())
        first = self.dispatcher.expect(call.call_id)   # before enqueueing: a seat may be found at once
        self.dispatcher.held[call.call_id] = waiting
        try:
            await self.router.enqueue(waiting)
        except RedisError as exc:
            self.dispatcher.forget(call.call_id)
            log.error("call %s: routing unavailable (%s); using the fallback queue", call.call_id, exc)
            return await self.fallback.run(call, action)
        await self.calls.queued(call.call_id, action.lane)
        try:
            return await self._wait_and_deliver(call, action, first)
        except AGIHangup:
            await self._abandoned(call.call_id)
            raise
        finally:
            self.dispatcher.forget(call.call_id)

    async def _abandoned(self, call_id: str) -> None:
        with contextlib.suppress(AgentsError, RedisError):
            st = await self.router.call(call_id)
            if st is not None and st.phase in (CallPhase.WAITING, CallPhase.RINGING):
                await self.router.cancel(call_id, CancelReason.ABANDONED)   # frees a ringing seat too
            elif st is not None and st.phase == CallPhase.ON_CALL:
                if self.transfers is not None and seat_in_conference(await self.transfers.active(call_id)):
                    return                       # the seat is still in the conference: its leaving ends it
                await self.router.ended(call_id)

    async def _wait_and_deliver(self, call, action: E.Queue, fut: asyncio.Future) -> E.Event:
        s = call.session
        announce_every = action.announce_every_s or self.cfg.announce_every_s
        offer_after = action.callback_after_s if action.callback_after_s is not None \
            else self.cfg.callback_offer_after_s
        started = time.monotonic()
        offered = False
        while True:
            await s.set_music(True, action.moh or "default")
            next_announce = time.monotonic() + min(announce_every, 30) if announce_every else None
            while not fut.done():
                digit = await s.wait_for_digit(WAIT_SLICE_MS)
                now = time.monotonic()
                if now - started > self.cfg.max_wait_s and not fut.done():
                    await s.set_music(False)
                    return await self._gave_up(call)
                if digit == "1" and offered:
                    await s.set_music(False)
                    await self._callback_request(call)
                if offer_after is not None and not offered and now - started >= offer_after:
                    offered = True
                    await self._play(s, "如需挂机等待回电，请按1，我们将按您的排队顺序回电。")
                if next_announce and now >= next_announce and not fut.done():
                    next_announce = now + announce_every
                    text = await self.router.announcement(call.call_id)
                    if text:
                        await self._play(s, text)
            a = fut.result()
            await s.set_music(False)
            outcome = await self._dial(call, a)
            if outcome == DIAL_ANSWERED:
                return E.Done()
            log.info("call %s: seat %s did not answer (%s); back to the head of the line", call.call_id,
                     a.seat_id, outcome)
            fut = self.dispatcher.expect(call.call_id)
            try:
                await self.router.requeue_front(call.call_id)
            except AgentsError:                  # Redis lost the call meanwhile: back in its lane, in its place
                await self.dispatcher.enqueue_held(call.call_id)

    async def _gave_up(self, call) -> E.Event:
        """Waited too long: off the line and onto the callback list (漏接回拨)."""
        try:
            await self.router.cancel(call.call_id, CancelReason.ABANDONED)
        except AgentsError:                     # assigned at the last moment: take the seat after all
            return E.Failed("max_wait")
        await self.calls.missed(call.call_id)
        log.info("call %s: no seat within %d s; on the callback list", call.call_id, self.cfg.max_wait_s)
        return E.Failed("max_wait")

    async def _play(self, s, text: str) -> None:
        await s.set_music(False)
        await s.stream_file(await self.say(text))
        await s.set_music(True)

    async def dial_seat(self, call, a: Assignment) -> str:
        """Ring one seat for the call as a routed call is (screen pop, recording, the seat freed after):
        for a seat chosen outside the router (agents/leader.py: the leader's seat). Its DIALSTATUS."""
        return await self._dial(call, a)

    async def _dial(self, call, a: Assignment) -> str:
        s = call.session
        rec = self.cfg.recordings_dir / "calls" / call.call_id
        rec.parent.mkdir(parents=True, exist_ok=True)
        iface = seat_interface(a.seat_id, a.seat_id in self.cfg.demo_seats)
        if self.publish:                                  # the screen pop comes before the phone rings
            await self.publish(ScreenPop(call_id=call.call_id, seat=a.seat_id, lane=a.lane, caller=call.caller,
                                         path=list(call.step.state.path), operator=a.operator_id,
                                         overflowed=a.overflowed))
        await self.calls.offered(call.call_id, a.seat_id)
        await s.set_variable(DIALSTATUS, "")
        # g: back to us when the seat hangs up (without it Dial returns -1 and the session
        # waits out the hang-up grace before it can free the seat and go on to the survey)
        await s.exec("Dial", iface, str(self.cfg.ring_timeout_s),
                     f"gU({ON_ANSWER}^{rec}^{call.call_id}^{a.seat_id})")
        status = (await s.get_variable(DIALSTATUS)) or "UNKNOWN"
        if status == DIAL_ANSWERED:
            # Normally done on the AMI answer event (agents/callbacks.py), which under load can come
            # after this Dial returned: whichever comes first moves the call; the other is a no-op.
            with contextlib.suppress(AgentsError):
                await self.router.answered_if_ringing(call.call_id, a.seat_id)
            transfer = await self.transfers.active(call.call_id) if self.transfers is not None else None
            if transfer is not None and caller_action(transfer) == "none":
                transfer = None                           # an earlier one, over
            if not keeps_seat(transfer):                  # (a seat in the conference ends it when it leaves)
                demo = a.seat_id in self.cfg.demo_seats
                with contextlib.suppress(AgentsError):
                    await self.router.ended(call.call_id, wrap_up_s=self.cfg.demo_wrap_up_s if demo else None)
            # (the answer's time is the AMI event's, when it came first: this one is then ignored)
            await self.calls.answered(call.call_id, a.seat_id, recording=f"{rec}.wav", after_dial=True)
            if transfer is not None:
                await self.transfers.caller_side(s, call.call_id, call.channel)
        return status

    def _checked(self, number: str | None):
        """The policy's verdict on a callback number (None: no number). Counted only when dialled."""
        if not number:
            return None
        if self.outbound is None:
            return check(DialPolicy(), number)
        return self.outbound.check(number)

    async def _callback_request(self, call) -> None:
        s = call.session
        number = None
        digits = ""
        own = self._checked(call.caller)          # the caller's own number, when it can be called back
        if own is not None and own.ok:
            tail = " ".join(own.number[-4:])
            digits, _ = await s.get_data(await self.say(f"我们将回电至尾号{tail}的号码，确认请按1，更换号码请按2。"),
                                         timeout_ms=6000, max_digits=1)
            if digits == "1":
                number = own.number
        elif own is not None:                     # withheld, international, premium: the caller hears why
            log.info("call %s: caller's number not usable for a callback (%s): %s", call.call_id, own.refusal,
                     mask_number(call.caller))
            await s.stream_file(await self.say(own.prompt))
        for _ in range(2 if number is None else 0):
            entered, _ = await s.get_data(await self.say("请输入回电号码，以井号键结束。"), timeout_ms=15000,
                                          max_digits=20)
            if not entered:
                break
            v = self._checked(entered)
            if v is not None and v.ok:
                number = v.number
                break
            log.info("call %s: callback number refused (%s): %s", call.call_id, v.refusal if v else "empty",
                     mask_number(entered))
            await s.stream_file(await self.say(v.prompt if v is not None else "未获取到号码。"))
        if not number:
            await self._play(s, "未能获取回电号码，请继续等待。")
            return
        await self.router.request_callback(call.call_id, number)
        await self.calls.callback_requested(call.call_id, number)
        log.info("call %s: callback to %s, place kept", call.call_id, mask_number(number))
        await s.stream_file(await self.say("好的，我们将按您的排队顺序尽快回电，再见。"))
        raise CallbackRequested(call.call_id)
