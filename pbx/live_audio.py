"""Live audio of a bridged call, one direction per stream: ChanSpy into a
Local channel whose other half runs an EAGI script (pbx/eagi_audio.py) that
forwards file descriptor 3 to a TCP listener in the controller - or, on an
Asterisk with app_audiosocket (18+), AudioSocket() connecting to the same
listener itself (pbx/audiosocket.py; the stream's random UUID is its key).

    capture = SpyCapture(lambda: ami, server, script, LIVE_SPY)   # server: LiveAudioServer, started
    sources = await capture.open(call_id, {"caller": "PJSIP/trunk-0001", "operator": "PJSIP/seat1001-0002"})
    async for pcm in sources["caller"]: ...          # 8 kHz s16le, as Asterisk sends each frame

`ChanSpy(channel,qoES)`: only the audio coming from that channel (o) - its
party's voice -, quietly (q), until it hangs up (E) or is gone (S). The spy's Local
channel ends with it, the script sees EOF and closes its connection, and
the stream ends. Why this capture: see recordings/live.py.

Each stream has a per-call secret (issue #12 #15): `expect()` makes a random
key, the spy's channel carries it as LIVE_AUDIO_KEY, the EAGI script reads it
with GET VARIABLE (never on its command line, which `ps` shows to every local
user) and sends it in its first line. A connection with a wrong key, for a
stream nobody expects or already connected, or from an address that is not
allowed, is refused, so a local process cannot claim a stream and inject its
own audio into a transcript.
"""
from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
import re
import secrets
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

from pbx import contract as C
from pbx.audiosocket import KIND_ERROR, KIND_HANGUP, KIND_SLIN, KIND_UUID, new_stream_id, read_message, stream_id

log = logging.getLogger("hotline.pbx.live_audio")

REPO = Path(__file__).resolve().parent.parent
_TAG = re.compile(r"[A-Za-z0-9_.:-]{1,80}\|[a-z]{1,16}")
KEY_VARIABLE = C.LIVE_AUDIO_KEY      # the stream's key, read by the EAGI script with GET VARIABLE


def install_script(folder: Path, python: str = sys.executable) -> Path:
    """Write the EAGI launcher into `folder` (the run's agi-bin); its path."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "hotline-live-audio"
    script.write_text(f"#!{python} -S\nimport sys\nsys.path.insert(0, {str(REPO)!r})\n"
                      "from pbx.eagi_audio import main\nraise SystemExit(main())\n")
    script.chmod(0o755)
    return script


class _Stream:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.connected = asyncio.Event()
        self.writer: asyncio.StreamWriter | None = None
        self.key = secrets.token_urlsafe(24)


class LiveAudioServer:
    """Accepts the EAGI scripts' connections: a JSON line {"tag", "rate", "key"}, then raw audio."""

    def __init__(self, host: str = "127.0.0.1", header_timeout_s: float = 5.0,
                 allowed_peers: tuple[str, ...] = ("127.0.0.0/8", "::1")) -> None:
        self.host = host
        self.header_timeout_s = header_timeout_s
        self.allowed_peers = tuple(ipaddress.ip_network(p, strict=False) for p in allowed_peers)
        self.refused = 0
        self.port = 0
        self._streams: dict[str, _Stream] = {}
        self._by_uuid: dict[str, str] = {}          # AudioSocket stream UUID -> tag
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._client, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
        for stream in self._streams.values():
            stream.queue.put_nowait(None)

    def expect(self, tag: str, audiosocket: bool = False) -> str:
        """Get ready for a stream; the key its script must present (`audiosocket`: a random UUID,
        which Asterisk's AudioSocket() presents as the stream's id)."""
        stream = self._streams.setdefault(tag, _Stream())
        if audiosocket:
            stream.key = new_stream_id()
            self._by_uuid[stream.key] = tag
        return stream.key

    def _peer_allowed(self, writer: asyncio.StreamWriter) -> bool:
        peer = writer.get_extra_info("peername")
        try:
            addr = ipaddress.ip_address(peer[0] if isinstance(peer, tuple) else str(peer))
        except ValueError:
            return False
        return any(addr in net for net in self.allowed_peers)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stream = None
        try:
            if not self._peer_allowed(writer):
                self.refused += 1
                log.warning("live audio connection from a peer that is not allowed refused")
                return
            first = await asyncio.wait_for(reader.readexactly(1), self.header_timeout_s)
            if first[0] == KIND_UUID:                  # Asterisk's AudioSocket() (18+), not an EAGI script
                stream = await self._audiosocket(reader, writer, first)
                return
            head = json.loads(first + await asyncio.wait_for(reader.readline(), self.header_timeout_s))
            if not isinstance(head, dict):
                raise ValueError("header is not an object")
            candidate = self._streams.get(str(head.get("tag")))
            key = head.get("key")
            if (candidate is None or candidate.connected.is_set() or not isinstance(key, str)
                    or not hmac.compare_digest(key.encode(), candidate.key.encode())):
                self.refused += 1
                log.warning("live audio connection for an unknown stream or with a wrong key refused")
                return
            stream = candidate
            stream.connected.set()
            stream.writer = writer
            while data := await reader.read(8192):
                stream.queue.put_nowait(data)
        except (TimeoutError, ValueError, ConnectionError, asyncio.IncompleteReadError):
            log.warning("live audio connection without a valid header dropped")
        finally:
            if stream is not None:
                stream.queue.put_nowait(None)
            writer.close()

    async def _audiosocket(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                           first: bytes) -> _Stream | None:
        """An AudioSocket stream: its UUID is its key; then 8 kHz slin frames until hangup."""
        hello = await asyncio.wait_for(read_message(reader, first), self.header_timeout_s)
        tag = self._by_uuid.get(stream_id(hello.payload))
        candidate = self._streams.get(tag) if tag else None
        if candidate is None or candidate.connected.is_set():
            self.refused += 1
            log.warning("live audio (AudioSocket) for an unknown stream refused")
            return None
        self._by_uuid.pop(candidate.key, None)
        candidate.connected.set()
        candidate.writer = writer
        try:
            while True:
                msg = await read_message(reader)
                if msg.kind == KIND_SLIN:
                    candidate.queue.put_nowait(msg.payload)
                elif msg.kind == KIND_HANGUP:
                    break
                elif msg.kind == KIND_ERROR:
                    log.warning("live audio %s: AudioSocket error %s", tag, msg.payload.hex() or "-")
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass                                    # the channel hung up: the socket closed
        return candidate

    async def chunks(self, tag: str, *, connect_timeout_s: float = 8.0,
                     stop: asyncio.Event | None = None, linger_s: float = 3.0) -> AsyncIterator[bytes]:
        """The audio of one stream until its script disconnects (or it never connects, or
        `stop` was set `linger_s` ago and the script is still there)."""
        stream = self._streams.setdefault(tag, _Stream())
        try:
            try:
                await asyncio.wait_for(stream.connected.wait(), connect_timeout_s)
            except TimeoutError:
                log.warning("live audio %s: the spy never connected", tag)
                return
            watcher = None
            if stop is not None:
                async def end_after_stop() -> None:
                    await stop.wait()
                    await asyncio.sleep(linger_s)
                    stream.queue.put_nowait(None)
                watcher = asyncio.ensure_future(end_after_stop())
            try:
                while (data := await stream.queue.get()) is not None:
                    yield data
            finally:
                if watcher is not None:
                    watcher.cancel()
        finally:
            self._streams.pop(tag, None)
            self._by_uuid.pop(stream.key, None)
            if stream.writer is not None:
                stream.writer.close()


