"""WAV files in, mono 16-bit PCM out (and back), without the `wave` module's
limits: integer PCM of 8/16/24/32 bits, 32/64-bit float, μ-law and A-law,
WAVE_FORMAT_EXTENSIBLE, any channel count and any rate. A data chunk whose
size is 0 or runs past the end (a recording still being written) is read
to the end of the file.
"""
from __future__ import annotations

import operator
import struct
from array import array
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path

from recordings.audio import (
    AudioFormatError,
    Resampler,
    alaw_decode,
    encode,
    from_samples,
    to_samples,
    ulaw_decode,
)

_PCM, _FLOAT, _ALAW, _ULAW, _EXTENSIBLE = 0x0001, 0x0003, 0x0006, 0x0007, 0xFFFE
_FORMAT_NAMES = {_PCM: "pcm", _FLOAT: "float", _ALAW: "alaw", _ULAW: "ulaw"}
_U8_TO_S8 = bytes((b - 128) & 0xFF for b in range(256))


@dataclass(frozen=True)
class WavInfo:
    rate: int
    channels: int
    bits: int
    format: str          # "pcm", "float", "ulaw", "alaw"
    frames: int

    @property
    def duration(self) -> float:
        return self.frames / self.rate if self.rate else 0.0


def _chunks(data: bytes, path: str):
    pos = 12
    while pos + 8 <= len(data):
        cid, size = struct.unpack_from("<4sI", data, pos)
        body = pos + 8
        if cid == b"data" and (size == 0 or body + size > len(data)):
            size = len(data) - body          # unfinished or streamed recording
        yield cid, data[body:body + size]
        pos = body + size + (size & 1)


def _parse(data: bytes, path: str) -> tuple[WavInfo, bytes]:
    if len(data) < 12 or data[:4] not in (b"RIFF", b"RIFX") or data[8:12] != b"WAVE":
        raise AudioFormatError(f"{path}: not a WAV file", path=path)
    if data[:4] == b"RIFX":
        raise AudioFormatError(f"{path}: big-endian WAV (RIFX) is not supported", path=path)
    fmt = body = None
    for cid, chunk in _chunks(data, path):
        if cid == b"fmt " and fmt is None:
            fmt = chunk
        elif cid == b"data" and body is None:
            body = chunk
    if fmt is None or len(fmt) < 16:
        raise AudioFormatError(f"{path}: WAV without a valid fmt chunk", path=path)
    if body is None:
        raise AudioFormatError(f"{path}: WAV without a data chunk", path=path)
    tag, channels, rate, _, block_align, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == _EXTENSIBLE:
        if len(fmt) < 40:
            raise AudioFormatError(f"{path}: truncated extensible fmt chunk", path=path)
        tag = struct.unpack_from("<H", fmt, 24)[0]
    name = _FORMAT_NAMES.get(tag)
    if name is None:
        raise AudioFormatError(f"{path}: unsupported WAV format tag 0x{tag:04x}", path=path, tag=tag)
    if channels < 1 or rate < 1:
        raise AudioFormatError(f"{path}: bad channel count or rate", path=path, channels=channels, rate=rate)
    width = {"pcm": bits // 8, "float": bits // 8, "ulaw": 1, "alaw": 1}[name]
    if (name == "pcm" and bits not in (8, 16, 24, 32)) or (name == "float" and bits not in (32, 64)):
        raise AudioFormatError(f"{path}: unsupported {bits}-bit {name}", path=path, bits=bits)
    frame = max(block_align, width * channels)
    usable = len(body) - len(body) % frame
    return WavInfo(rate, channels, bits, name, usable // frame), body[:usable]


def _to_pcm16(info: WavInfo, body: bytes) -> bytes:
    """Interleaved samples of any supported format -> interleaved s16le."""
    if info.format == "ulaw":
        return ulaw_decode(body)
    if info.format == "alaw":
        return alaw_decode(body)
    if info.format == "float":
        values = array("f" if info.bits == 32 else "d")
        values.frombytes(body)
        if values.itemsize * 8 != info.bits:
            raise AudioFormatError("platform float size mismatch", bits=info.bits)

        def clip(v: float) -> int:
            v = round(v * 32767.0) if v == v else 0
            return 32767 if v > 32767 else -32768 if v < -32768 else v
        return from_samples(list(map(clip, values)))
    width = info.bits // 8
    if width == 1:                          # unsigned 8-bit: the value is the high byte
        return _pair(bytes(len(body)), body.translate(_U8_TO_S8))
    if width == 2:
        return body
    # 24 and 32 bits: keep the two most significant bytes.
    return _pair(body[width - 2::width], body[width - 1::width])


def _pair(lo: bytes, hi: bytes) -> bytes:
    out = bytearray(2 * len(lo))
    out[0::2] = lo
    out[1::2] = hi
    return bytes(out)


def mix_to_mono(pcm16: bytes, channels: int) -> bytes:
    """Average interleaved channels into one."""
    if channels == 1:
        return pcm16
    samples = to_samples(pcm16)
    total = list(map(sum, zip(*(samples[c::channels] for c in range(channels)))))
    return from_samples(list(map(operator.floordiv, total, repeat(channels))))


def read_wav(path: str | Path) -> tuple[bytes, WavInfo]:
    """A WAV file as mono s16le PCM at its own rate, with what it was."""
    p = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise AudioFormatError(f"{p}: {exc.strerror or exc}", path=p) from exc
    info, body = _parse(data, p)
    return mix_to_mono(_to_pcm16(info, body), info.channels), info


def load_wav(path: str | Path, rate: int = 16000) -> bytes:
    """A WAV file as mono s16le PCM resampled to `rate` (16 kHz by default)."""
    pcm, info = read_wav(path)
    if info.rate == rate:
        return pcm
    r = Resampler(info.rate, rate)
    return r.process(pcm) + r.flush()


def wav_bytes(pcm16: bytes, rate: int, encoding: str = "slin") -> bytes:
    """A mono WAV file's bytes: 16-bit PCM, or G.711 μ-law/A-law."""
    body = encode(pcm16, encoding)
    tag, bits = {"slin": (_PCM, 16), "ulaw": (_ULAW, 8), "alaw": (_ALAW, 8)}[encoding]
    width = bits // 8
    fmt = struct.pack("<HHIIHH", tag, 1, rate, rate * width, width, bits)
    if tag != _PCM:
        fmt += struct.pack("<H", 0)
    pad = b"\0" if len(body) & 1 else b""
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(body)) + body + pad
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def write_wav(path: str | Path, pcm16: bytes, rate: int, encoding: str = "slin") -> Path:
    p = Path(path)
    p.write_bytes(wav_bytes(pcm16, rate, encoding))
    return p

