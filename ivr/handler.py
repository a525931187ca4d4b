"""The IVR on a live call: runs the pure engine and carries out its actions
over the call's FastAGI session.

Handler -> engine (what next?) -> action on the channel -> event -> engine.
The handler pins the tree version when the call enters. Anything it cannot
handle raises, and the FastAGI server sends the call to the dialplan
fallback; a caller hanging up ends the walk quietly.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ivr import engine as E
from ivr.calls import CallRecords
from ivr.model import Prompt
from ivr.numbers import edge_caller, memberships, normalize_did
from ivr.simulate import outcome_of
from ivr.trees import Pinned, TreeSource
from kernel.privacy import mask_number
from pbx import contract as V
from pbx.agi import AGIError, AGIHangup, AGISession
from recordings.prompts import PromptResolver

log = logging.getLogger("hotline.ivr.call")

ALL_KEYS = "0123456789*#"
# Asterisk hangs up a PJSIP channel whose RTP stopped for the endpoint's rtp_timeout with this cause
# (res_pjsip_sdp_rtp, AST_CAUSE_REQUESTED_CHAN_UNAVAIL) and no SIP reason: no BYE came.
RTP_TIMEOUT_CAUSE = "44"
MEDIA_POLL_S = 0.5
FILE_BUFFER_S = 2.5          # Asterisk writes a recording in 32 KB pieces: about 2 s of 8 kHz audio


@dataclass
class CallContext:
    """What the controller knows about one live call."""

    call_id: str
    channel: str
    caller: str
    caller_name: str
    did: str
    arrived_at: dt.datetime
    pinned: Pinned
    session: AGISession
    step: E.Step | None = None          # where the walk is now
    outcome: dict | None = None         # the first terminal action (the simulate contract)
    end_reason: str = ""
    withheld: bool = False              # the network presented no number

    @property
    def version(self) -> int:
        return self.pinned.version


class WalkEnded(Exception):
    """Raised by an action runner when the call ends on purpose (e.g. a callback was chosen)."""

    reason = "ended"


class QueueRunner(Protocol):
    """Waits with the caller in a lane until a seat answered and hung up (Done) or it failed."""

    async def run(self, call: CallContext, action: E.Queue) -> E.Event: ...


class RecordingSink(Protocol):
    """Receives the caller's account (describe) for transcription."""

    async def recorded(self, call: CallContext, node: str, path: Path) -> None: ...


