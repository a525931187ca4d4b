"""Telephone audio helpers, pure Python (no numpy, no audioop).

- G.711 μ-law and A-law <-> 16-bit linear PCM, table based;
- a streaming polyphase resampler (Kaiser-windowed sinc) for any rate pair,
  e.g. 8 kHz from Asterisk to the 16 kHz a speech model wants;
- WAV reading of any common format into mono 16-bit PCM (see `wavfile`);
- frame energy and a live `SilenceDetector` with an adaptive noise floor.

PCM here is always signed 16-bit little-endian ("slin" in Asterisk terms),
passed around as `bytes`.
"""
from __future__ import annotations

import math
import operator
import sys
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import repeat
from typing import Literal

from kernel.errors import HotlineError

ENCODINGS = ("slin", "ulaw", "alaw")
_BIG_ENDIAN = sys.byteorder == "big"


class AudioFormatError(HotlineError, ValueError):
    """Audio that cannot be read or converted; `details` says what and where."""

    error_id = "audio_format"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.details = details


# ---------------------------------------------------------------- samples

def to_samples(pcm16: bytes) -> array[int]:
    """s16le bytes -> array('h'); a trailing odd byte is an error."""
    if len(pcm16) % 2:
        raise AudioFormatError("16-bit PCM has an odd number of bytes", length=len(pcm16))
    samples = array("h")
    samples.frombytes(pcm16)
    if _BIG_ENDIAN:
        samples.byteswap()
    return samples


def from_samples(samples: Iterable[int]) -> bytes:
    """Integers already in the 16-bit range -> s16le bytes."""
    out = samples if isinstance(samples, array) and samples.typecode == "h" else array("h", samples)
    if _BIG_ENDIAN:
        out = array("h", out)
        out.byteswap()
    return out.tobytes()


def _interleave(lo: bytes, hi: bytes) -> bytes:
    out = bytearray(2 * len(lo))
    out[0::2] = lo
    out[1::2] = hi
    return bytes(out)


# ---------------------------------------------------------------- G.711

def _ulaw_to_linear(code: int) -> int:
    u = ~code & 0xFF
    exponent = (u >> 4) & 0x07
    magnitude = (((u & 0x0F) << 3) + 0x84) << exponent
    return 0x84 - magnitude if u & 0x80 else magnitude - 0x84


def _linear_to_ulaw(sample: int) -> int:
    # On the 14-bit scale with bias 33, as the classic reference encoder
    # (and CPython's audioop) quantise: arithmetic shift, then magnitude.
    value = sample >> 2
    if value < 0:
        mask, value = 0x7F, -value
    else:
        mask = 0xFF
    value = min(value, 8159) + 33
    segment = max(0, value.bit_length() - 6)
    if segment >= 8:
        return 0x7F ^ mask
    return ((segment << 4) | ((value >> (segment + 1)) & 0x0F)) ^ mask


def _alaw_to_linear(code: int) -> int:
    a = code ^ 0x55
    segment = (a >> 4) & 0x07
    value = ((a & 0x0F) << 4) + 8
    if segment:
        value = (value + 0x100) << (segment - 1)
    return value if a & 0x80 else -value


def _linear_to_alaw(sample: int) -> int:
    value = sample >> 3                       # 13-bit range
    if value >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        value = -value - 1
    segment = max(0, value.bit_length() - 5)  # 0..8
    if segment >= 8:
        return 0x7F ^ mask
    shift = 1 if segment < 2 else segment
    return ((segment << 4) | ((value >> shift) & 0x0F)) ^ mask


def _decode_tables(to_linear: Callable[[int], int]) -> tuple[bytes, bytes]:
    values = [to_linear(code) & 0xFFFF for code in range(256)]
    return bytes(v & 0xFF for v in values), bytes(v >> 8 for v in values)


def _encode_table(to_code: Callable[[int], int]) -> bytes:
    # Indexed by the sample as an unsigned 16-bit value.
    return bytes(to_code(i - 65536 if i >= 32768 else i) for i in range(65536))


