"""Transfers of live calls: the active transfer of each call in Redis, the
channels moved over AMI, and the caller's side on its FastAGI session.

The rules (targets, modes, the record and how it moves on) are pure and live
in ``agents/transfer.py``; see its docstring for how the channels move.
Every version of a transfer is written both as the call's active transfer
(``<prefix>:transfer:<call id>``, compare-and-set, so several controllers can
move it on) and into the call record's ``transfers`` list, in one Lua step,
and published as a ``call_transfer`` event.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

from agents.errors import AgentsError
from agents.model import CallPhase
from agents.transfer import (
    ACTIVE_TTL_S, ALONE_KICK_S, HOLD_LIMIT_S, Event, Mode, NoTransfer, NotOnCall, PbxUnavailable, State,
    Transfer, TransferBusy, TransferError, TransfersConfig, TransfersFile, advance, call_id_of_channel,
    caller_action, new_transfer,
)
from agents.dialpolicy import is_canonical
from agents.outbound import NumberRefused
from dialplan.hotline import CONFERENCE, ON_ANSWER, conference_join, external_dial

log = logging.getLogger("hotline.agents.transfer")

_SAVE = """
-- KEYS[1] active transfer of the call, KEYS[2] the call record (hash)
-- ARGV[1] the transfer (JSON), ARGV[2] 'create', or the exact JSON it must hold now (compare-and-set),
-- ARGV[3] ttl seconds
local cur = redis.call('GET', KEYS[1])
local new = cjson.decode(ARGV[1])
if ARGV[2] == 'create' then
  if cur then
    local c = cjson.decode(cur)
    if c.state ~= 'done' then return {0, cur} end
  end
else
  if cur ~= ARGV[2] then return {0, cur or ''} end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[3]))
local raw = redis.call('HGET', KEYS[2], 'transfers')
local list = {}
if raw and raw ~= '' then list = cjson.decode(raw) end
local found = false
for i, t in ipairs(list) do
  if t.id == new.id then list[i] = new; found = true end
