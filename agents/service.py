"""Seat and routing services: "may this happen?" here, "make it happen" in the store.

``SeatService`` (operators at seats) and ``Router`` (calls in lanes) check
what the configuration decides (known seat, operator, lane, pause reason)
and raise structured errors; the store applies each change atomically and
raises the state errors (``SeatBusy``, ``NotLoggedIn``, ``CallStateError``...)
its scripts report, so a race between controllers ends in a clear error,
never in a half-made change.

Composition (one place, the ``hotline`` entry point)::

    store = RoutingStore(redis, seats_config, prefix="hotline", clock=clock)
    await store.load_scripts()
    router = Router(store, tree.lanes)
    seats = SeatService(store, notify=router.poke)
    task = asyncio.create_task(router.run())      # matches on every poke and every second

A call's life: ``enqueue`` -> (``match`` makes) ringing -> ``answered`` ->
``ended`` -> the seat wraps up, then is ready again (by itself after
``wrap_up_s`` or when the operator says so). No answer: ``requeue_front``.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from agents.errors import (
    AgentsError,
    CallStateError,
    InvalidTransition,
    UnknownCall,
    UnknownLane,
    UnknownOperator,
    UnknownPauseReason,
    UnknownSeat,
)
from agents.model import (
    NO_ANSWER,
    NODE_FAILED,
    OFFLINE,
    SYSTEM_PAUSE_REASONS,
    Assignment,
    CallPhase,
    CallStatus,
    CancelReason,
    SeatState,
    SeatStatus,
    WaitingCall,
)
from agents.nodes import DEAD, OWN, may_settle, owner_state
from agents.policy import Rules, estimate_wait, repeat_boost, wait_announcement
from agents.store import RoutingStore
from ivr.model import Lane
from ivr.numbers import caller_key
from kernel.loops import raise_if_cancelled
from kernel.privacy import mask_number
from pbx.events import DeviceState

log = logging.getLogger("hotline.agents")

# What the PBX says about a seat's phone (the lead maps AMI device states to these).
PBX_IDLE = "idle"
PBX_IN_USE = "in_use"
PBX_RINGING = "ringing"
PBX_UNAVAILABLE = "unavailable"   # not registered
STAFFED = frozenset({SeatState.READY, SeatState.RINGING, SeatState.ON_CALL, SeatState.WRAP_UP})
# Asterisk device states (DEVICE_STATE(), DeviceStateChange) -> what the PBX says about a seat's phone.
DEVICE_STATES: Mapping[DeviceState, str] = {
    DeviceState.NOT_INUSE: PBX_IDLE, DeviceState.INUSE: PBX_IN_USE, DeviceState.BUSY: PBX_IN_USE,
    DeviceState.ONHOLD: PBX_IN_USE, DeviceState.RINGING: PBX_RINGING, DeviceState.RINGINUSE: PBX_RINGING,
    DeviceState.UNAVAILABLE: PBX_UNAVAILABLE, DeviceState.INVALID: PBX_UNAVAILABLE}


def _from_states(*states: str) -> dict[str, Any]:
    """The ``from`` argument of a forced seat operation (a Python keyword, so passed as ``**``)."""
    return {"from": list(states)}


def phone_state(device_state: DeviceState | None) -> str | None:
    """An Asterisk device state as a seat's phone state; None when it says nothing (UNKNOWN)."""
    return DEVICE_STATES.get(device_state) if device_state is not None else None


def seat_phone_states(seat_ids: Iterable[str], demo: Iterable[str], devices: Mapping[str, DeviceState | None],
                      channels: Iterable[str], demo_context: str) -> dict[str, str]:
    """Each seat's phone as the PBX sees it (for ``Router.resync``).

    ``devices``: seat -> device state of its PJSIP endpoint; ``channels``: the
    names of the channels up. A demo seat (a Local channel in ``demo_context``)
    is in use while one of its channels is up, idle otherwise.
    """
    demo_ids, names = set(demo), list(channels)
    out: dict[str, str] = {}
    for sid in seat_ids:
        if sid in demo_ids:
            prefix = f"Local/{sid}@{demo_context}-"
            out[sid] = PBX_IN_USE if any(n.startswith(prefix) for n in names) else PBX_IDLE
        else:
            st = phone_state(devices.get(sid))
            if st is not None:
                out[sid] = st
    return out