_ULAW_LO, _ULAW_HI = _decode_tables(_ulaw_to_linear)
_ALAW_LO, _ALAW_HI = _decode_tables(_alaw_to_linear)
_ULAW_ENC = _encode_table(_linear_to_ulaw)
_ALAW_ENC = _encode_table(_linear_to_alaw)


def _encode(pcm16: bytes, table: bytes) -> bytes:
    if len(pcm16) % 2:
        raise AudioFormatError("16-bit PCM has an odd number of bytes", length=len(pcm16))
    unsigned = array("H")
    unsigned.frombytes(pcm16)
    if _BIG_ENDIAN:
        unsigned.byteswap()
    return bytes(map(table.__getitem__, unsigned))


def ulaw_decode(data: bytes) -> bytes:
    """μ-law bytes -> s16le PCM (two bytes out per byte in)."""
    return _interleave(data.translate(_ULAW_LO), data.translate(_ULAW_HI))


def ulaw_encode(pcm16: bytes) -> bytes:
    """s16le PCM -> μ-law bytes."""
    return _encode(pcm16, _ULAW_ENC)


def alaw_decode(data: bytes) -> bytes:
    """A-law bytes -> s16le PCM."""
    return _interleave(data.translate(_ALAW_LO), data.translate(_ALAW_HI))


def alaw_encode(pcm16: bytes) -> bytes:
    """s16le PCM -> A-law bytes."""
    return _encode(pcm16, _ALAW_ENC)


def bytes_per_sample(encoding: str) -> int:
    if encoding not in ENCODINGS:
        raise AudioFormatError(f"unknown audio encoding {encoding!r}", encoding=encoding,
                               known=list(ENCODINGS))
    return 2 if encoding == "slin" else 1


def decode(data: bytes, encoding: str) -> bytes:
    """Bytes in `encoding` ("slin", "ulaw", "alaw") -> s16le PCM."""
    bytes_per_sample(encoding)
    if encoding == "ulaw":
        return ulaw_decode(data)
    if encoding == "alaw":
        return alaw_decode(data)
    return bytes(data)


def encode(pcm16: bytes, encoding: str) -> bytes:
    """s16le PCM -> bytes in `encoding`."""
    bytes_per_sample(encoding)
    if encoding == "ulaw":
        return ulaw_encode(pcm16)
    if encoding == "alaw":
        return alaw_encode(pcm16)
    return bytes(pcm16)


# ---------------------------------------------------------------- resampling

def _bessel_i0(x: float) -> float:
    total, term, k = 1.0, 1.0, 1
    while term > 1e-12 * total:
        term *= (x / (2 * k)) ** 2
        total += term
        k += 1
    return total