end
if not found then table.insert(list, new) end
redis.call('HSET', KEYS[2], 'transfers', cjson.encode(list))
return {1, ARGV[1]}
"""


class TransferService:
    """Transfers of live calls: asked for by a seat (console), carried out over AMI and the caller's session."""

    def __init__(self, redis, ami, router, calls, config: TransfersConfig | TransfersFile, *, dial: str,
                 publish: Callable[[dict], Any] | None = None, prefix: str = "hotline",
                 clock: Callable[[], float] = time.time, outbound=None, say=None) -> None:
        self.r = redis
        self.ami = ami                  # pbx.ami.AMIClient (or a fake with the same methods)
        self.router = router
        self.calls = calls              # ivr.calls.CallRecords
        self._config = config
        self.dial = dial                # "Local/{number}@hotline-out": the trunks, in order
        self.outbound = outbound        # agents.outbound.Outbound: the dialling policy (None: digits only)
        self.say = say                  # async (text) -> prompt path (what the caller hears on a refusal)
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
        ok, _ = await self._save(keys=[self.key(t.call_id), self.calls.key(t.call_id)],
                                 args=[self._json(t), expect, ACTIVE_TTL_S])
        if ok and self.publish is not None:
            with contextlib.suppress(Exception):
                await self.publish({"type": "call_transfer", "call_id": t.call_id, "seat_id": t.seat_id,
                                    "ts": self.clock(), "transfer": t.to_dict()})
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

    async def _on_call(self, call_id: str | None, seat_id: str) -> tuple[str, dict]:
        st = await self.router.call(call_id) if call_id else None
        if st is None or st.phase != CallPhase.ON_CALL or st.seat_id != seat_id:
            raise NotOnCall(f"seat {seat_id} has no answered call", seat=seat_id, call_id=call_id)
        if st.callback:
            raise NotOnCall("a callback cannot be transferred", seat=seat_id, call_id=call_id)
        record = await self.calls.get(st.call_id) or {}
        if not record.get("seat_channel"):
            raise NotOnCall("the seat's channel is not known yet", seat=seat_id, call_id=call_id)
        return st.call_id, record

    async def request(self, call_id: str | None, seat_id: str, by: str, target_id: str,
                      mode: str | None = None) -> Transfer:
        target, m = self.config.check(target_id, mode)
        call_id, record = await self._on_call(call_id, seat_id)
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
        seat_channel = record["seat_channel"]
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
        from pbx import chanvars as V

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
        await self.caller_side(session, call_id, session.env.channel)

    async def pbx_conference(self, t: Transfer, seat_channel: str) -> None:
        """The seat into the call's conference, then the target's leg originated into it."""
        from pbx import chanvars as V

        for name, value in ((V.CONF, t.conference), (V.CALL_ID, t.call_id), (V.TRANSFER, t.id)):
            await self.ami.setvar(seat_channel, name, value)
        await self.ami.redirect(seat_channel, CONFERENCE, "seat", 1)
        await self.ami.originate(
            self.dial_string(t.number), context=CONFERENCE, exten="external", caller_id="<12345>",
            timeout_ms=self.config.ring_s * 1000, channel_id=t.external_channel_id,
            variables={V.CONF: t.conference, V.CALL_ID: t.call_id, V.TRANSFER: t.id})

    async def hangup(self, call_id: str | None, seat_id: str, leg: str = "seat") -> dict[str, Any]:
        """The operator's hang-up: ``seat`` leaves the call (in a conference: hands over);
        ``target`` drops the transfer target (back to the caller)."""
        st = await self.router.call(call_id) if call_id else None
        if st is None or st.seat_id != seat_id or st.phase not in (CallPhase.ON_CALL, CallPhase.RINGING):
            raise NotOnCall(f"seat {seat_id} has no call to hang up", seat=seat_id, call_id=call_id)
        record = await self.calls.get(st.call_id) or {}
        t = await self.active(st.call_id)
        try:
            if leg == "target":
                if t is None or t.mode == Mode.BLIND or t.state == State.DONE:
                    raise NoTransfer(f"call {st.call_id} has no transfer target to drop", call_id=st.call_id)
                await self.ami.hangup(t.external_channel_id)
                return {"call_id": st.call_id, "leg": "target", "transfer": t.id}
            channel = record.get("seat_channel")
            if not channel:
                raise NotOnCall("the seat's channel is not known", seat=seat_id, call_id=st.call_id)
            await self.ami.hangup(channel)
        except TransferError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise PbxUnavailable(f"the PBX could not hang up: {exc}", call_id=st.call_id) from None
        return {"call_id": st.call_id, "leg": "seat", "transfer": t.id if t else None}

    # ------------------------------------------------------------ AMI events (every controller)

    async def on_event(self, e) -> None:
        """UserEvents of the hotline-conf context and the target legs' OriginateResponse."""
        kind = e.get("UserEvent") if e.name == "UserEvent" else e.name
        if kind == "HotlineAnswered":
            await self.seat_answered(e)
        elif kind == "HotlineTransferJoined":
            await self.apply(e.get("CallId", ""), Event.EXTERNAL_ANSWERED, transfer_id=e.get("Transfer") or None)
        elif kind == "HotlineConfLeft":
            call_id, role = e.get("CallId", ""), e.get("Role", "")
            if role == "seat":
                await self.apply(call_id, Event.OPERATOR_LEFT, transfer_id=e.get("Transfer") or None)
                with contextlib.suppress(AgentsError):
                    st = await self.router.call(call_id)
                    if st is not None and st.phase == CallPhase.ON_CALL:
                        await self.router.ended(call_id)
            elif role == "external":
                await self.apply(call_id, Event.EXTERNAL_LEFT, transfer_id=e.get("Transfer") or None)
        elif kind == "OriginateResponse" and e.get("Response") == "Failure":
            ids = call_id_of_channel(e.get("Uniqueid", ""))
            if ids:
                await self.apply(ids[1], Event.EXTERNAL_FAILED, transfer_id=ids[0], reason=e.get("Reason", ""))

    def wants(self, e) -> bool:
        if e.name == "UserEvent":
            return e.get("UserEvent") in ("HotlineTransferJoined", "HotlineConfLeft", "HotlineAnswered")
        return e.name == "OriginateResponse" and e.get("Uniqueid", "").startswith("xfer-")

    def on_ami_event(self, e):
        """For ``AMIClient.on_event("*", ...)``: a coroutine for the events this service follows."""
        return self._guarded(e) if self.wants(e) else None

    async def _guarded(self, e) -> None:
        try:
            await self.on_event(e)
        except (AgentsError, RedisError) as exc:
            log.warning("transfer event %s for call %s: %s", e.get("UserEvent") or e.name, e.get("CallId"), exc)

    async def seat_answered(self, e) -> None:
        """HotlineAnswered from the seat's channel (the Dial's on-answer gosub): remember that
        channel, it is what a transfer or the console's hang-up acts on."""
        if e.get("Context") != ON_ANSWER or not e.get("Channel"):
            return
        st = await self.router.call(e.get("CallId", ""))
        if st is not None and not st.callback:
            await self.calls.update(st.call_id, seat_channel=e.get("Channel"))

    # ------------------------------------------------------------ the caller's session

    async def caller_side(self, session, call_id: str, caller_channel: str) -> Transfer | None:
        """Run on the caller's FastAGI session after its Dial of the seat returned.
        None: no transfer for this call (go on as usual)."""
        t = await self.active(call_id)
        action = caller_action(t)
        if action == "none":
            return None
        if action == "dial":
            try:
                await session.exec(*external_dial(self.dial_string(t.number), self.config.ring_s))
                status = (await session.get_variable("DIALSTATUS")) or "UNKNOWN"
            except BaseException:
                await self.apply(call_id, Event.CALLER_LEFT, transfer_id=t.id)
                raise
            if status == "ANSWER":
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
            return [m.get("Channel", "") for m in await self.ami.confbridge_list(conference)]
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
