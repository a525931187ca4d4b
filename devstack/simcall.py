"""Simulated callers: a real call through the real Asterisk without a phone.

AMI Originate of Local/DID@from-pstn: the ;2 half runs the hotline's entry
dialplan like any call from the network; the ;1 half runs the simulated
caller context, which waits, sends DTMF keys and plays a WAV. Every AMI event
of the call (both halves share one linkedid) is collected into a CallResult.
"""
from __future__ import annotations

import asyncio
import time
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

from pbx import contract as V
from pbx.ami import AMIClient, AMIEvent
from pbx.contract import ENTRY, SIM_CALLER


@dataclass
class CallResult:
    sim_id: str
    caller_uniqueid: str          # the ;1 half (the simulated caller)
    ivr_uniqueid: str             # the ;2 half (what the hotline sees)
    events: list[AMIEvent] = field(default_factory=list)
    started: float = 0.0
    ended: float | None = None
    completed: bool = False

    def of(self, uniqueid: str) -> list[AMIEvent]:
        return [e for e in self.events if e.get("Uniqueid") == uniqueid]

    def named(self, name: str) -> list[AMIEvent]:
        return [e for e in self.events if e.name == name]

    def user_events(self, kind: str) -> list[AMIEvent]:
        return [e for e in self.events if e.name == "UserEvent" and e.get("UserEvent") == kind]

    def variables(self, uniqueid: str | None = None) -> dict[str, str]:
        """Last value of every channel variable set on the IVR half (or the one given)."""
        uid = uniqueid or self.ivr_uniqueid
        out: dict[str, str] = {}
        for e in self.events:
            if e.name == "VarSet" and e.get("Uniqueid") == uid:
                out[e.get("Variable", "")] = e.get("Value", "")
        return out

    def contexts(self, uniqueid: str | None = None) -> list[str]:
        """Dialplan contexts the IVR half went through, in order, without repeats in a row."""
        uid = uniqueid or self.ivr_uniqueid
        seen: list[str] = []
        for e in self.events:
            if e.name == "Newexten" and e.get("Uniqueid") == uid:
                ctx = e.get("Context", "")
                if not seen or seen[-1] != ctx:
                    seen.append(ctx)
        return seen

    def applications(self, uniqueid: str | None = None) -> list[tuple[str, str]]:
        uid = uniqueid or self.ivr_uniqueid
        return [(e.get("Application", ""), e.get("AppData", "")) for e in self.events
                if e.name == "Newexten" and e.get("Uniqueid") == uid]

    @property
    def fallback(self) -> bool:
        return bool(self.user_events("HotlineFallback"))

    @property
    def duration(self) -> float:
        return (self.ended or time.monotonic()) - self.started


class PromptAnswerer:
    """A caller who answers the IVR's prompts: one key group per input prompt.

    Watches the AGI commands Asterisk reports for the IVR half: each GET DATA
    (a menu, a collect, a survey) gets the next group of keys ("2", "" for no
    key: the caller waits for the timeout); each RECORD FILE gets the WAV to
    say, played from the caller half. Groups are separated by commas; without
    commas each key is one group.
    """

    def __init__(self, ami: AMIClient, result: CallResult, keys: str, say: str | None,
                 delay: float = 0.4, hangup_at_prompt: int | None = None) -> None:
        self.ami = ami
        self.result = result
        self.groups = keys.split(",") if "," in keys else list(keys)
        self.say = say
        self.delay = delay
        self.hangup_at_prompt = hangup_at_prompt
        self.prompts_seen = 0
        self.tasks: set[asyncio.Task] = set()

    def on_event(self, event: AMIEvent) -> None:
        if event.name != "AGIExecStart" or event.get("Uniqueid") != self.result.ivr_uniqueid:
            return
        command = event.get("Command", "").upper()
        if command.startswith("GET DATA"):
            self.prompts_seen += 1
            if self.hangup_at_prompt == self.prompts_seen:
                self._spawn(self._hangup())
            elif self.groups:
                self._spawn(self._press(self.groups.pop(0)))
        elif command.startswith("RECORD FILE") and self.say:
            self._spawn(self._say())

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _caller_channel(self) -> str | None:
        for e in self.result.events:
            if e.get("Uniqueid") == self.result.caller_uniqueid and e.get("Channel"):
                return e.get("Channel")
        return None

    async def _press(self, keys: str) -> None:
        await asyncio.sleep(self.delay)
        channel = await self._caller_channel()
        for key in keys:
            if channel:
                await self.ami.action("PlayDTMF", Channel=channel, Digit=key, Duration=120)
                await asyncio.sleep(0.25)

    async def _say(self) -> None:
        await asyncio.sleep(self.delay + 0.6)          # after the prompt and the beep
        channel = await self._caller_channel()
        if channel:
            await self.ami.setvar(channel, V.SIM_WAV, self.say or "")
            await self.ami.redirect(channel, SIM_CALLER, "say", 1)

    async def _hangup(self) -> None:
        await asyncio.sleep(self.delay)
        channel = await self._caller_channel()
        if channel:
            await self.ami.hangup(channel)