class Resampler:
    """Streaming rational resampler for 16-bit mono PCM.

    Output sample j is the band-limited value of the input at time
    j * in_rate / out_rate (no delay offset): a Kaiser-windowed sinc over
    `zero_crossings` input periods each side, scaled for downsampling so the
    cut-off sits below the lower Nyquist frequency. `process` returns what
    can be computed so far; `flush` pads with silence and returns the rest,
    so n input samples give exactly ceil(n * out / in) output samples.
    """

    def __init__(self, in_rate: int, out_rate: int, zero_crossings: int = 8, beta: float = 6.0) -> None:
        if in_rate <= 0 or out_rate <= 0:
            raise AudioFormatError("sample rates must be positive", in_rate=in_rate, out_rate=out_rate)
        self.in_rate, self.out_rate = in_rate, out_rate
        ratio = Fraction(out_rate, in_rate)
        self._up, self._down = ratio.numerator, ratio.denominator
        self.identity = in_rate == out_rate
        # Upsampling keeps the input band whole (cut-off at its Nyquist: the
        # phase at integer times is then the sample itself); downsampling
        # cuts a little below the output Nyquist against aliasing.
        scale = 1.0 if out_rate >= in_rate else 0.95 * out_rate / in_rate
        self._half = max(1, math.ceil(zero_crossings / scale))
        self._phases = [self._taps(p / self._up, scale, beta) for p in range(self._up)]
        self._reset()

    def _taps(self, frac: float, scale: float, beta: float) -> tuple[float, ...] | int:
        half = self._half
        taps = []
        for k in range(2 * half):
            d = frac + half - 1 - k            # distance from the tap to the output time
            u = d / half
            if abs(u) >= 1.0:
                taps.append(0.0)
                continue
            x = scale * d
            sinc = 1.0 if x == 0 else math.sin(math.pi * x) / (math.pi * x)
            taps.append(scale * sinc * _bessel_i0(beta * math.sqrt(1 - u * u)) / _bessel_i0(beta))
        total = sum(taps)
        taps = [t / total for t in taps]
        big = [k for k, t in enumerate(taps) if abs(t) > 1e-9]
        if len(big) == 1 and abs(taps[big[0]] - 1.0) < 1e-9:
            return big[0]                      # this phase is a plain copy of one input sample
        return tuple(taps)

    def _reset(self) -> None:
        self._buf: list[int] = [0] * (self._half - 1)
        self._buf_start = -(self._half - 1)    # absolute input index of _buf[0]
        self._n_in = 0                         # real input samples so far
        self._j = 0                            # next output index

    def _emit(self, limit_in: int) -> list[int]:
        """Outputs whose whole window lies below absolute input index limit_in."""
        up, down, half, buf, start, phases = self._up, self._down, self._half, self._buf, self._buf_start, self._phases
        out: list[int] = []
        append = out.append
        mul = operator.mul
        j = self._j
        while True:
            jm = j * down
            base = jm // up
            if base + half >= limit_in:
                break
            i = base - half + 1 - start
            taps = phases[jm - base * up]
            if taps.__class__ is int:
                append(buf[i + taps])
            else:
                # a tuple here; `__class__ is int` (faster than isinstance in this loop) does not narrow for mypy
                v = round(sum(map(mul, taps, buf[i:i + 2 * half])))  # type: ignore[arg-type]
                append(32767 if v > 32767 else -32768 if v < -32768 else v)
            j += 1
        self._j = j
        # Drop input no later output can need.
        keep_from = (j * down) // up - half + 1 - start
        if keep_from > 0:
            del buf[:keep_from]
            self._buf_start += keep_from
        return out

    def process(self, pcm16: bytes) -> bytes:
        if self.identity:
            return bytes(pcm16)
        samples = to_samples(pcm16)
        self._buf.extend(samples)
        self._n_in += len(samples)
        return from_samples(self._emit(self._buf_start + len(self._buf)))

    def flush(self) -> bytes:
        """The remaining output (input padded with silence); then a fresh state."""
        if self.identity:
            return b""
        total_out = -(-self._n_in * self._up // self._down)
        self._buf.extend([0] * (2 * self._half + 1))
        out = self._emit(self._buf_start + len(self._buf))
        emitted_before = self._j - len(out)
        out = out[: max(0, total_out - emitted_before)]
        self._reset()
        return from_samples(out)


def resample(pcm16: bytes, in_rate: int, out_rate: int) -> bytes:
    """One-shot resampling of a whole s16le buffer."""
    r = Resampler(in_rate, out_rate)
    return r.process(pcm16) + r.flush()


# ---------------------------------------------------------------- levels

SILENCE_DB = -100.0
_FULL_SCALE_SQ = 32768.0 * 32768.0


def rms_dbfs(pcm16: bytes) -> float:
    """RMS level in dB relative to full scale; SILENCE_DB for digital silence."""
    samples = to_samples(pcm16)
    return _level(samples)


def _level(samples: Sequence[int]) -> float:
    if not len(samples):
        return SILENCE_DB
    energy = sum(map(operator.mul, samples, samples)) / len(samples)
    if energy <= 0:
        return SILENCE_DB
    return max(SILENCE_DB, 10.0 * math.log10(energy / _FULL_SCALE_SQ))


def frame_levels(pcm16: bytes, rate: int, frame_ms: int = 20) -> list[float]:
    """dBFS of each whole frame of `frame_ms`."""
    samples = to_samples(pcm16)
    n = rate * frame_ms // 1000
    return [_level(samples[i:i + n]) for i in range(0, len(samples) - n + 1, n)]


@dataclass(frozen=True)
class VadEvent:
    """`speech`: speech began at `at` seconds. `silence`: speech ended at `at`
    and nothing louder followed for the detector's hang time (known at
    `detected_at`)."""

    kind: Literal["speech", "silence"]
    at: float
    detected_at: float


class SilenceDetector:
    """Speech/silence on a live 16-bit PCM stream, frame by frame.

    A frame is voiced when its level is above both `threshold_db` (absolute,
    dBFS) and the tracked noise floor plus `margin_db`. The floor follows
    quieter frames at once and rises by at most `floor_rise_db_per_s`, so a
    steady background (a street, a fan) stops counting as speech after a few
    seconds. Speech starts after `min_speech_ms` of consecutive voiced
    frames; it ends after `hang_s` without a voiced frame.
    """

    def __init__(self, rate: int = 8000, frame_ms: int = 20, threshold_db: float = -40.0,
                 hang_s: float = 1.0, *, margin_db: float = 12.0, min_speech_ms: int = 60,
                 floor_rise_db_per_s: float = 2.0) -> None:
        if rate <= 0 or frame_ms <= 0:
            raise AudioFormatError("rate and frame length must be positive", rate=rate, frame_ms=frame_ms)
        self.rate, self.frame_ms = rate, frame_ms
        self.threshold_db, self.margin_db, self.hang_s = threshold_db, margin_db, hang_s
        self.frame_samples = max(1, rate * frame_ms // 1000)
        self.frame_bytes = 2 * self.frame_samples
        self._frame_s = self.frame_samples / rate
        self._min_speech_frames = max(1, math.ceil(min_speech_ms / 1000 / self._frame_s))
        self._rise = floor_rise_db_per_s * self._frame_s
        self.floor_db = threshold_db - margin_db
        self._pending = b""
        self._frames = 0              # whole frames seen
        self._voiced_run = 0
        self._last_voiced_end = 0.0   # end time of the last voiced frame
        self.in_speech = False
        self.heard_speech = False

    @property
    def position(self) -> float:
        """Seconds of audio classified so far (whole frames)."""
        return self._frames * self._frame_s

    @property
    def silence_s(self) -> float:
        """How long the current stretch without voiced frames has lasted."""
        return self.position - self._last_voiced_end if self._voiced_run == 0 else 0.0

    def push_frame(self, frame: bytes) -> tuple[bool, VadEvent | None]:
        """Classify one whole frame: (voiced, event or None)."""
        level = _level(to_samples(frame))
        self.floor_db = min(level, self.floor_db + self._rise)
        voiced = level > self.threshold_db and level > self.floor_db + self.margin_db
        self._frames += 1
        now = self.position
        event = None
        if voiced:
            self._voiced_run += 1
            self._last_voiced_end = now
            if not self.in_speech and self._voiced_run >= self._min_speech_frames:
                self.in_speech = self.heard_speech = True
                start = now - self._voiced_run * self._frame_s
                event = VadEvent("speech", round(start, 6), round(now, 6))
        else:
            self._voiced_run = 0
            if self.in_speech and now - self._last_voiced_end >= self.hang_s:
                self.in_speech = False
                event = VadEvent("silence", round(self._last_voiced_end, 6), round(now, 6))
        return voiced, event

    def feed(self, pcm16: bytes) -> list[VadEvent]:
        """Classify as many whole frames as `pcm16` (plus leftovers) gives."""
        data = self._pending + pcm16
        n = self.frame_bytes
        whole = len(data) - len(data) % n
        events = [e for i in range(0, whole, n) if (e := self.push_frame(data[i:i + n])[1])]
        self._pending = data[whole:]
        return events


def silence(seconds: float, rate: int) -> bytes:
    """Digital silence as s16le PCM."""
    return bytes(2 * round(seconds * rate))


def scale(pcm16: bytes, gain: float) -> bytes:
    """Multiply every sample by `gain`, clipping to 16 bits."""
    def clip(v: float) -> int:
        v = round(v)
        return 32767 if v > 32767 else -32768 if v < -32768 else v
    return from_samples(list(map(clip, map(operator.mul, to_samples(pcm16), repeat(gain)))))