class SeatService:
    """Operators at seats: login, ready, pause, wrap-up, logout."""

    def __init__(self, store: RoutingStore, notify=None, history=None) -> None:
        self.store = store
        self.config = store.config
        self.notify = notify or (lambda: None)  # called when a seat may have become ready
        # The system of record (records.writer.RecordWriter.seat): history(seat, event, operator=,
        # state=, reason=) after each change an operator or the phone makes; local, never waits.
        self.history = history

    def _changed(self, event: str, st: SeatStatus, operator: str = "") -> SeatStatus:
        if self.history is not None:
            try:
                self.history(st.seat_id, event, operator=operator or st.operator_id or None, state=str(st.state.value),
                             reason=st.reason or None)
            except Exception:
                log.exception("seat %s: the history sink failed", st.seat_id)
        return st

    def _seat(self, seat_id: str) -> str:
        if seat_id not in self.config.seats:
            raise UnknownSeat(f"no seat {seat_id}", seat_id=seat_id)
        return seat_id

    def _reason(self, reason: str) -> str:
        r = self.config.pause_reason(reason)
        if r is None or r.system:
            choices = [x.code for x in self.config.pause_reasons if not x.system]
            raise UnknownPauseReason(f"pause reason {reason!r} is not one an operator can choose",
                                     reason=reason, choices=choices)
        return reason

    async def login(self, seat_id: str, operator_id: str, *, pause_reason: str | None = None) -> SeatStatus:
        """Log an operator in: ready at once, or paused with ``pause_reason``."""
        self._seat(seat_id)
        op = self.config.operators.get(operator_id)
        if op is None:
            raise UnknownOperator(f"no operator {operator_id}", operator_id=operator_id)
        if pause_reason is not None:
            self._reason(pause_reason)
        await self.store.login(seat_id, operator_id, op.skills, reason=pause_reason)
        log.info("seat %s: operator %s logged in (%s)", seat_id, operator_id, pause_reason or "ready")
        if pause_reason is None:
            self.notify()
        return self._changed("login", await self.store.seat(seat_id))

    async def ready(self, seat_id: str) -> SeatStatus:
        """Ready for calls (from a pause, or ending wrap-up early)."""
        await self.store.seat_op("ready", self._seat(seat_id))
        self.notify()
        return self._changed("ready", await self.store.seat(seat_id))

    async def pause(self, seat_id: str, reason: str) -> SeatStatus:
        await self.store.seat_op("pause", self._seat(seat_id), reason=self._reason(reason))
        return self._changed("pause", await self.store.seat(seat_id))

    async def hold(self, seat_id: str, reason: str) -> SeatStatus:
        """A pause the system sets (one of SYSTEM_PAUSE_REASONS, e.g. 领导接听), never an operator."""
        if reason not in SYSTEM_PAUSE_REASONS:
            raise UnknownPauseReason(f"{reason!r} is not a system pause reason", reason=reason,
                                     choices=list(SYSTEM_PAUSE_REASONS))
        await self.store.seat_op("pause", self._seat(seat_id), reason=reason)
        return self._changed("pause", await self.store.seat(seat_id))

    async def wrap_up(self, seat_id: str, seconds: float | None = None) -> SeatStatus:
        """Start (or restart) wrap-up: ready again by itself after ``seconds`` (default: wrap_up_s)."""
        s = self.config.wrap_up_s if seconds is None else seconds
        await self.store.seat_op("wrap_up", self._seat(seat_id), wrap_ms=int(round(s * 1000)))
        return self._changed("wrap_up", await self.store.seat(seat_id))

    async def phone_changed(self, seat_id: str, phone: str) -> SeatStatus | None:
        """The seat's phone unregistered (a ready seat is paused 离线) or came back
        (a seat paused 离线 is ready again). None when nothing changed."""
        st = await self.store.seat(self._seat(seat_id))
        if phone == PBX_UNAVAILABLE and st.state == SeatState.READY:
            await self.store.seat_op("force", seat_id, **_from_states("ready"), to="paused", reason=OFFLINE)
        elif phone == PBX_IDLE and st.state == SeatState.PAUSED and st.reason == OFFLINE:
            await self.store.seat_op("ready", seat_id)
            self.notify()
        else:
            return None
        log.info("seat %s: phone %s", seat_id, phone)
        return self._changed(f"phone_{phone}".lower(), await self.store.seat(seat_id))

    async def logout(self, seat_id: str) -> SeatStatus:
        operator = (await self.store.seat(self._seat(seat_id))).operator_id if self.history is not None else ""
        await self.store.seat_op("logout", seat_id)
        log.info("seat %s: logged out", seat_id)
        return self._changed("logout", await self.store.seat(seat_id), operator)

    async def status(self, seat_id: str) -> SeatStatus:
        return await self.store.seat(self._seat(seat_id))

    async def seats(self) -> list[SeatStatus]:
        """Every configured seat's state (logged out when never seen)."""
        return await self.store.seats(self.config.seats)