class _EventRouter:
    """One AMI subscription for all simulated calls, dispatching by call ids
    (a subscription per call would make N calls cost N x N dispatches)."""

    def __init__(self, ami: AMIClient) -> None:
        self.calls: dict[str, Callable[[AMIEvent], None]] = {}
        self.unsubscribe = ami.on_event("*", self._dispatch)

    def _dispatch(self, event: AMIEvent) -> None:
        for key in ("Uniqueid", "Linkedid", "DestUniqueid"):
            cb = self.calls.get(event.get(key, ""))
            if cb:
                cb(event)
                return

    def add(self, ids: tuple[str, ...], callback: Callable[[AMIEvent], None]) -> Callable[[], None]:
        for i in ids:
            self.calls[i] = callback

        def remove() -> None:
            for i in ids:
                self.calls.pop(i, None)
        return remove


_ROUTERS: weakref.WeakKeyDictionary[AMIClient, _EventRouter] = weakref.WeakKeyDictionary()


def _router(ami: AMIClient) -> _EventRouter:
    router = _ROUTERS.get(ami)
    if router is None:
        router = _ROUTERS[ami] = _EventRouter(ami)
    return router


async def place_call(ami: AMIClient, *, did: str = "12345", caller: str = "13800001234",
                     caller_name: str | None = None, keys: str = "", key_gap: float = 1.0,
                     wait: float = 1.0, wav: str | None = None, hold: float = 20.0,
                     timeout: float = 60.0, variables: dict[str, str] | None = None,
                     entry_context: str = ENTRY, answer_prompts: bool = False,
                     hangup_at_prompt: int | None = None,
                     on_placed: Callable[[CallResult], None] | None = None) -> CallResult:
    """Place one simulated call and wait until both halves have hung up (or timeout).

    answer_prompts=False: the caller side sends `keys` on a timer (dialplan).
    answer_prompts=True: keys answer the IVR's input prompts one group each, and
    `wav` is said when the IVR records (see PromptAnswerer).
    on_placed: called with the (growing) result just before the Originate, so a
    caller can see the events of a call that has not finished (benchmarks' diagnostics).
    An Originate that fails (OriginateResponse Failure and no channel left) ends the wait.
    """
    sim_id = uuid.uuid4().hex[:12]
    result = CallResult(sim_id=sim_id, caller_uniqueid=f"sim-{sim_id}", ivr_uniqueid=f"sim-{sim_id}-ivr")
    ids = {result.caller_uniqueid, result.ivr_uniqueid}
    hung_up: set[str] = set()
    created: set[str] = set()
    failed: list[bool] = []
    done = asyncio.Event()

    answerer = PromptAnswerer(ami, result, keys, wav, hangup_at_prompt=hangup_at_prompt) \
        if answer_prompts else None

    def on_event(event: AMIEvent) -> None:
        if answerer:
            answerer.on_event(event)
        if event.name == "OriginateResponse":      # (its Uniqueid is the caller half's channel id)
            result.events.append(event)
            failed.append(event.get("Response") == "Failure")
        elif event.get("Uniqueid") in ids or event.get("Linkedid") == result.caller_uniqueid \
                or event.get("DestUniqueid") in ids:
            result.events.append(event)
            if event.name == "Newchannel" and event.get("Uniqueid") in ids:
                created.add(event.get("Uniqueid"))
            elif event.name == "Hangup" and event.get("Uniqueid") in ids:
                hung_up.add(event.get("Uniqueid"))
        else:
            return
        # over: both halves hung up, or the Originate failed and no half of it is still up
        if hung_up == ids or (failed and failed[-1] and created <= hung_up):
            done.set()

    unsubscribe = _router(ami).add((result.caller_uniqueid, result.ivr_uniqueid), on_event)
    cid = f'"{caller_name}" <{caller}>' if caller_name else f"<{caller}>"
    call_vars = {V.SIM_ID: sim_id, V.SIM_KEYS: "" if answer_prompts else keys, "SIM_KEY_GAP": f"{key_gap:g}",
                 V.SIM_WAIT: f"{wait:g}", V.SIM_HOLD: f"{hold:g}"}
    if wav and not answer_prompts:
        call_vars[V.SIM_WAV] = wav
    call_vars.update(variables or {})
    result.started = time.monotonic()
    if on_placed is not None:
        on_placed(result)
    try:
        await ami.originate(f"Local/{did}@{entry_context}", context=SIM_CALLER, exten="s", priority=1,
                            caller_id=cid, variables=call_vars, timeout_ms=int(timeout * 1000),
                            channel_id=result.caller_uniqueid, other_channel_id=result.ivr_uniqueid,
                            async_=True)
        try:
            await asyncio.wait_for(done.wait(), timeout)
            result.completed = hung_up == ids
        except TimeoutError:
            result.completed = False
    finally:
        result.ended = time.monotonic()
        unsubscribe()
        if answerer:
            for task in list(answerer.tasks):
                task.cancel()
    return result
