"""Live transcription of the conversation between caller and operator.

Capture: per direction, `ChanSpy(channel,qoE)` on the party's own channel
(the caller's channel from the call record, the seat's channel from the
HotlineAnswered event) in a Local channel whose other half runs an EAGI
script forwarding fd 3 to the controller (pbx/live_audio.py). Chosen by
measurement on this Asterisk 16 (`hotline bench stt --live`,
bench/live.py) among:

- MixMonitor's r()/t() files, read while they grow: free (they are written
  for the recording anyway), but Asterisk writes every file through a
  32 KiB stdio buffer, 2.05 s of 8 kHz audio: the audio reaches the reader
  in 2 s bursts, measured 0.77-1.3 s after it was spoken (median), up to 2 s,
  so text lags a second more than it must. It stays the fallback
  (`capture=None`), e.g. where EAGI scripts cannot be run;
- ChanSpy -> Local -> EAGI: frames arrive as Asterisk passes them, measured
  4-35 ms after they were spoken (median); cost: two Local pairs and two
  small reader processes per call, about 1.2-1.7 s of Asterisk CPU and
  2 s of controller CPU per call-minute more than the files (a few per cent
  of a core per call; the recogniser itself costs 13-17 s per call-minute);
- app_audiosocket: not in Debian's Asterisk 16 build; EAGI on the call's own
  channel: impossible while it is bridged (EAGI is a dialplan application);
  ARI snoop + externalMedia (RTP to the controller) would avoid the reader
  processes but needs an ARI client and a Stasis app - not measured.

Speech -> first partial on Redis is then dominated by the recogniser (about
0.8-1.2 s with the Korean test model: a partial needs a word or two); an
utterance's final follows about 1.3-2.2 s after the speech ends.

Each direction is one stream on the speech worker pool. Every partial and
final is published on Redis pub/sub `hotline:live` as

    {"type": "transcript", "call_id", "speaker": "caller"|"operator",
     "text", "final", "seq", "ts"}

(seq counts the call's events across both speakers). Finals are kept on the
call record (`live_transcript`: speaker turns) and on the call's draft
ticket (its transcript grows, `turns` keeps the speakers, the draft is
extracted again), after which `draft_ticket` is published again.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kernel.notify import Publish
from pbx.events import Hangup, HotlineAnswered
from recordings.notify import DraftTicket, Transcript
from recordings.stt.engine import Final, Partial
from recordings.stt.errors import STTBusyError, STTError
from tickets.alerts import AlertOnce, alert_event
from tickets.model import TicketsError

log = logging.getLogger("hotline.recordings.live")

SPEAKERS = ("caller", "operator")
WAV_HEADER = 44          # Asterisk's format_wav header (sizes filled in at close)


def transcript_event(call_id: str, speaker: str, result: Partial | Final, seq: int, ts: float) -> Transcript:
    """The `transcript` event (the contract the console reads)."""
    return Transcript(call_id=call_id, speaker=speaker, text=result.text, final=isinstance(result, Final), seq=seq,
                      ts=ts)


def turn_of(speaker: str, final: Final) -> dict[str, Any]:
    return {"speaker": speaker, "text": final.text, "start": final.start, "end": final.end}


class FileTail:
    """One direction's audio as MixMonitor writes it: raw frames appended to a WAV.
    (The fallback capture when no spy capture is wired: Asterisk writes these files
    through a 32 KiB buffer, about 2 s of 8 kHz audio, so text lags by a second or two.)

    Yields new bytes (after the header) as the file grows; ends once `stop`
    is set and nothing more arrives for `linger_s`, or when the file has not grown for
    `idle_timeout_s` (the channel is gone without us hearing of it), or when
    it never appears within `appear_timeout_s`."""

    def __init__(self, path: Path, *, poll_s: float = 0.04, header: int = WAV_HEADER,
                 appear_timeout_s: float = 5.0, idle_timeout_s: float = 20.0, max_read: int = 64 * 1024,
                 stop: asyncio.Event | None = None, linger_s: float = 1.0) -> None:
        self.path = Path(path)
        self.poll_s, self.header = poll_s, header
        self.appear_timeout_s, self.idle_timeout_s = appear_timeout_s, idle_timeout_s
        self.max_read = max_read
        self.stop = stop if stop is not None else asyncio.Event()
        self.linger_s = linger_s
        self.bytes_read = 0
        self._stop_seen: float | None = None

    def _stopped_at(self, loop: asyncio.AbstractEventLoop) -> float:
        if self._stop_seen is None:
            self._stop_seen = loop.time()
        return self._stop_seen

    async def chunks(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.appear_timeout_s
        while not self.path.exists():
            if self.stop.is_set() or loop.time() > deadline:
                log.warning("live audio %s never appeared", self.path.name)
                return
            await asyncio.sleep(self.poll_s)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            pos, last_growth = self.header, loop.time()
            while True:
                data = os.pread(fd, self.max_read, pos)
                if data:
                    pos += len(data)
                    self.bytes_read += len(data)
                    last_growth = loop.time()
                    yield data
                    continue
                if self.stop.is_set():
                    # MixMonitor flushes its buffer when it closes the file, just after the hangup.
                    if loop.time() - max(last_growth, self._stopped_at(loop)) > self.linger_s:
                        return
                elif loop.time() - last_growth > self.idle_timeout_s:
                    log.info("live audio %s stopped growing: ending its stream", self.path.name)
                    return
                await asyncio.sleep(self.poll_s)
        finally:
            os.close(fd)


@dataclass
class LiveCall:
    call_id: str
    channel_uid: str
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task | None = None
    seq: int = 0
    turns: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)




class LiveTranscriber:
    """Transcribes answered calls, both directions, on the speech pool."""

    _alerts = AlertOnce()

    def __init__(self, pool: Any, publish: Publish, calls: Any = None, tickets: Any = None, *,
                 capture: Any = None, redis: Any = None, node: str = "", rate: int = 8000, encoding: str = "slin",
                 clock: Callable[[], float] = time.time, tail_options: Mapping[str, Any] | None = None) -> None:
        self.pool = pool                # recordings.stt.pool.STTPool
        self.publish = publish
        self.calls = calls              # ivr.calls.CallRecords (None: turns are not kept on the call)
        self.tickets = tickets          # tickets.store.TicketStore (None: no draft refresh)
        self.capture = capture          # pbx.live_audio.SpyCapture (None: follow MixMonitor's files)
        self.redis = redis              # to claim a call when several controllers share an Asterisk
        self.node = node
        self.rate, self.encoding = rate, encoding
        self.clock = clock
        self.tail_options = dict(tail_options or {})
        self.active: dict[str, LiveCall] = {}
        self._by_channel: dict[str, str] = {}
        self._tasks: set[asyncio.Task] = set()
        self.finished: dict[str, LiveCall] = {}      # the last few, for tests and the bench

    # -- from the AMI event stream

    # The AMI events this follows (``ami.subscribe(LiveTranscriber.EVENTS, on_ami_event)``).
    EVENTS = (HotlineAnswered, Hangup)

    def on_ami_event(self, event: HotlineAnswered | Hangup) -> None:
        """HotlineAnswered (on the seat's channel, with the recording base) starts a call;
        that channel's Hangup ends it."""
        if isinstance(event, HotlineAnswered):
            if event.rec:
                self._spawn(self.answered(event.call_id, seat_channel=event.channel, seat_uid=event.uniqueid,
                                          rec_base=Path(event.rec)))
        else:
            self.hangup(event.uniqueid)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("live transcription task failed", exc_info=task.exception())

    async def answered(self, call_id: str, *, seat_channel: str, seat_uid: str = "",
                       rec_base: Path | None = None) -> LiveCall | None:
        """The seat answered: capture both directions (spies on the caller's and the seat's
        channels, or MixMonitor's two files without a spy capture) and transcribe them."""
        if not call_id or call_id in self.active:
            return None
        if self.free_streams() < 2:
            log.warning("call %s: no live transcript, the speech workers are full", call_id)
            return None
        if self.redis is not None:
            claimed = await self.redis.set(f"hotline:live:owner:{call_id}", self.node or "1", nx=True, ex=4 * 3600)
            if not claimed:
                return None                  # another controller transcribes this call
        stop = asyncio.Event()
        if self.capture is not None:
            record = await self.calls.record(call_id) if self.calls is not None else None
            caller_channel = record.channel if record is not None else ""
            if not caller_channel or not seat_channel:
                log.warning("call %s: no live transcript (caller channel %r, seat channel %r)",
                            call_id, caller_channel, seat_channel)
                return None
            try:
                sources = await self.capture.open(call_id, {"caller": caller_channel, "operator": seat_channel},
                                                  stop=stop)
            except Exception as exc:         # AMI down or refused: the call goes on, without live text
                log.warning("call %s: live capture not started: %s", call_id, exc)
                return None
        elif rec_base is not None:
            sources = {speaker: FileTail(Path(f"{rec_base}-{suffix}.wav"), stop=stop, **self.tail_options).chunks()
                       for speaker, suffix in (("caller", "caller"), ("operator", "seat"))}
        else:
            return None
        return self.start(call_id, sources, channel_uid=seat_uid, stop=stop)

    def free_streams(self) -> int:
        """Streams the pool can still open without waiting (a call needs two)."""
        limit = getattr(getattr(self.pool, "config", None), "max_sessions_per_worker", None)
        if limit is None:
            return 2
        return sum(max(0, limit - w["sessions"]) for w in self.pool.stats()["workers"])

    def hangup(self, channel_uid: str) -> None:
        call_id = self._by_channel.pop(channel_uid, None)
        live = self.active.get(call_id) if call_id else None
        if live is not None:
            live.stop.set()

    # -- the transcription

    def start(self, call_id: str, sources: Mapping[str, AsyncIterator[bytes]], *, channel_uid: str = "",
              stop: asyncio.Event | None = None) -> LiveCall:
        """Transcribe `sources` (speaker -> audio chunks at self.rate/encoding) until each ends;
        `stop` is set when the call's seat channel hangs up."""
        live = LiveCall(call_id, channel_uid, stop if stop is not None else asyncio.Event())
        self.active[call_id] = live
        if channel_uid:
            self._by_channel[channel_uid] = call_id
        live.task = asyncio.ensure_future(self._run(live, sources))
        self._tasks.add(live.task)
        live.task.add_done_callback(self._done)
        return live

    async def _run(self, live: LiveCall, sources: Mapping[str, AsyncIterator[bytes]]) -> None:
        started = time.monotonic()
        try:
            await asyncio.gather(*(self._direction(live, speaker, chunks) for speaker, chunks in sources.items()))
        finally:
            self.active.pop(live.call_id, None)
            self._by_channel.pop(live.channel_uid, None)
            live.stats["wall_s"] = round(time.monotonic() - started, 3)
            self.finished[live.call_id] = live
            while len(self.finished) > 50:
                self.finished.pop(next(iter(self.finished)))
            log.info("call %s: live transcript done, %d turn(s)", live.call_id, len(live.turns))

    async def _direction(self, live: LiveCall, speaker: str, chunks: AsyncIterator[bytes]) -> None:
        stats = live.stats.setdefault(speaker, {"bytes": 0, "dropped_bytes": 0, "partials": 0, "finals": 0})
        try:
            session = await self.pool.open(f"{live.call_id}:{speaker}", self.rate, self.encoding)
        except STTError as exc:
            log.warning("call %s: no live transcript of the %s (%s)", live.call_id, speaker, exc)
            stats["error"] = exc.error_id
            async for _ in chunks:          # keep draining so the source ends cleanly
                pass
            return

        async def feed() -> None:
            try:
                async for data in chunks:
                    stats["bytes"] += len(data)
                    try:
                        await session.feed(data)
                    except STTBusyError:
                        stats["dropped_bytes"] += len(data)     # behind real time: skip, keep the call live
                await session.end()
            except STTError as exc:
                stats["error"] = exc.error_id
                await session.cancel()

        feeder = asyncio.ensure_future(feed())
        try:
            async for result in session.results():
                if not result.text:
                    continue
                if isinstance(result, Final):
                    stats["finals"] += 1
                    await self._final(live, speaker, result)
                else:
                    stats["partials"] += 1
                    await self._emit(live, speaker, result)
        except STTError as exc:
            stats["error"] = exc.error_id
            log.warning("call %s: live transcript of the %s stopped: %s", live.call_id, speaker, exc)
        finally:
            if not feeder.done():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(feeder), 5.0)
                feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError, STTError):
                await feeder
        stats["heard_s"] = round(stats["bytes"] / (self.rate * 2), 3)

    async def _emit(self, live: LiveCall, speaker: str, result: Partial | Final) -> None:
        live.seq += 1
        with contextlib.suppress(Exception):
            await self.publish(transcript_event(live.call_id, speaker, result, live.seq, self.clock()))

    async def _final(self, live: LiveCall, speaker: str, final: Final) -> None:
        async with live.lock:                # one turn at a time: the ticket sees them in order
            await self._emit(live, speaker, final)
            turn = turn_of(speaker, final)
            live.turns.append(turn)
            if self.calls is not None:
                with contextlib.suppress(Exception):
                    await self.calls.transcripts.live(live.call_id, live.turns)
            if self.tickets is not None:
                try:
                    await self._ticket(live, final.text, turn)
                except Exception:              # the transcript goes on even if the draft cannot be updated
                    log.exception("call %s: draft ticket not refreshed", live.call_id)

    async def _ticket(self, live: LiveCall, text: str, turn: dict[str, Any]) -> None:
        ticket = await self.tickets.get_by_call(live.call_id, recall=False)     # Redis only: per line
        if ticket is None:
            record = await self.calls.record(live.call_id) if self.calls is not None else None
            if record is not None and record.ticket:        # linked, but gone from Redis: the records' copy
                with contextlib.suppress(TicketsError):
                    ticket = await self.tickets.get(record.ticket)
        if ticket is None:
            ticket = await self.tickets.create_draft(live.call_id, record.caller or None if record else None, None,
                                                     seat=record.seat or None if record else None)
            if self.calls is not None:
                await self.calls.ticket_linked(live.call_id, ticket.id)
        ticket = await self.tickets.update_transcript(ticket.id, text, turn=turn)
        with contextlib.suppress(Exception):
            await self.publish(DraftTicket(call_id=live.call_id, ticket=ticket.id))
            alert = alert_event(live.call_id, ticket)
            if alert is not None and self._alerts.first(alert):              # a life-safety cue: the console shows it at once
                await self.publish(alert)

    async def close(self, timeout: float = 10.0) -> None:
        """Stop following calls; let their streams finish."""
        for live in list(self.active.values()):
            live.stop.set()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
