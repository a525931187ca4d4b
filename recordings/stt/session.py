"""One stream of the speech pool, as its caller sees it (see pool.py)."""
from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from recordings.audio import bytes_per_sample
from recordings.stt import worker as wire
from recordings.stt.engine import Final, Partial, Result, Transcript, result_from_dict
from recordings.stt.errors import STTClosedError, STTError

if TYPE_CHECKING:
    from recordings.stt.pool import STTPool, _Worker


class STTSession:
    """One audio stream being transcribed. Made by STTPool.open/stream."""

    def __init__(self, pool: STTPool, worker: _Worker, sid: int, call_id: str, rate: int, encoding: str) -> None:
        self._pool, self._worker, self.sid = pool, worker, sid
        self.call_id, self.rate, self.encoding = call_id, rate, encoding
        self._bytes_per_s = rate * bytes_per_sample(encoding)
        self._chunk = max(1, int(self._bytes_per_s * pool.config.send_chunk_s))
        self._buf = bytearray()
        self._feeding = asyncio.Lock()       # feed()/end() from several tasks stay in order
        self._unacked = 0
        self._queue: deque[Result] = deque()
        self._finals: list[Final] = []
        self._changed = asyncio.Event()
        self._done = asyncio.Event()
        self._error: STTError | None = None
        self._stats: dict[str, Any] = {}
        self.state = "open"               # open -> ending -> done | failed | cancelled

    # -- feeding

    async def feed(self, data: bytes, *, timeout: float | None = None) -> None:
        """Add audio. Waits while the worker is saturated; STTBusyError after
        `timeout` (default: the pool's busy_timeout_s) and `data` is dropped."""
        async with self._feeding:
            self._check_feedable()
            if len(self._buf) + len(data) < self._chunk:
                self._buf += data
                return
            await self._send(bytes(self._buf) + bytes(data), timeout)
            self._buf.clear()

    async def end(self, *, timeout: float | None = None) -> None:
        """No more audio: the worker finishes the stream, results() then ends."""
        async with self._feeding:
            if self.state != "open":
                return self._raise_if_failed()
            if self._buf:
                await self._send(bytes(self._buf), timeout)
                self._buf.clear()
            self.state = "ending"
            await self._pool._write(self._worker, wire.frame(wire.END, self.sid), self)

    async def cancel(self) -> None:
        """Drop the stream without a result; the worker forgets it."""
        if self.state in ("done", "failed", "cancelled"):
            return
        self.state = "cancelled"
        with contextlib.suppress(STTError, ConnectionError):
            await self._pool._write(self._worker, wire.frame(wire.CANCEL, self.sid), self)
        self._release()

    async def _send(self, data: bytes, timeout: float | None) -> None:
        await self._pool._wait_capacity(self, timeout)
        self._unacked += len(data)
        self._worker.backlog_s += len(data) / self._bytes_per_s
        await self._pool._write(self._worker, wire.frame(wire.AUDIO, self.sid, data), self)

    def _check_feedable(self) -> None:
        self._raise_if_failed()
        if self.state != "open":
            raise STTClosedError(f"stream {self.call_id} is {self.state}", call_id=self.call_id, state=self.state)

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    # -- results

    async def results(self) -> AsyncIterator[Result]:
        """Partial and Final results in order; ends after the stream's last
        Final, raises STTWorkerError (or another STTError) if it failed.
        Partials not yet read are replaced by newer ones; Finals never are."""
        while True:
            if self._queue:
                yield self._queue.popleft()
                continue
            if self._error is not None:
                raise self._error
            if self._done.is_set():
                return
            self._changed.clear()
            await self._changed.wait()

    async def transcript(self, timeout: float | None = None) -> Transcript:
        """Wait for the end of the stream (end() must have been called) and
        return every Final."""
        await asyncio.wait_for(self._done.wait(), timeout)
        self._raise_if_failed()
        return Transcript(tuple(self._finals), float(self._stats.get("input_s", 0.0)), self.call_id, dict(self._stats))

    @property
    def finals(self) -> tuple[Final, ...]:
        return tuple(self._finals)

    @property
    def backlog_s(self) -> float:
        """Seconds of this stream's audio sent to the worker and not yet processed."""
        return self._unacked / self._bytes_per_s

    # -- from the pool

    def _on_results(self, acked: int, results: list[dict[str, Any]]) -> None:
        if acked:
            self._unacked -= acked
            self._worker.backlog_s = max(0.0, self._worker.backlog_s - acked / self._bytes_per_s)
        for data in results:
            result = result_from_dict(data)
            if isinstance(result, Partial):
                if self._queue and isinstance(self._queue[-1], Partial):
                    self._queue[-1] = result
                else:
                    self._queue.append(result)
            else:
                self._queue.append(result)
                if result.text:
                    self._finals.append(result)
        if results:
            self._changed.set()

    def _on_done(self, stats: dict[str, Any]) -> None:
        self._stats = stats
        self.state = "done"
        self._release()

    def _fail(self, error: STTError) -> None:
        if self.state in ("done", "failed", "cancelled"):
            return
        self._error = error
        self.state = "failed"
        self._release()

    def _release(self) -> None:
        if self._worker.sessions.pop(self.sid, None) is not None:
            self._worker.backlog_s = max(0.0, self._worker.backlog_s - self._unacked / self._bytes_per_s)
            self._unacked = 0
            self._pool._capacity_changed(self._worker)
        self._done.set()
        self._changed.set()

    # -- context manager

    async def __aenter__(self) -> STTSession:
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            await self.cancel()
        elif self.state == "open":
            try:
                await self.end()
            except STTError:
                await self.cancel()
                raise


class _OpenStream:
    """`async with pool.stream(...) as s` without awaiting pool.stream()."""

    def __init__(self, pool: STTPool, args: tuple) -> None:
        self._pool, self._args = pool, args
        self._session: STTSession | None = None

    async def __aenter__(self) -> STTSession:
        self._session = await self._pool.open(*self._args)
        return self._session

    async def __aexit__(self, exc_type, exc, tb) -> None:
        assert self._session is not None
        await self._session.__aexit__(exc_type, exc, tb)
