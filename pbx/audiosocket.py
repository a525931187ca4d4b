"""The AudioSocket wire format (Asterisk 18+ `app_audiosocket`): what a live-audio
stream looks like when Asterisk itself connects to the controller, instead of an
EAGI script started per stream.

Every message is a 3-byte header - one byte of kind, two bytes of payload length
(big-endian) - and the payload. Asterisk opens with KIND_UUID (the stream's 16-byte
UUID, given as the application's first argument), then sends KIND_SLIN frames: 16-bit
little-endian signed linear PCM at 8 kHz, mono, one frame per 20 ms; KIND_HANGUP or
the socket's close ends the stream, KIND_ERROR carries an error code.

Pure framing; the listener that uses it is pbx/live_audio.py.
"""
from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

KIND_HANGUP = 0x00
KIND_UUID = 0x01
KIND_DTMF = 0x03
KIND_SLIN = 0x10        # 8 kHz; newer Asterisks add 0x11.. for higher rates (not asked for here)
KIND_ERROR = 0xFF
HEADER = 3
MAX_PAYLOAD = 0xFFFF


class AudioSocketError(ValueError):
    """The peer does not speak AudioSocket (or broke the framing)."""


@dataclass(frozen=True)
class Message:
    kind: int
    payload: bytes


def encode(kind: int, payload: bytes = b"") -> bytes:
    if not 0 <= kind <= 0xFF or len(payload) > MAX_PAYLOAD:
        raise AudioSocketError(f"cannot frame kind {kind} with {len(payload)} bytes")
    return bytes((kind,)) + len(payload).to_bytes(2, "big") + payload


def parse_header(header: bytes) -> tuple[int, int]:
    """(kind, payload length) of a 3-byte header."""
    if len(header) != HEADER:
        raise AudioSocketError("short AudioSocket header")
    return header[0], int.from_bytes(header[1:3], "big")


def stream_id(payload: bytes) -> str:
    """The canonical text form of the UUID in a KIND_UUID payload."""
    if len(payload) != 16:
        raise AudioSocketError(f"an AudioSocket UUID is 16 bytes, not {len(payload)}")
    return str(uuid.UUID(bytes=payload))


def new_stream_id() -> str:
    """A random stream UUID: also the stream's secret (122 random bits), handed to Asterisk
    as AudioSocket()'s first argument through a channel variable."""
    return str(uuid.uuid4())


async def read_message(reader: asyncio.StreamReader, first: bytes = b"") -> Message:
    """One message; `first` holds header bytes already read (protocol sniffing)."""
    header = first + await reader.readexactly(HEADER - len(first))
    kind, length = parse_header(header)
    return Message(kind, await reader.readexactly(length) if length else b"")
