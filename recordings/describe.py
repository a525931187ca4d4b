"""The caller's account, from recording to draft ticket, while they wait.

The IVR records what the caller says (describe node, or a queue's describe
step) and hands the file here; this transcribes it on the STT worker pool
(when a model is configured) and files the draft ticket for the call, in the
background, so the caller keeps their place and the call never waits on it.
Once speech-to-text has read it, the recording is kept as the recordings
settings say (``keep``: recordings/keep.py, compressed like the call's
recording; retention by the same sweep), and the draft links the kept file.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from recordings.notify import DraftTicket
from recordings.stt.errors import STTError
from recordings.wavfile import read_wav
from tickets.alerts import alert_event

log = logging.getLogger("hotline.recordings.describe")


class DescribeToTicket:
    def __init__(self, tickets, calls, pool=None, publish=None,
                 keep: Callable[[str, Path], Awaitable[Path | None]] | None = None) -> None:
        self.tickets = tickets        # tickets.store.TicketStore
        self.calls = calls            # ivr.calls.CallRecords
        self.pool = pool              # recordings.stt.pool.STTPool, or None (no speech model)
        self.publish = publish
        self.keep = keep              # (call id, WAV) -> the kept file: RecordingKeeper.describe_done
        self.tasks: set[asyncio.Task] = set()

    async def recorded(self, call, node: str, path: Path) -> None:
        task = asyncio.create_task(self._work(call.call_id, call.caller, Path(path)), name=f"describe-{call.call_id}")
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("describe task %s failed", task.get_name(), exc_info=task.exception())

    async def _work(self, call_id: str, caller: str, path: Path) -> None:
        text, finals, stats = "", list[dict](), dict[str, Any]()
        if self.pool is not None:
            try:
                text, finals, stats = await self._transcribe(call_id, path)
            except (STTError, OSError, ValueError) as exc:
                log.warning("call %s: transcription failed (%s); the draft is filed without it", call_id, exc)
                stats = {"error": getattr(exc, "error_id", type(exc).__name__)}
        if self.keep is not None:             # speech-to-text is done with the WAV
            try:
                path = await self.keep(call_id, path) or path
            except Exception:                 # noqa: BLE001 - the draft is filed all the same
                log.exception("call %s: keeping the caller's account failed", call_id)
        ticket = await self.tickets.create_draft(call_id, caller or None, text, recording=str(path))
        if text and text not in ticket.transcript:      # the live transcript made the draft first: add the account
            ticket = await self.tickets.update_transcript(ticket.id, text)
        await self.calls.transcripts.account(call_id, text, finals, stats)
        await self.calls.ticket_linked(call_id, ticket.id)
        log.info("call %s: draft ticket %s (%d characters heard)", call_id, ticket.id, len(text))
        if self.publish:
            with contextlib.suppress(Exception):
                await self.publish(DraftTicket(call_id=call_id, ticket=ticket.id))
                alert = alert_event(call_id, ticket)
                if alert:                              # a life-safety cue: the console shows it at once
                    await self.publish(alert)

    async def transcribe(self, call_id: str, path: Path) -> str:
        """The text of one recording (another feature's, e.g. a revisit's reason); "" with no model."""
        if self.pool is None:
            return ""
        text, _, _ = await self._transcribe(call_id, Path(path))
        return text

    async def _transcribe(self, call_id: str, path: Path) -> tuple[str, list[dict], dict]:
        """Stream the recording through the pool as a call would (0.2 s chunks) and keep what
        the pool itself produced: seconds heard, and each result's kind and times in order."""
        pcm, info = await asyncio.to_thread(read_wav, path)
        results: list = []
        async with self.pool.stream(call_id, info.rate, "slin") as session:
            async def feed() -> None:
                step = max(2, info.rate * 2 // 5)
                for i in range(0, len(pcm), step):
                    await session.feed(pcm[i:i + step])
                await session.end()

            feeder = asyncio.create_task(feed())
            try:
                async for result in session.results():
                    results.append(result)
            finally:
                if not feeder.done():
                    feeder.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await feeder
        transcript = await session.transcript()
        finals = [{"text": f.text, "start": f.start, "end": f.end} for f in transcript.finals]
        stats = {"heard_s": transcript.duration, "engine_s": transcript.stats.get("engine_s"),
                 "skipped_s": transcript.stats.get("skipped_s"),
                 "partials": sum(1 for r in results if r.kind == "partial"),
                 "finals": len(finals),
                 "results": [[r.kind, r.start, r.end] for r in results[:500]]}
        return transcript.text, finals, stats

    async def close(self, timeout: float = 20.0) -> None:
        """Let transcriptions in progress finish (no ticket is lost on a clean stop)."""
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=timeout)