@dataclass(frozen=True, slots=True)
class ResyncReport:
    seats_freed: tuple[str, ...] = ()     # seats that were stuck ringing / on a call that is gone
    seats_offline: tuple[str, ...] = ()   # ready seats whose phone is not registered: paused 离线
    calls_dropped: tuple[str, ...] = ()   # waiting or ringing calls that are gone (reason "lost")
    calls_requeued: tuple[str, ...] = ()  # calls still up whose seat was not ringing: back in their place
    calls_ended: tuple[str, ...] = ()     # calls "on call" whose seat's phone is idle: ended
    callbacks_failed: tuple[str, ...] = ()  # callback attempts whose channels are gone
    calls_elsewhere: tuple[str, ...] = ()   # calls of another live node: left to it
    calls_adopted: tuple[str, ...] = ()     # a dead node's callback calls waiting their turn: now this node's
    calls_node_failed: tuple[str, ...] = ()  # a dead node's callers waiting or ringing: on the callback list


class Router:
    """Calls in lanes and their seats: enqueue, match, deliver, wait estimates, callbacks, resync."""

    def __init__(self, store: RoutingStore, lanes: Mapping[str, Lane] | Iterable[Lane], *, batch: int = 16) -> None:
        self.store = store
        self.config = store.config
        self.rules = Rules.build(lanes, self.config)
        self.batch = batch
        self._wake = asyncio.Event()

    # ------------------------------------------------------------ queueing

    async def enqueue(self, call: WaitingCall) -> int:
        """Put a call in its lane; returns its position (1 = next). Adds the repeat-caller boost.

        ``arrived_at`` 0 means now. A caller who left with a callback request
        keeps their place: enqueue is not the way back, ``request_callback`` is.
        """
        if call.lane not in self.rules.lanes:
            raise UnknownLane(f"no lane {call.lane}", lane=call.lane, call_id=call.call_id)
        now = self.store.clock()
        if call.arrived_at <= 0:
            call = dataclasses.replace(call, arrived_at=now)
        rule = self.config.repeat_caller
        if rule is not None and call.caller and call.boost == 0:
            history = await self.store.caller_history(caller_key(call.caller), now, rule.within_days)
            call = dataclasses.replace(call, boost=repeat_boost(history, now, rule))
        pos = await self.store.enqueue(call, now=now)
        log.info("call %s from %s queued in %s at %d (priority %d+%d)", call.call_id,
                 mask_number(call.caller), call.lane, pos, call.priority, call.boost)
        self.poke()
        return pos

    async def cancel(self, call_id: str, reason: CancelReason | str = CancelReason.ABANDONED) -> None:
        """The call leaves its lane unanswered. ``abandoned``: counted and put on the callback list;
        ``callback``: the caller hung up asking to be called back, so the call keeps its place
        (``request_callback`` with the caller's own number); others are just removed."""
        reason = CancelReason(reason)
        if reason == CancelReason.CALLBACK:
            await self.request_callback(call_id)
            return
        await self.store.call_op("cancel", call_id, reason=reason.value)
        log.info("call %s left the queue: %s", call_id, reason.value)
        self.poke()

    async def request_callback(self, call_id: str, number: str | None = None) -> int:
        """The caller hangs up and keeps their place; returns that place. ``number``: default the caller's."""
        st = await self._call(call_id)
        number = number or st.caller
        if not number:
            raise CallStateError(f"call {call_id}: no number to call back", call_id=call_id)
        out = await self.store.call_op("callback", call_id, number=number)
        log.info("call %s: callback requested to %s", call_id, mask_number(number))
        return int(out["position"])

    async def requeue_front(self, call_id: str) -> int:
        """Ring, no answer: the seat is paused (未接) and the call goes back to its place (its head)."""
        out = await self.store.call_op("no_answer", call_id, pause=NO_ANSWER)
        self.poke()
        return int(out["position"])

    # ------------------------------------------------------------ matching and delivery

    async def match(self) -> list[Assignment]:
        """Make every assignment possible now (atomic per batch, safe across controllers)."""
        out: list[Assignment] = []
        while True:
            got = await self.store.match(self.rules, limit=self.batch)
            out += got
            if len(got) < self.batch:
                return out

    async def next_assignment(self, node: str, timeout: float = 0.0) -> Assignment | None:
        """The next assignment for the calls this controller (``node``) holds."""
        return await self.store.pop_assignment(node, timeout)

    def poke(self) -> None:
        """Ask the matcher loop (``run``) to match now."""
        self._wake.set()

    async def run(self, interval_s: float = 1.0) -> None:
        """Match on every poke and at least every ``interval_s`` (overflow times, wrap-up ends, retries).

        Redis connection errors are logged and retried (calls meanwhile take the
        dialplan's fallback); any other error is logged with its traceback and
        retried too (a dead matcher would leave every caller waiting, silently).
        redis-py 8.1 sometimes loses a cancellation that lands inside a command
        (swallowed, or turned into ConnectionError): the loop checks for one itself.
        """
        while True:
            raise_if_cancelled()
            try:  # not wait_for: in 3.11 it can swallow a cancellation that races with the event
                async with asyncio.timeout(interval_s):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.match()
            except (RedisConnectionError, RedisTimeoutError) as exc:
                raise_if_cancelled(exc)
                log.warning("matcher: redis unavailable (%s); retrying", exc)
                await asyncio.sleep(min(interval_s, 1.0))
            except Exception:           # nobody restarts this loop: a dead matcher leaves every caller waiting
                log.exception("matcher: match failed; retrying")
                await asyncio.sleep(min(interval_s, 1.0))

    async def answered(self, call_id: str, seat_id: str | None = None) -> None:
        """The seat picked up (ringing -> on call)."""
        await self.store.call_op("answered", call_id, seat=seat_id)

    async def answered_if_ringing(self, call_id: str, seat_id: str | None = None) -> bool:
        """The seat picked up, as one of its two reports says: the AMI event ``HotlineAnswered`` from the
        seat's channel, or the caller's session when its Dial returns ANSWER. Whichever comes first moves
        the call (True); the other finds it no longer ringing (False, not an error). Under load the AMI
        event can come late, after the session already moved the call: the two then read "ringing" at
        the same time and the slower one's ``answered`` was refused with ``call_state``."""
        st = await self.store.call(call_id)
        if st is None or st.phase != CallPhase.RINGING:
            return False
        try:
            await self.answered(call_id, seat_id)
        except CallStateError:
            after = await self.store.call(call_id)
            if after is not None and after.phase == CallPhase.RINGING:
                raise                  # still ringing: not the other report's doing
            log.debug("call %s: answered already (the other report of the answer came first)", call_id)
            return False
        return True

    async def ended(self, call_id: str, *, wrap_up_s: float | None = None) -> None:
        """The conversation is over: the seat wraps up (or is ready at once when wrap-up is 0)."""
        w = self.config.wrap_up_s if wrap_up_s is None else wrap_up_s
        await self.store.call_op("ended", call_id, wrap_ms=int(round(w * 1000)))
        if w <= 0:
            self.poke()

    async def callback_failed(self, call_id: str) -> bool:
        """A callback did not reach the caller. True: it will retry in place later; False: on the callback list."""
        cb = self.config.callback
        out = await self.store.call_op("callback_failed", call_id, max_attempts=cb.max_attempts,
                                       retry_ms=cb.retry_after_s * 1000)
        self.poke()
        return bool(out["retry"])

    # ------------------------------------------------------------ waiting callers

    async def _call(self, call_id: str) -> CallStatus:
        st = await self.store.call(call_id)
        if st is None:
            raise UnknownCall(f"no call {call_id}", call_id=call_id)
        return st

    async def call(self, call_id: str) -> CallStatus | None:
        return await self.store.call(call_id)

    async def position(self, call_id: str) -> int | None:
        """1 = next in its lane; None when the call is not waiting."""
        st = await self.store.call(call_id)
        if st is None or st.phase != CallPhase.WAITING:
            return None
        return await self.store.position(call_id, st.lane)

    async def estimated_wait(self, call_id: str) -> int | None:
        """Seconds the caller will likely still wait (from recent handling times); None if not waiting."""
        st = await self.store.call(call_id)
        if st is None or st.phase != CallPhase.WAITING:
            return None
        pos = await self.store.position(call_id, st.lane)
        if pos is None:
            return None
        staffed = sum(1 for s in await self.store.seats()
                      if s.state in STAFFED and s.skills.get(st.lane, 0) >= 1)
        return estimate_wait(pos, staffed, await self.store.handle_times(st.lane), self.config.default_handle_s)

    async def announcement(self, call_id: str) -> str | None:
        """What the caller hears about their place and wait (zh-CN); None if not waiting."""
        pos, wait = await self.position(call_id), await self.estimated_wait(call_id)
        return None if pos is None or wait is None else wait_announcement(pos, wait)

    async def snapshot(self) -> dict:
        """Waiting calls per lane and seats per state (for the wallboard)."""
        waiting = {ln: await self.store.waiting_count(ln) for ln in self.rules.lanes}
        seats: dict[str, int] = {s.value: 0 for s in SeatState}
        for s in await self.store.seats(self.config.seats or None):
            seats[s.state.value] += 1
        return {"waiting": waiting, "seats": seats}

    # ------------------------------------------------------------ callback list (漏接回拨)

    async def missed_calls(self) -> list[dict]:
        """Abandoned calls and failed callbacks to call back, oldest first (with the numbers)."""
        return await self.store.missed()

    async def callback_done(self, call_id: str, seat_id: str = "", result: str = "") -> None:
        await self.store.call_op("missed_done", call_id, seat=seat_id, result=result)

    # ------------------------------------------------------------ restart

    async def resync(self, live_call_ids: Iterable[str], seat_states_from_pbx: Mapping[str, str], *,
                     node: str = "", dead_after_s: float = 30.0, dead_only: bool = False) -> ResyncReport:
        """After a controller restart: line Redis up with what the PBX says (``live_call_ids``: channels up).

        - a waiting or ringing call that is gone is dropped (reason "lost", not
          counted as abandoned); callback calls waiting for their turn are kept;
          a callback attempt whose channels are gone counts as a failed attempt;
        - a call still up that was ringing a seat whose phone is not ringing
          goes back to its place; one "on call" with a seat whose phone is idle ends;
        - a seat ringing or on a call that is gone is freed (ready, or paused
          离线 when its phone is unavailable);
        - a ready seat whose phone is unavailable is paused with 离线.
        Items another controller changes meanwhile are left to it.

        ``node``: this controller (agents/nodes.py). The PBX it asked is its own
        Asterisk, so only its own calls and seats (and those with no owner) are
        judged by it; another live node's are left alone; a dead node's (no beat
        for ``dead_after_s``) are gone with its Asterisk: dropped (callback calls
        waiting their turn move to this node). No ``node``: every call is judged.
        ``dead_only``: settle only the dead nodes' calls (the periodic sweep).
        """
        live, pbx = set(live_call_ids), dict(seat_states_from_pbx)
        r: dict[str, list[str]] = {f.name: [] for f in dataclasses.fields(ResyncReport)}
        idle_phone = (PBX_IDLE, PBX_UNAVAILABLE)
        beats = await self.store.node_beats() if node else {}
        seat_owner = await self.store.seat_nodes() if node else {}
        now = self.store.clock()

        def owner(of: str) -> str:
            return owner_state(of, node, beats, now, dead_after_s) if node else OWN

        def phone(seat_id: str, call_owner: str) -> str | None:
            """The seat's phone as our PBX sees it, when our PBX is where it is."""
            if call_owner == DEAD or not may_settle(owner(seat_owner.get(seat_id, ""))):
                return None
            return pbx.get(seat_id)

        for cid in await self.store.active_calls():
            st = await self.store.call(cid)
            if st is None or st.phase == CallPhase.ENDED:
                continue
            who = owner(st.node)
            if not may_settle(who):
                r["calls_elsewhere"].append(cid)
                continue
            if dead_only and who != DEAD:
                continue
            try:
                if st.callback and who == DEAD and await self.store.adopt_call(cid, st.node, node):
                    r["calls_adopted"].append(cid)       # its next attempt is placed from here
                if st.callback and st.phase in (CallPhase.WAITING, CallPhase.DEFERRED):
                    continue
                seat_phone = phone(st.seat_id, who) if st.seat_id else None
                if who == DEAD or cid not in live:
                    if st.callback:
                        await self.callback_failed(cid)
                        r["callbacks_failed"].append(cid)
                        continue
                    offline = seat_phone == PBX_UNAVAILABLE
                    seat_to, seat_reason = ("paused", OFFLINE) if offline else ("ready", None)
                    if who == DEAD and st.phase in (CallPhase.WAITING, CallPhase.RINGING):
                        out = await self.store.call_op("node_failed", cid, seat_to=seat_to, seat_reason=seat_reason,
                                                       missed_reason=NODE_FAILED)
                        r["calls_node_failed"].append(cid)
                    else:
                        out = await self.store.call_op("drop", cid, reason="lost", seat_to=seat_to,
                                                       seat_reason=seat_reason)
                        r["calls_dropped"].append(cid)
                    if out.get("seat_id"):
                        r["seats_freed"].append(out["seat_id"])
                elif st.phase == CallPhase.RINGING and pbx.get(st.seat_id) in idle_phone:
                    await self.store.call_op("no_answer", cid, why="resync")
                    r["calls_requeued"].append(cid)
                    r["seats_freed"].append(st.seat_id)
                elif st.phase == CallPhase.ON_CALL and pbx.get(st.seat_id) in idle_phone:
                    await self.store.call_op("ended", cid, wrap_ms=0, reason="resync")
                    r["calls_ended"].append(cid)
                    r["seats_freed"].append(st.seat_id)
            except (InvalidTransition, CallStateError, UnknownCall) as exc:
                log.info("resync: call %s changed meanwhile (%s)", cid, exc.error_id)
        for s in [] if dead_only else await self.store.seats():
            try:
                seat_phone = phone(s.seat_id, OWN)
                if s.state in (SeatState.RINGING, SeatState.ON_CALL):
                    c = await self.store.call(s.call_id) if s.call_id else None
                    if c is None or c.phase not in (CallPhase.RINGING, CallPhase.ON_CALL) or c.seat_id != s.seat_id:
                        offline = seat_phone == PBX_UNAVAILABLE
                        await self.store.seat_op("force", s.seat_id, **_from_states(s.state.value), call=s.call_id,
                                                 to="paused" if offline else "ready",
                                                 reason=OFFLINE if offline else None)
                        r["seats_freed"].append(s.seat_id)
                elif s.state == SeatState.READY and seat_phone == PBX_UNAVAILABLE:
                    await self.store.seat_op("force", s.seat_id, **_from_states("ready"), to="paused", reason=OFFLINE)
                    r["seats_offline"].append(s.seat_id)
            except AgentsError as exc:
                log.info("resync: seat %s changed meanwhile (%s)", s.seat_id, exc.error_id)
        report = ResyncReport(**{k: tuple(dict.fromkeys(v)) for k, v in r.items()})
        counts = {k: len(v) for k, v in dataclasses.asdict(report).items()}
        if not dead_only or any(n for k, n in counts.items() if k != "calls_elsewhere"):
            log.info("resync%s (node %s): %s", " of dead nodes' calls" if dead_only else "", node or "-", counts)
        self.poke()
        return report

    async def take_over(self, node: str, dead: Iterable[str], dead_after_s: float,
                        on_node_failed: Callable[[tuple[str, ...]], Awaitable[object]] | None = None) -> bool:
        """Settle the calls of nodes that stopped beating, under a lock so that of the nodes still alive
        one does it: the callers waiting or ringing there go on the callback list (节点故障), each once
        (the call script's transition is atomic too). ``on_node_failed`` gets those calls (their call
        records). False when another node holds the lock."""
        lock = self.store.key("takeover_lock")
        if not await self.store.r.set(lock, node, nx=True, ex=max(10, int(dead_after_s * 2))):
            return False
        try:
            report = await self.resync((), {}, node=node, dead_after_s=dead_after_s, dead_only=True)
            if report.calls_node_failed:
                log.warning("nodes %s stopped beating: %d callers put on the callback list (节点故障)",
                            ",".join(sorted(dead)), len(report.calls_node_failed))
                if on_node_failed is not None:
                    await on_node_failed(report.calls_node_failed)
            for n in dead:                       # settled: no need to look at it again
                await self.store.forget_node(n)
        finally:
            held = await self.store.r.get(lock)
            if (held.decode() if isinstance(held, bytes) else held) == node:
                await self.store.r.delete(lock)
        return True

    async def keep_alive(self, node: str, dead_after_s: float, *, interval_s: float | None = None,
                         on_node_failed: Callable[[tuple[str, ...]], Awaitable[object]] | None = None) -> None:
        """Beat for ``node`` every ``interval_s`` (default a third of ``dead_after_s``), and settle the
        calls of nodes that stopped beating (their Asterisk is gone with them: nobody else would).

        Redis connection errors are logged and retried; cancellation is checked
        by hand as in ``run`` (redis-py can lose one inside a command).
        """
        every = interval_s if interval_s is not None else max(0.5, dead_after_s / 3)
        warned = False
        while True:
            raise_if_cancelled()
            try:
                await self.store.beat(node)
                now = self.store.clock()
                dead = [n for n, t in (await self.store.node_beats()).items() if n != node and now - t > dead_after_s]
                if dead:
                    await self.take_over(node, dead, dead_after_s, on_node_failed)
                warned = False
            except (RedisConnectionError, RedisTimeoutError) as exc:
                raise_if_cancelled(exc)
                if not warned:
                    log.warning("node %s: heartbeat not written, redis unavailable (%s); retrying", node, exc)
                    warned = True
            raise_if_cancelled()        # a cancel redis-py swallowed: stop now
            await asyncio.sleep(every)
