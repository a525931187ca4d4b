"""The speech worker process and the message framing it shares with the pool.

One worker = one process = one loaded engine (the model is loaded once, at
start). It serves many streams, one message at a time, over a socket pair:

    frame = header(kind: u8, session: u32, length: u32) + payload

Parent -> worker: OPEN (JSON {"rate", "encoding"}), AUDIO (raw bytes), END,
CANCEL, SHUTDOWN. Worker -> parent: READY / FATAL (once, after loading),
RESULTS (JSON {"acked": bytes consumed, "results": [...]}) for every AUDIO
and END, DONE (JSON stats) after END, ERROR (JSON error) when one stream
failed; the worker itself keeps serving the others.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import struct
import time
from typing import Any

from recordings.stt.engine import EngineFactory
from recordings.stt.errors import STTError, STTProtocolError
from recordings.stt.stream import GateConfig, StreamPipeline

HEADER = struct.Struct("!BII")
MAX_PAYLOAD = 64 * 1024 * 1024

OPEN, AUDIO, END, CANCEL, SHUTDOWN = 1, 2, 3, 4, 5
READY, FATAL, RESULTS, DONE, ERROR = 101, 102, 103, 104, 105


def frame(kind: int, session: int = 0, payload: bytes = b"") -> bytes:
    return HEADER.pack(kind, session, len(payload)) + payload


def json_frame(kind: int, session: int, data: Any) -> bytes:
    return frame(kind, session, json.dumps(data, ensure_ascii=False).encode("utf-8"))


def parse_header(header: bytes) -> tuple[int, int, int]:
    kind, session, length = HEADER.unpack(header)
    if length > MAX_PAYLOAD:
        raise STTProtocolError("speech worker message too large", length=length)
    return kind, session, length


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        r = sock.recv_into(view[got:])
        if r == 0:
            return None
        got += r
    return bytes(buf)


def _recv_frame(sock: socket.socket) -> tuple[int, int, bytes] | None:
    header = _recv_exact(sock, HEADER.size)
    if header is None:
        return None
    kind, session, length = parse_header(header)
    payload = _recv_exact(sock, length) if length else b""
    if payload is None:
        return None
    return kind, session, payload


class _Worker:
    def __init__(self, sock: socket.socket, engine: Any, gate: GateConfig | None) -> None:
        self.sock, self.engine, self.gate = sock, engine, gate
        self.streams: dict[int, StreamPipeline] = {}

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def drop(self, session: int) -> StreamPipeline | None:
        pipeline = self.streams.pop(session, None)
        if pipeline is not None:
            pipeline.close()
        return pipeline

    def fail(self, session: int, exc: BaseException) -> None:
        self.drop(session)
        err = exc if isinstance(exc, STTError) else STTError(f"{type(exc).__name__}: {exc}", session=session)
        self.send(json_frame(ERROR, session, err.to_dict()))

    def handle(self, kind: int, session: int, payload: bytes) -> bool:
        """Serve one message; False when the worker should stop."""
        if kind == SHUTDOWN:
            return False
        if kind == OPEN:
            spec = json.loads(payload)
            try:
                self.streams[session] = StreamPipeline(
                    self.engine.recognizer(), self.engine.sample_rate, int(spec["rate"]),
                    spec.get("encoding", "slin"), self.gate)
            except Exception as exc:
                self.fail(session, exc)
        elif kind == AUDIO:
            pipeline = self.streams.get(session)
            if pipeline is None:         # cancelled or failed: just acknowledge
                self.send(json_frame(RESULTS, session, {"acked": len(payload), "results": []}))
                return True
            try:
                results = pipeline.feed(payload)
            except Exception as exc:
                self.send(json_frame(RESULTS, session, {"acked": len(payload), "results": []}))
                self.fail(session, exc)
                return True
            self.send(json_frame(RESULTS, session, {"acked": len(payload),
                                                    "results": [r.to_dict() for r in results]}))
        elif kind == END:
            pipeline = self.streams.get(session)
            if pipeline is None:
                return True
            try:
                results = pipeline.finish()
            except Exception as exc:
                self.fail(session, exc)
                return True
            self.drop(session)
            self.send(json_frame(RESULTS, session, {"acked": 0, "results": [r.to_dict() for r in results]}))
            self.send(json_frame(DONE, session, {"stats": pipeline.stats().__dict__}))
        elif kind == CANCEL:
            self.drop(session)
        else:
            raise STTProtocolError(f"unknown message kind {kind}", kind=kind)
        return True


def worker_main(sock: socket.socket, factory: EngineFactory, worker_id: int,
                gate: GateConfig | None) -> None:
    """Entry point of a worker process (multiprocessing target)."""
    # Ctrl-C reaches the whole process group; the pool decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock.setblocking(True)
    started = time.monotonic()
    engine = None
    try:
        try:
            engine = factory()
        except Exception as exc:
            err = exc if isinstance(exc, STTError) else STTError(f"{type(exc).__name__}: {exc}")
            sock.sendall(json_frame(FATAL, 0, err.to_dict()))
            return
        worker = _Worker(sock, engine, gate)
        worker.send(json_frame(READY, 0, {
            "pid": os.getpid(), "engine": engine.name,
            "sample_rate": engine.sample_rate, "load_s": round(time.monotonic() - started, 3)}))
        while True:
            message = _recv_frame(sock)
            if message is None or not worker.handle(*message):
                break
    except (BrokenPipeError, ConnectionResetError):
        pass                              # the pool went away: nothing to tell
    finally:
        if engine is not None:
            engine.close()
        sock.close()
