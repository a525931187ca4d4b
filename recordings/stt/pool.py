"""A pool of speech worker processes behind an asyncio API.

    pool = STTPool(VoskEngineFactory(model_path), PoolConfig(workers=2))
    await pool.start()                     # each worker loads the model once
    async with pool.stream(call_id, rate=8000, encoding="ulaw") as s:
        await s.feed(chunk)                # ... as audio arrives
        await s.end()                      # no more audio
        async for result in s.results():   # Partial ... Final, in order
            ...
    transcript = await s.transcript()
    await pool.close()

Each stream is served by one worker (least loaded at open). Feeding and
reading results may run in separate tasks.

Back-pressure: every worker has a bound on audio sent but not yet processed
(`max_backlog_s`). `feed` waits while its worker is over the bound, for at
most `busy_timeout_s` (or the `timeout` it is given; 0 means do not wait),
then raises STTBusyError and that chunk is NOT accepted; the stream stays
usable. Opening a stream waits the same way for a free slot
(`max_sessions_per_worker`) and raises STTBusyError after the timeout.

Failure: a worker that dies (or stops answering for `stall_timeout_s` while
it has work, and is then killed) is replaced; its streams fail with
STTWorkerError: `feed`, `results` and `transcript` raise it, nothing hangs.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import multiprocessing
import socket
from dataclasses import dataclass
from typing import Any, Literal

from recordings.audio import bytes_per_sample
from recordings.stt import worker as wire
from recordings.stt.engine import EngineFactory, Transcript
from recordings.stt.errors import (
    STTBusyError,
    STTClosedError,
    STTError,
    STTProtocolError,
    STTWorkerError,
)
from recordings.stt.session import STTSession, _OpenStream
from recordings.stt.stream import GateConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PoolConfig:
    workers: int = 2
    max_sessions_per_worker: int = 8
    max_backlog_s: float = 5.0       # unprocessed audio per worker before feed() waits
    busy_timeout_s: float = 5.0      # how long feed()/stream() wait before STTBusyError
    start_timeout_s: float = 120.0   # model loading
    stall_timeout_s: float = 30.0    # busy worker silent this long is killed and replaced
    send_chunk_s: float = 0.1        # feed() batches audio into messages this long
    drain_timeout_s: float = 10.0    # close(): how long open streams may finish
    restart_backoff_s: float = 0.5   # first wait before respawning after a failed start (doubles, max 30 s)
    start_method: Literal["spawn", "forkserver"] = "spawn"
    gate: GateConfig | None = GateConfig()


class _Worker:
    def __init__(self, slot: int, process: Any, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.slot, self.process, self.reader, self.writer = slot, process, reader, writer
        self.pid: int | None = process.pid
        self.exitcode: int | None = None
        self.sessions: dict[int, STTSession] = {}
        self.backlog_s = 0.0
        self.progress = asyncio.Condition()
        self.alive = True
        self.info: dict[str, Any] = {}
        self.last_heard = asyncio.get_running_loop().time()
        self.task: asyncio.Task | None = None

    async def notify(self) -> None:
        async with self.progress:
            self.progress.notify_all()


class STTPool:
    def __init__(self, factory: EngineFactory, config: PoolConfig | None = None) -> None:
        self.factory = factory
        self.config = config or PoolConfig()
        self._ctx = multiprocessing.get_context(self.config.start_method)
        self._workers: dict[int, _Worker] = {}
        self._slots_changed = asyncio.Condition()
        self._tasks: set[asyncio.Task] = set()
        self._next_sid = 0
        self._closing = False
        self._started = False
        self._last_error: STTError | None = None
        self.restarts = 0

    # -- life cycle

    async def start(self) -> None:
        """Start every worker and wait until each has loaded the model.
        Raises ModelNotFoundError (or the worker's error) if the model fails."""
        if self._started:
            return
        check = getattr(self.factory, "check", None)
        if check is not None:
            check()
        self._started = True
        spawned = await asyncio.gather(*(self._spawn(slot) for slot in range(self.config.workers)),
                                       return_exceptions=True)
        errors = [r for r in spawned if isinstance(r, BaseException)]
        if errors:
            await self.close()
            raise errors[0]
        self._spawn_task(self._watchdog(), "stt-watchdog")

    async def close(self) -> None:
        """Stop taking streams, let open ones finish (drain_timeout_s), fail
        the rest with STTClosedError, then stop the workers."""
        if self._closing:
            return
        self._closing = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.drain_timeout_s
        while any(w.sessions for w in self._workers.values()) and loop.time() < deadline:
            await asyncio.sleep(0.05)
        for task in list(self._tasks):
            task.cancel()
        for worker in list(self._workers.values()):
            for session in list(worker.sessions.values()):
                session._fail(STTClosedError("speech pool closed", call_id=session.call_id))
        await asyncio.gather(*(self._stop_worker(w) for w in list(self._workers.values())))
        self._workers.clear()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def __aenter__(self) -> STTPool:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # -- streams

    def stream(self, call_id: str, rate: int = 8000, encoding: str = "slin") -> _OpenStream:
        """Async context manager around open(): ends the stream on normal
        exit, cancels it on an exception."""
        return _OpenStream(self, (call_id, rate, encoding))

    async def open(self, call_id: str, rate: int = 8000, encoding: str = "slin",
                   *, timeout: float | None = None) -> STTSession:
        """A new stream on the least loaded worker; waits for a free slot at
        most `timeout` (default busy_timeout_s), then STTBusyError."""
        bytes_per_sample(encoding)                 # validates the encoding
        if rate <= 0:
            raise STTError("sample rate must be positive", rate=rate)
        worker = await self._pick_worker(timeout)
        self._next_sid += 1
        session = STTSession(self, worker, self._next_sid, call_id, rate, encoding)
        worker.sessions[session.sid] = session
        await self._write(worker, wire.json_frame(wire.OPEN, session.sid, {"rate": rate, "encoding": encoding}), session)
        return session

    async def transcribe(self, data: bytes, rate: int = 16000, encoding: str = "slin",
                         call_id: str = "") -> Transcript:
        """Whole-buffer convenience: stream `data` through one session."""
        session = await self.open(call_id, rate, encoding)
        try:
            step = max(1, rate * bytes_per_sample(encoding))
            for i in range(0, len(data), step):
                await session.feed(data[i:i + step], timeout=self.config.stall_timeout_s)
            await session.end(timeout=self.config.stall_timeout_s)
            return await session.transcript()
        except BaseException:
            await session.cancel()
            raise

    def stats(self) -> dict[str, Any]:
        return {"workers": [{"slot": w.slot, "pid": w.pid, "sessions": len(w.sessions),
                             "backlog_s": round(w.backlog_s, 3), **w.info}
                            for w in sorted(self._workers.values(), key=lambda w: w.slot)],
                "restarts": self.restarts}

    def worker_pids(self) -> list[int]:
        return [w.pid for w in sorted(self._workers.values(), key=lambda w: w.slot) if w.alive and w.pid is not None]

    # -- scheduling

    async def _pick_worker(self, timeout: float | None) -> _Worker:
        limit = self.config.max_sessions_per_worker
        if self._closing or not self._started:
            raise STTClosedError("speech pool is not running")

        def candidates() -> list[_Worker]:
            return [w for w in self._workers.values() if w.alive and len(w.sessions) < limit]

        async with self._slots_changed:
            try:
                await asyncio.wait_for(
                    self._slots_changed.wait_for(lambda: self._closing or bool(candidates())),
                    self.config.busy_timeout_s if timeout is None else timeout)
            except TimeoutError:
                if not self._workers and self._last_error is not None:
                    raise self._last_error from None
                raise STTBusyError("all speech workers are busy", workers=len(self._workers),
                                   max_sessions_per_worker=limit) from None
            if self._closing:
                raise STTClosedError("speech pool is closing")
            return min(candidates(), key=lambda w: (len(w.sessions), w.backlog_s, w.slot))

    async def _wait_capacity(self, session: STTSession, timeout: float | None) -> None:
        worker = session._worker
        limit = self.config.max_backlog_s
        wait = self.config.busy_timeout_s if timeout is None else timeout
        async with worker.progress:
            try:
                await asyncio.wait_for(worker.progress.wait_for(
                    lambda: worker.backlog_s <= limit or session._error is not None or not worker.alive), wait)
            except TimeoutError:
                raise STTBusyError("speech worker is saturated", call_id=session.call_id,
                                   backlog_s=round(worker.backlog_s, 3), limit_s=limit) from None
        session._raise_if_failed()

    def _capacity_changed(self, worker: _Worker) -> None:
        self._spawn_task(worker.notify(), "stt-notify")
        self._spawn_task(self._notify_slots(), "stt-notify")

    async def _notify_slots(self) -> None:
        async with self._slots_changed:
            self._slots_changed.notify_all()

    async def _write(self, worker: _Worker, data: bytes, session: STTSession) -> None:
        if not worker.alive:
            session._raise_if_failed()
            raise STTWorkerError("speech worker is gone", call_id=session.call_id)
        try:
            worker.writer.write(data)
            await worker.writer.drain()
        except (ConnectionError, RuntimeError) as exc:
            session._raise_if_failed()
            raise STTWorkerError(f"speech worker connection lost: {exc}", call_id=session.call_id) from exc

    # -- workers

    async def _spawn(self, slot: int) -> _Worker:
        parent_sock, child_sock = socket.socketpair()
        # typeshed: get_context(str) is a BaseContext, without Process; every concrete context has it
        process = self._ctx.Process(target=wire.worker_main, name=f"hotline-stt-{slot}",  # type: ignore[attr-defined]
                                    daemon=True, args=(child_sock, self.factory, slot, self.config.gate))
        try:
            process.start()
        finally:
            child_sock.close()
        reader, writer = await asyncio.open_connection(sock=parent_sock)
        worker = _Worker(slot, process, reader, writer)
        try:
            kind, _, payload = await asyncio.wait_for(self._read_frame(reader), self.config.start_timeout_s)
            data = json.loads(payload) if payload else {}
            if kind == wire.FATAL:
                raise STTError.from_dict(data)
            if kind != wire.READY:
                raise STTProtocolError(f"speech worker sent {kind} instead of READY", kind=kind)
        except BaseException as exc:
            await self._stop_worker(worker, kill=True)
            if isinstance(exc, (asyncio.IncompleteReadError, ConnectionError)):
                raise STTWorkerError("speech worker died while loading the model",
                                     exitcode=worker.exitcode) from exc
            if isinstance(exc, asyncio.TimeoutError):
                raise STTWorkerError("speech worker did not load the model in time",
                                     timeout_s=self.config.start_timeout_s) from exc
            raise
        worker.info = data
        self._workers[slot] = worker
        worker.task = self._spawn_task(self._read_loop(worker), f"stt-reader-{slot}")
        log.info("speech worker %d ready: pid %s, %s at %s Hz, model loaded in %.1f s",
                 slot, data.get("pid"), data.get("engine"), data.get("sample_rate"), data.get("load_s", 0))
        await self._notify_slots()
        return worker

    @staticmethod
    async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, int, bytes]:
        kind, sid, length = wire.parse_header(await reader.readexactly(wire.HEADER.size))
        return kind, sid, (await reader.readexactly(length) if length else b"")

    async def _read_loop(self, worker: _Worker) -> None:
        reason = "connection closed"
        loop = asyncio.get_running_loop()
        try:
            while True:
                kind, sid, payload = await self._read_frame(worker.reader)
                worker.last_heard = loop.time()
                session = worker.sessions.get(sid)
                data = json.loads(payload) if payload else {}
                if kind == wire.RESULTS:
                    if session is not None:
                        session._on_results(int(data.get("acked", 0)), data.get("results", []))
                    await worker.notify()
                elif kind == wire.DONE:
                    if session is not None:
                        session._on_done(data.get("stats", {}))
                elif kind == wire.ERROR:
                    if session is not None:
                        session._fail(STTError.from_dict(data))
                else:
                    raise STTProtocolError(f"unexpected message {kind} from speech worker", kind=kind)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except asyncio.CancelledError:
            raise
        except Exception as exc:         # a bug or garbage on the wire: this worker is done for
            log.exception("speech worker %d: bad message", worker.slot)
            reason = f"{type(exc).__name__}: {exc}"
        await self._worker_lost(worker, reason)

    async def _worker_lost(self, worker: _Worker, reason: str) -> None:
        worker.alive = False
        if self._workers.get(worker.slot) is worker:
            del self._workers[worker.slot]
        await self._stop_worker(worker, kill=True)
        exitcode = worker.exitcode
        calls = [s.call_id for s in worker.sessions.values()]
        if not self._closing:
            log.error("speech worker %d (pid %s) lost: %s, exit code %s, %d stream(s) failed",
                      worker.slot, worker.pid, reason, exitcode, len(calls))
        error = STTWorkerError(f"speech worker {worker.slot} died ({reason}, exit code {exitcode})",
                               worker=worker.slot, pid=worker.pid, exitcode=exitcode)
        for session in list(worker.sessions.values()):
            session._fail(error)
        await worker.notify()
        if not self._closing:
            self._spawn_task(self._respawn(worker.slot), f"stt-respawn-{worker.slot}")

    async def _respawn(self, slot: int) -> None:
        delay = self.config.restart_backoff_s
        while not self._closing:
            try:
                await self._spawn(slot)
                self.restarts += 1
                return
            except STTError as exc:
                self._last_error = exc
                log.error("speech worker %d failed to restart: %s; retrying in %.1f s", slot, exc, delay)
            await asyncio.sleep(delay)
            delay = min(30.0, delay * 2)

    async def _stop_worker(self, worker: _Worker, kill: bool = False) -> None:
        """Ask the worker to exit (or kill it), then reap it without blocking."""
        worker.alive = False
        process = worker.process
        if not kill and process.is_alive():
            with contextlib.suppress(ConnectionError, RuntimeError):
                worker.writer.write(wire.frame(wire.SHUTDOWN))
                await asyncio.wait_for(worker.writer.drain(), 1.0)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (0.0 if kill else 5.0)
        while process.is_alive() and loop.time() < deadline:
            await asyncio.sleep(0.02)
        if process.is_alive():
            process.kill()
            deadline = loop.time() + 5.0
            while process.is_alive() and loop.time() < deadline:
                await asyncio.sleep(0.02)
        worker.exitcode = process.exitcode
        worker.writer.close()
        if worker.task is not None and worker.task is not asyncio.current_task():
            worker.task.cancel()
        with contextlib.suppress(Exception):
            process.close()

    async def _watchdog(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(1.0, self.config.stall_timeout_s / 4))
            now = loop.time()
            for worker in list(self._workers.values()):
                busy = any(s._unacked or s.state == "ending" for s in worker.sessions.values())
                if worker.alive and busy and now - worker.last_heard > self.config.stall_timeout_s:
                    log.error("speech worker %d (pid %s) stalled for %.0f s: killing it",
                              worker.slot, worker.pid, now - worker.last_heard)
                    worker.process.kill()

    def _spawn_task(self, coro: Any, name: str) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("speech pool task %s failed", task.get_name(), exc_info=task.exception())