CAPTURES = ("eagi", "audiosocket")


class SpyCapture:
    """Starts one ChanSpy + reader pair per direction over AMI. The reader is an EAGI script
    (any Asterisk) or Asterisk's own AudioSocket() connecting to the same listener (18+: no
    process per stream)."""

    def __init__(self, ami: Callable[[], Any], server: LiveAudioServer, script: Path, context: str,
                 method: str = "eagi") -> None:
        if method not in CAPTURES:
            raise ValueError(f"live audio capture {method!r}: one of {', '.join(CAPTURES)}")
        self.ami = ami                   # the AMI client when needed (it connects after wiring)
        self.server, self.script, self.context, self.method = server, script, context, method

    async def open(self, call_id: str, channels: Mapping[str, str],
                   stop: asyncio.Event | None = None) -> dict[str, AsyncIterator[bytes]]:
        """Spy on each party's channel (speaker -> channel name); speaker -> audio chunks."""
        sources = {}
        for speaker, channel in channels.items():
            tag = f"{call_id}|{speaker}"
            if not _TAG.fullmatch(tag):
                raise ValueError(f"live audio: unusable call id or speaker {tag!r}")
            key = self.server.expect(tag, audiosocket=self.method == "audiosocket")
            if self.method == "audiosocket":
                variables = {C.LIVE_SPY_TARGET: channel, KEY_VARIABLE: key,
                             C.LIVE_AUDIO_SERVICE: f"{self.server.host}:{self.server.port}"}
            else:
                variables = {C.LIVE_SPY_TARGET: channel, KEY_VARIABLE: key,
                             C.LIVE_EAGI_ARGS: f"{self.script},{self.server.host},{self.server.port},{tag}"}
            # by context, not Application=EAGI: Asterisk refuses to Originate (E)AGI without the
            # AMI `system` class, which the product's AMI user does not have
            await self.ami().originate(
                f"Local/spy@{self.context}/n", context=self.context, exten=self.method, priority=1,
                variables=variables, timeout_ms=5000)
            sources[speaker] = self.server.chunks(tag, stop=stop)
        return sources