class IvrCallHandler:
    def __init__(self, trees: TreeSource, prompts: PromptResolver, calls: CallRecords,
                 queue: QueueRunner, *, recordings_dir: Path, transfer_dial: str = "Local/{number}@hotline-external",
                 silence: str | None = None, sink: RecordingSink | None = None,
                 end_recording: Callable[[str], Awaitable[None]] | None = None,
                 media_received: Callable[[str], Awaitable[int | None]] | None = None,
                 keeper=None, node: str = "",
                 clock=lambda: dt.datetime.now(dt.UTC), outbound=None) -> None:
        self.trees = trees
        self.prompts = prompts
        self.calls = calls
        self.queue = queue
        self.recordings_dir = Path(recordings_dir)
        self.transfer_dial = transfer_dial
        self.outbound = outbound          # agents.outbound.Outbound: the dialling policy (None: digits only)
        self.silence = silence
        self.sink = sink
        # end_recording(channel): stop a recording that gets no media (the caller's RTP stopped: silence
        # detection never fires without frames). hotline/features/ivr.py passes AMI's receive_dtmf of "#".
        self.end_recording = end_recording
        self.media_received = media_received      # RTP packets a channel received so far (AMI)
        self.node = node                          # this controller (agents/nodes.py), on each call record
        self.keeper = keeper                      # recordings.keep.RecordingKeeper: one recording kept per call
        self.clock = clock
        # Prompts (files) a call hears before the tree's first action (agents/leader.py: a leader-answering
        # session's announcement); None: none.
        self.intro: Callable[[CallContext], Awaitable[list[str]]] | None = None

    async def __call__(self, s: AGISession) -> None:
        pinned = await self.trees.current()
        env = s.env
        # One round trip: the DID the entry context kept, and the trunk the call came in on (its endpoint
        # sets them; empty for seats and simulated calls).
        got = (await s.get_full_variable(f"${{{V.DID}}}|${{{V.TRUNK}}}|${{{V.AREA}}}")) or "||"
        did_var, trunk, area = (got.split("|") + ["", "", ""])[:3]
        # Numbers at the edge: one canonical form for the tree, the lists and repeat-caller links.
        area = area if area.isdigit() else ""
        did = normalize_did(did_var or env.dnid or env.extension or "", area_code=area or None)
        edge = edge_caller(env.callerid, area_code=area or None)
        caller = edge.number
        call = CallContext(call_id=env.uniqueid, channel=env.channel, caller=caller,
                           caller_name=env.calleridname if env.calleridname not in (None, "unknown") else "",
                           did=did, arrived_at=self.clock(), pinned=pinned, session=s)
        call.withheld = edge.withheld
        await s.set_variable(V.CALL_ID, call.call_id)
        await s.set_variable(V.TREE_VERSION, str(pinned.version))
        await self.calls.started(call.call_id, caller=caller, caller_name=call.caller_name, did=did,
                                 version=pinned.version, channel=call.channel, trunk=trunk, node=self.node,
                                 withheld=edge.withheld)
        tree = pinned.tree
        windows = E.repeat_windows(tree)
        recent = await self.calls.recent_calls(caller, windows, exclude=call.call_id) if windows else 0
        facts = E.CallFacts(caller=caller or None, did=did or None, at=call.arrived_at, recent_calls=recent,
                            member_of=memberships(caller, pinned.lists))
        log.info("call %s from %s on DID %s: tree version %d", call.call_id, mask_number(caller), did,
                 pinned.version)
        call.step = E.start(tree, facts)
        try:
            await self._intro(call)
            await self._walk(call)
        except WalkEnded as ended:
            call.end_reason = ended.reason
            log.info("call %s: %s", call.call_id, ended.reason)
        except AGIHangup:
            if not call.step.finished:
                call.step = E.advance(tree, call.step.state, E.CallerHangup())
            log.info("call %s: caller hung up at %s", call.call_id, call.step.state.node)
        finally:
            if s.hung_up and call.end_reason in ("", "caller_hangup") and await self._media_timed_out(s, call):
                call.end_reason = "rtp_timeout"
                log.info("call %s: no media for the trunk's rtp_timeout and no BYE: torn down at %s", call.call_id,
                         call.step.state.node)
            step = call.step
            # (a status the routing engine set last, a callback pending or a missed call, is kept)
            await self.calls.ended(call.call_id, path=step.state.path, outcome=call.outcome,
                                   variables=step.state.variables, notes=step.state.notes,
                                   end_reason=call.end_reason or getattr(step.action, "reason", ""),
                                   finished=step.finished)
            record = await self.calls.record(call.call_id) if self.keeper is not None else None
            if self.keeper is not None and record is not None and record.recording:
                self.keeper.call_ended(call.call_id, record.recording)
        if not s.hung_up:
            await s.set_variable(V.NEXT, "hangup")
            await s.hangup()

    async def _intro(self, call: CallContext) -> None:
        if self.intro is None:
            return
        try:
            prompts = await self.intro(call)
        except Exception:                         # noqa: BLE001 - the call goes on without it
            log.exception("call %s: the announcement before the tree failed", call.call_id)
            return
        for path in prompts:
            await call.session.stream_file(path)

    async def _walk(self, call: CallContext) -> None:
        tree = call.pinned.tree
        assert call.step is not None, "the walk starts at the tree's entry"
        step = call.step
        while not step.finished:
            action = step.action
            if getattr(action, "terminal", False) and call.outcome is None:
                call.outcome = outcome_of(action)
                await self.calls.menu_done(call.call_id, call.outcome, step.state.path)
            event = await self._perform(call, action)
            step = call.step = E.advance(tree, step.state, event)

    async def _perform(self, call: CallContext, action) -> E.Event:
        s = call.session
        if isinstance(action, E.Play):
            for p in action.prompts:
                await s.stream_file(await self.prompts.resolve_async(p))
            return E.Done()
        if isinstance(action, E.GetDigits):
            return await self._get_digits(s, action)
        if isinstance(action, E.Record):
            return await self._record(call, action.prompt, action.max_s, action.silence_s, action.node, action.beep)
        if isinstance(action, E.Queue):
            await s.set_variable(V.LANE, action.lane)
            await self.calls.lane_chosen(call.call_id, action.lane)
            if action.prompt:
                await s.stream_file(await self.prompts.resolve_async(action.prompt))
            if action.describe:
                d = action.describe
                await self._record(call, d.prompt, d.max_s, d.silence_s, action.node, True)
            return await self.queue.run(call, action)
        if isinstance(action, E.Transfer):
            if action.prompt:
                await s.stream_file(await self.prompts.resolve_async(action.prompt))
            number = await self._checked_number(call, action.number)
            if number is None:
                await self.calls.transferred(call.call_id, action.number, "REFUSED")
                return E.Failed("refused")
            dial = self.transfer_dial.format(number=number)
            await s.exec("Dial", dial, str(action.ring_s), "g")
            status = await s.get_variable(V.DIALSTATUS)
            await self.calls.transferred(call.call_id, action.number, str(status))
            return E.Done() if status == V.DIAL_ANSWERED else E.Failed(status or "unknown")
        if isinstance(action, E.Hangup):
            if action.prompt:
                await s.stream_file(await self.prompts.resolve_async(action.prompt))
            return E.Done()
        raise E.EngineError(f"no way to perform {action!r}")

    async def _checked_number(self, call: CallContext, raw: str) -> str | None:
        """A transfer node's number through the dialling policy; None (and the caller told why) if refused."""
        if self.outbound is None:
            return raw if raw.isdigit() and raw.isascii() and len(raw) <= 20 else None
        v = await self.outbound.approve(raw, "transfer", ref=call.call_id)
        if v.ok:
            return v.number
        await call.session.stream_file(await self.prompts.resolve_async(Prompt(text=v.prompt)))
        return None

    async def _get_digits(self, s: AGISession, action: E.GetDigits) -> E.Event:
        pressed = ""
        for p in action.prompts[:-1]:             # notices ("wrong key") can be interrupted
            pressed = await s.stream_file(await self.prompts.resolve_async(p), escape_digits=ALL_KEYS)
            if pressed:
                break
        if pressed and (action.max_digits <= 1 or pressed == action.terminator):
            return E.Digits(pressed)
        prompt = self.silence if pressed and self.silence else await self.prompts.resolve_async(action.prompt)
        digits, timed_out = await s.get_data(prompt, timeout_ms=action.timeout_s * 1000,
                                             max_digits=max(1, action.max_digits - len(pressed)))
        digits = pressed + digits
        return E.Digits(digits) if digits else E.Timeout()

    async def _record(self, call: CallContext, prompt, max_s: int, silence_s: int, node: str,
                      beep: bool) -> E.Event:
        s = call.session
        await s.stream_file(await self.prompts.resolve_async(prompt))
        target = self.recordings_dir / "describe" / f"{call.call_id}-{node}"
        target.parent.mkdir(parents=True, exist_ok=True)
        # Not with_suffix: a real uniqueid has a dot (1796236250.12) that it would cut.
        wav = target.parent / f"{target.name}.wav"
        watch = asyncio.create_task(self._watch_media(call, wav, silence_s)) if self.end_recording else None
        started = time.monotonic()
        try:
            reply = await s.record_file(str(target), "wav", escape_digits="#", timeout_ms=max_s * 1000,
                                        silence_s=silence_s, beep=beep)
        except AGIHangup:
            raise
        except AGIError as exc:                   # a full disk must not cost the call its place
            log.warning("call %s: recording failed (%s); going on without it", call.call_id, exc)
            return E.Done()
        finally:
            no_media = False
            if watch is not None:
                watch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    no_media = bool(await watch)
        if no_media:
            ended = "no_media"
        elif reply.data == "dtmf":
            ended = "key"
        elif time.monotonic() - started >= max_s - 0.5:
            ended = "max"
        else:
            ended = "silence"
        with contextlib.suppress(OSError):
            wav.chmod(0o640)
        await self.calls.described(call.call_id, str(wav), ended)
        if self.sink and wav.exists():
            await self.sink.recorded(call, node, wav)
        return E.Done()

    async def _watch_media(self, call: CallContext, wav: Path, silence_s: int) -> bool:
        """While a recording runs: when no media comes for silence_s (so Asterisk's silence detection
        cannot fire), end it. True if it ended the recording.

        Cheap first: the file not growing (Asterisk buffers about 2 s of audio before it writes); then
        the channel's count of RTP packets received, when it can be read (media_received)."""
        last, still = -1, 0.0
        last_rx, rx_still = None, 0.0
        limit = max(1.0, float(silence_s))
        await asyncio.sleep(1.0)                  # the beep and the file's creation
        while True:
            await asyncio.sleep(MEDIA_POLL_S)
            try:
                size = wav.stat().st_size
            except OSError:
                size = -1
            if size != last:
                last, still, last_rx, rx_still = size, 0.0, None, 0.0
                continue
            still += MEDIA_POLL_S
            rx = await self._rtp_received(call.channel) if still >= 1.0 else None
            if rx is not None:
                rx_still = rx_still + MEDIA_POLL_S if rx == last_rx else 0.0
                last_rx = rx
                stopped = rx_still >= limit
            else:
                stopped = still >= limit + FILE_BUFFER_S
            if stopped:
                log.info("call %s: no media for %.1f s while recording; recording ended", call.call_id,
                         max(rx_still, still))
                try:
                    if self.end_recording is not None:
                        await self.end_recording(call.channel)
                except Exception as exc:          # noqa: BLE001 - the recording then ends at its maximum
                    log.warning("call %s: could not end the recording (%s)", call.call_id, exc)
                    return False
                return True

    async def _rtp_received(self, channel: str) -> int | None:
        if self.media_received is None or not channel.startswith("PJSIP/"):
            return None
        try:
            return await self.media_received(channel)
        except Exception:                         # noqa: BLE001 - then the file alone tells
            return None

    async def _media_timed_out(self, s: AGISession, call: CallContext) -> bool:
        """After a hangup: did the trunk's rtp_timeout tear the call down (no media, no BYE)?"""
        if not call.channel.startswith("PJSIP/"):
            return False
        with contextlib.suppress(Exception):
            cause = await s.get_variable(V.HANGUPCAUSE)
            tech = await s.get_full_variable(f"${{{V.HANGUPCAUSE}({call.channel},tech)}}")
            return cause == RTP_TIMEOUT_CAUSE and not tech
        return False
