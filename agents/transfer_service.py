"""Transfers of live calls: the active transfer of each call in Redis, the
channels moved over AMI, and the caller's side on its FastAGI session.

The rules (targets, modes, the record and how it moves on) are pure and live
in ``agents/transfer.py``; see its docstring for how the channels move.
Every version of a transfer is written both as the call's active transfer
(``<prefix>:transfer:<call id>``, compare-and-set, so several controllers can
move it on) and into the call's transfer record (``transfers``, beside the
call record: ``CallRecords.transfers_key``), in one Lua step, handed to the
system of record (``CallRecords.transfers_saved``) and published as a
``call_transfer`` event.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError

from agents.dialpolicy import is_canonical
from agents.errors import AgentsError
from agents.model import CallPhase
from agents.notify import CallTransfer
from agents.outbound import NumberRefused
from agents.transfer import (
    ACTIVE_TTL_S,
    ALONE_KICK_S,
    HOLD_LIMIT_S,
    Event,
    Mode,
    NotOnCall,
    NoTransfer,
    PbxUnavailable,
    State,
    Transfer,
    TransferBusy,
    TransferError,
    TransfersConfig,
    TransfersFile,
    advance,
    call_id_of_channel,
    caller_action,
    new_transfer,
)
from kernel.notify import Publish
from kernel.resources import package_text
from pbx import contract as V
from pbx.agi_errors import AGIError, AGIHangup
from pbx.contract import CONFERENCE, ON_ANSWER, ROLE_EXTERNAL, ROLE_SEAT, conference_join, external_dial
from pbx.events import HotlineAnswered, HotlineConfLeft, HotlineTransferJoined, OriginateResponse

TransferEvent = HotlineAnswered | HotlineConfLeft | HotlineTransferJoined | OriginateResponse

log = logging.getLogger("hotline.agents.transfer")

_SAVE = package_text("agents", "lua/transfer_save.lua")


class TransferService:
    """Transfers of live calls: asked for by a seat (console), carried out over AMI and the caller's session."""

    def __init__(self, redis, ami, router, calls, config: TransfersConfig | TransfersFile, *, dial: str,
                 publish: Publish | None = None, prefix: str = "hotline",
                 clock: Callable[[], float] = time.time, outbound=None, say=None,
                 survey: Callable[[Any, str], Awaitable[Any]] | None = None) -> None:
        self.r = redis
        self.ami = ami                  # pbx.ami.AMIClient (or a fake with the same methods)
        self.router = router
        self.calls = calls              # ivr.calls.CallRecords
        self._config = config
        self.dial = dial                # "Local/{number}@hotline-out": the trunks, in order
        self.outbound = outbound        # agents.outbound.Outbound: the dialling policy (None: digits only)
        self.say = say                  # async (text) -> prompt path (what the caller hears on a refusal)
        # async (session, call id): the operator's satisfaction survey before a REFER's caller leaves
        # (ivr/transfer_survey.py); None: no survey
        self.survey = survey
        self.publish = publish
        self.prefix = prefix
        self.clock = clock
        self._save = redis.register_script(_SAVE)

    @property
    def config(self) -> TransfersConfig:
        c = self._config
        return c.get() if isinstance(c, TransfersFile) else c

    def key(self, call_id: str) -> str:
        return f"{self.prefix}:transfer:{call_id}"

    # ------------------------------------------------------------ storage

    async def active(self, call_id: str) -> Transfer | None:
        return (await self._active(call_id))[0]

    async def _active(self, call_id: str) -> tuple[Transfer | None, str]:
        raw = await self.r.get(self.key(call_id))
        return (Transfer.from_dict(json.loads(raw)) if raw else None), raw or ""

    @staticmethod
    def _json(t: Transfer) -> str:
        return json.dumps(t.to_dict(), ensure_ascii=False)

    async def _store(self, t: Transfer, expect: str) -> bool:
        ok, _, *listing = await self._save(keys=[self.key(t.call_id), self.calls.transfers_key(t.call_id)],
                                           args=[self._json(t), expect, ACTIVE_TTL_S, self.calls.ttl])
        if ok and listing:
            self.calls.transfers_saved(t.call_id, json.loads(listing[0]))
        if ok and self.publish is not None:
            with contextlib.suppress(Exception):
                await self.publish(CallTransfer(call_id=t.call_id, seat_id=t.seat_id, ts=self.clock(),
                                                transfer=t.to_dict()))
        return bool(ok)

    async def apply(self, call_id: str, event: Event | str, *, transfer_id: str | None = None,
                    reason: str = "") -> Transfer | None:
        """Move the call's active transfer on (compare-and-set: safe across controllers)."""
        for _ in range(10):
            t, raw = await self._active(call_id)
            if t is None or (transfer_id is not None and t.id != transfer_id):
                return None
            nxt = advance(t, event, self.clock(), reason)
            if nxt == t:
                return t
            if await self._store(nxt, raw):
                log.info("transfer %s of call %s: %s -> %s (%s)", t.id, call_id, t.state.value, nxt.state.value,
                         nxt.result or "under way")
                return nxt
        return await self.active(call_id)

    # ------------------------------------------------------------ the seat asks

    def dial_string(self, number: str) -> str:
        """The dial string of a checked number (only digits ever reach it)."""
        if not is_canonical(number):
            raise NumberRefused("not a checked number", reason="not_digits")
        return self.dial.format(number=number)

    def targets(self) -> list[dict[str, Any]]:
        return [t.to_dict() for t in self.config.targets.values()]

    async def _on_call(self, call_id: str | None, seat_id: str) -> tuple[str, str]:
        """The seat's answered call and the seat's channel in it."""
        st = await self.router.call(call_id) if call_id else None
        if st is None or st.phase != CallPhase.ON_CALL or st.seat_id != seat_id:
            raise NotOnCall(f"seat {seat_id} has no answered call", seat=seat_id, call_id=call_id)
        if st.callback:
            raise NotOnCall("a callback cannot be transferred", seat=seat_id, call_id=call_id)
        record = await self.calls.record(st.call_id)
        if record is None or not record.seat_channel:
            raise NotOnCall("the seat's channel is not known yet", seat=seat_id, call_id=call_id)
        return st.call_id, record.seat_channel

    async def request(self, call_id: str | None, seat_id: str, by: str, target_id: str,
                      mode: str | None = None) -> Transfer:
        target, m = self.config.check(target_id, mode)
        call_id, seat_channel = await self._on_call(call_id, seat_id)
        number = target.number
        if self.outbound is not None:          # normalised and allowed, or NumberRefused (nothing dialled)
            number = await self.outbound.require(target.number, "transfer", ref=call_id)
        elif not is_canonical(number):
            raise NumberRefused("not a checked number", reason="not_digits")
        now = self.clock()
        t = dataclasses.replace(new_transfer(str(int(now * 1000)), call_id, seat_id, by, target, m, now),
                                number=number)
        if not await self._store(t, "create"):
            raise TransferBusy(f"call {call_id} already has a transfer under way", call_id=call_id)
        log.info("call %s: %s transfer to %s asked by %s at seat %s", call_id, m.value, target.id, by, seat_id)
        try:
            if m == Mode.BLIND:
                await self.ami.hangup(seat_channel)     # the caller's session dials the target
            else:
                await self.pbx_conference(t, seat_channel)
        except Exception as exc:                     # noqa: BLE001 - any PBX failure ends the transfer
            log.warning("call %s: transfer %s could not be carried out: %s", call_id, t.id, exc)
            failed = dataclasses.replace(t, state=State.DONE, result="failed:pbx", ended_at=self.clock())
            await self._store(failed, self._json(t))
            raise PbxUnavailable(f"the PBX could not carry out the transfer: {exc}", call_id=call_id) from None
        return t

    async def refer(self, session) -> None:
        """FastAGI handler of hotline-refer: the seat phone REFERred the caller (a blind transfer from
        the phone itself). The number is checked like any other; the transfer is recorded on the call
        and the caller's channel dials it, as a console blind transfer would."""
        call_id = (await session.get_variable(V.CALL_ID)) or ""
        raw = session.env.extension
        st = await self.router.call(call_id) if call_id else None
        seat_id = st.seat_id if st is not None and st.seat_id else ""
        if self.outbound is not None:
            v = await self.outbound.approve(raw, "transfer", ref=call_id or "-")
        else:
            from agents.dialpolicy import DialPolicy, check
            v = check(DialPolicy(), raw)
        if not v.ok:
            log.info("call %s: REFER from seat %s refused (%s)", call_id or "-", seat_id or "-", v.refusal)
            if self.say is not None:
                await session.stream_file(await self.say(v.prompt))
            return
        if not call_id:
            log.warning("REFER without a call id on %s: dialled, not recorded", session.env.channel)
            await session.exec(*external_dial(self.dial_string(v.number), self.config.ring_s))
            return
        now = self.clock()
        t = Transfer(id=str(int(now * 1000)), call_id=call_id, seat_id=seat_id, by=f"refer:{seat_id}",
                     target="refer", number=v.number or "", mode=Mode.BLIND, at=now, state=State.DIALING)
        if not await self._store(t, "create"):
            log.warning("call %s: REFER while another transfer is under way; that one goes on", call_id)
        log.info("call %s: blind transfer by REFER from seat %s", call_id, seat_id or "-")
        with contextlib.suppress(AgentsError, RedisError):
            if st is not None and st.phase == CallPhase.ON_CALL:
                await self.router.ended(call_id)
        if self.survey is not None:          # the caller never comes back to the IVR: rate the operator now
            try:
                await self.survey(session, call_id)
            except AGIHangup:
                await self.apply(call_id, Event.CALLER_LEFT, transfer_id=t.id)
                raise
            except (AGIError, RedisError, ValueError) as exc:   # the transfer goes on without it
                log.warning("call %s: survey before the transfer failed (%s)", call_id, exc)
        await self.caller_side(session, call_id, session.env.channel)

    async def pbx_conference(self, t: Transfer, seat_channel: str) -> None:
        """The seat into the call's conference, then the target's leg originated into it."""
        for name, value in ((V.CONF, t.conference), (V.CALL_ID, t.call_id), (V.TRANSFER, t.id)):
            await self.ami.setvar(seat_channel, name, value)
        await self.ami.redirect(seat_channel, CONFERENCE, ROLE_SEAT, 1)
        await self.ami.originate(
            self.dial_string(t.number), context=CONFERENCE, exten=ROLE_EXTERNAL, caller_id="<12345>",
            timeout_ms=self.config.ring_s * 1000, channel_id=t.external_channel_id,
            variables={V.CONF: t.conference, V.CALL_ID: t.call_id, V.TRANSFER: t.id})

    async def hangup(self, call_id: str | None, seat_id: str, leg: str = "seat") -> dict[str, Any]:
        """The operator's hang-up: ``seat`` leaves the call (in a conference: hands over);
        ``target`` drops the transfer target (back to the caller)."""
        st = await self.router.call(call_id) if call_id else None
        if st is None or st.seat_id != seat_id or st.phase not in (CallPhase.ON_CALL, CallPhase.RINGING):
            raise NotOnCall(f"seat {seat_id} has no call to hang up", seat=seat_id, call_id=call_id)
        record = await self.calls.record(st.call_id)
        t = await self.active(st.call_id)
        try:
            if leg == "target":
                if t is None or t.mode == Mode.BLIND or t.state == State.DONE:
                    raise NoTransfer(f"call {st.call_id} has no transfer target to drop", call_id=st.call_id)
                await self.ami.hangup(t.external_channel_id)
                return {"call_id": st.call_id, "leg": "target", "transfer": t.id}
            channel = record.seat_channel if record is not None else ""
            if not channel:
                raise NotOnCall("the seat's channel is not known", seat=seat_id, call_id=st.call_id)
            await self.ami.hangup(channel)
        except TransferError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise PbxUnavailable(f"the PBX could not hang up: {exc}", call_id=st.call_id) from None
        return {"call_id": st.call_id, "leg": "seat", "transfer": t.id if t else None}

    # ------------------------------------------------------------ AMI events (every controller)

    # The AMI events this service follows (``ami.subscribe(TransferService.EVENTS, on_ami_event)``).
    EVENTS = (HotlineAnswered, HotlineTransferJoined, HotlineConfLeft, OriginateResponse)

    async def handle_event(self, e: TransferEvent) -> None:
        """UserEvents of the hotline-conf context and the target legs' OriginateResponse."""
        if isinstance(e, HotlineAnswered):
            await self.seat_answered(e)
        elif isinstance(e, HotlineTransferJoined):
            await self.apply(e.call_id, Event.EXTERNAL_ANSWERED, transfer_id=e.transfer)
        elif isinstance(e, HotlineConfLeft):
            if e.role == ROLE_SEAT:
                await self.apply(e.call_id, Event.OPERATOR_LEFT, transfer_id=e.transfer)
                with contextlib.suppress(AgentsError):
                    st = await self.router.call(e.call_id)
                    if st is not None and st.phase == CallPhase.ON_CALL:
                        await self.router.ended(e.call_id)
            elif e.role == ROLE_EXTERNAL:
                await self.apply(e.call_id, Event.EXTERNAL_LEFT, transfer_id=e.transfer)
        elif e.failed:
            ids = call_id_of_channel(e.uniqueid)
            if ids:
                await self.apply(ids[1], Event.EXTERNAL_FAILED, transfer_id=ids[0], reason=e.reason)

    def wants(self, e: TransferEvent) -> bool:
        return not isinstance(e, OriginateResponse) or e.uniqueid.startswith("xfer-")

    def on_ami_event(self, e: TransferEvent) -> Awaitable[None] | None:
        """For ``AMIClient.subscribe(EVENTS, ...)``: a coroutine for the events this service follows."""
        return self._guarded(e) if self.wants(e) else None

    async def _guarded(self, e: TransferEvent) -> None:
        try:
            await self.handle_event(e)
        except (AgentsError, RedisError) as exc:
            log.warning("transfer event %s for call %s: %s", e.NAME, getattr(e, "call_id", None), exc)

    async def seat_answered(self, e: HotlineAnswered) -> None:
        """HotlineAnswered from the seat's channel (the Dial's on-answer gosub): remember that
        channel, it is what a transfer or the console's hang-up acts on."""
        if e.context != ON_ANSWER or not e.channel:
            return
        st = await self.router.call(e.call_id)
        if st is not None and not st.callback:
            await self.calls.seat_connected(st.call_id, e.channel)

    # ------------------------------------------------------------ the caller's session

    async def caller_side(self, session, call_id: str, caller_channel: str) -> Transfer | None:
        """Run on the caller's FastAGI session after its Dial of the seat returned.
        None: no transfer for this call (go on as usual)."""
        t = await self.active(call_id)
        action = caller_action(t)
        if action == "none" or t is None:
            return None
        if action == "dial":
            try:
                await session.exec(*external_dial(self.dial_string(t.number), self.config.ring_s))
                status = (await session.get_variable(V.DIALSTATUS)) or "UNKNOWN"
            except BaseException:
                await self.apply(call_id, Event.CALLER_LEFT, transfer_id=t.id)
                raise
            if status == V.DIAL_ANSWERED:
                await self.apply(call_id, Event.EXTERNAL_ANSWERED, transfer_id=t.id)
            else:
                await self.apply(call_id, Event.EXTERNAL_FAILED, transfer_id=t.id, reason=status)
            return await self.apply(call_id, Event.CALLER_LEFT, transfer_id=t.id)
        if action == "hold":
            await session.set_music(True)
            deadline = time.monotonic() + HOLD_LIMIT_S
            while caller_action(t) == "hold" and time.monotonic() < deadline:
                await session.wait_for_digit(300)
                t = await self.active(call_id) or t
            await session.set_music(False)
        try:
            if caller_action(t) == "join" and await self._members(t.conference):
                watchdog = asyncio.ensure_future(self._let_go_when_alone(t.conference, caller_channel))
                try:
                    await session.exec(*conference_join(t.conference))
                finally:
                    watchdog.cancel()
        finally:                                   # also when the caller hung up
            t = await self.apply(call_id, Event.CALLER_LEFT, transfer_id=t.id) or t
        return t

    async def _members(self, conference: str) -> list[str]:
        """Channels in the conference now (none when it does not exist)."""
        try:
            return [m.channel for m in await self.ami.confbridge_list(conference)]
        except Exception:  # noqa: BLE001 - "no conference by that name" is an error reply
            return []

    async def _let_go_when_alone(self, conference: str, caller_channel: str) -> None:
        """The caller alone in the conference (nobody left to talk to) is let go to the survey."""
        alone_since = None
        while True:
            await asyncio.sleep(0.5)
            members = await self._members(conference)
            others = [c for c in members if c != caller_channel]
            if caller_channel in members and not others:
                alone_since = alone_since or time.monotonic()
                if time.monotonic() - alone_since >= ALONE_KICK_S:
                    with contextlib.suppress(Exception):
                        await self.ami.confbridge_kick(conference, caller_channel)
                    return
            else:
                alone_since = None
