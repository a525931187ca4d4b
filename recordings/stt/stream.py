"""One audio stream through a recognizer: decode, silence gate, resample,
recognise, and put every time on the stream's own clock. Pure computation
(no I/O), run inside a worker process.

The silence gate saves the engine's CPU on long silences (a caller on hold,
a quiet line): once `close_after_s` has passed without a voiced frame, the
utterance in progress is finished and further silent audio is not sent to
the engine at all; the next voiced frame reopens it, with `preroll_s` of
the audio before it so no onset is lost. Ten minutes of silence then cost
a few seconds of recognition. `close_after_s` is longer than the engine's
own end-of-utterance silence, so utterances normally end by themselves.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from recordings.audio import Resampler, SilenceDetector, bytes_per_sample, decode
from recordings.stt.engine import Final, Partial, Recognizer, Result


@dataclass(frozen=True)
class GateConfig:
    threshold_db: float = -50.0     # frames quieter than this never count as speech
    margin_db: float = 10.0         # ... nor frames within this of the noise floor
    close_after_s: float = 3.0
    preroll_s: float = 0.5
    frame_ms: int = 20


@dataclass(frozen=True)
class PipelineStats:
    input_s: float                  # audio received
    engine_s: float                 # audio the engine actually heard
    skipped_s: float                # silence the gate kept from the engine


class StreamPipeline:
    def __init__(self, recognizer: Recognizer, engine_rate: int, in_rate: int,
                 encoding: str = "slin", gate: GateConfig | None = GateConfig(),
                 chunk_s: float = 0.2) -> None:
        self._rec = recognizer
        self._rec_closed = False
        self._engine_rate = engine_rate
        self.in_rate = in_rate
        self.encoding = encoding
        self._width = bytes_per_sample(encoding)
        self._resampler = Resampler(in_rate, engine_rate)
        self._chunk_bytes = max(2, 2 * int(engine_rate * chunk_s))
        self._gate = gate
        self._vad = (SilenceDetector(in_rate, gate.frame_ms, gate.threshold_db, hang_s=gate.close_after_s,
                                     margin_db=gate.margin_db) if gate else None)
        self._preroll: deque[bytes] = deque(maxlen=max(1, round(gate.preroll_s * 1000 / gate.frame_ms))) if gate else deque()
        self._carry = b""                # encoded bytes short of a whole sample
        self._pending = b""              # decoded PCM short of a whole gate frame
        self._in_samples = 0             # decoded input samples (stream clock)
        self._engine_samples = 0         # samples sent to the engine (engine clock)
        self._open = True
        self._offset = 0.0               # stream time - engine time for the current segment
        self._last_partial = ""
        self._last_end = 0.0
        self._finished = False

    # -- clocks

    @property
    def position(self) -> float:
        return self._in_samples / self.in_rate

    def stats(self) -> PipelineStats:
        engine_s = self._engine_samples / self._engine_rate
        return PipelineStats(round(self.position, 3), round(engine_s, 3), round(max(0.0, self.position - engine_s), 3))

    # -- input

    def feed(self, data: bytes) -> list[Result]:
        if self._finished:
            raise ValueError("pipeline already finished")
        data = self._carry + data
        usable = len(data) - len(data) % self._width
        self._carry = data[usable:]
        pcm = decode(data[:usable], self.encoding)
        if not pcm:
            return []
        vad, gate = self._vad, self._gate
        if vad is None or gate is None:
            self._in_samples += len(pcm) // 2
            return self._to_engine(pcm)
        return self._gated(pcm, vad, gate)

    def finish(self) -> list[Result]:
        """The last results; always ends with a Final (empty when nothing more was said)."""
        if self._finished:
            return []
        self._finished = True
        out: list[Result] = []
        if self._pending:
            self._in_samples += len(self._pending) // 2
            if self._open:
                out += self._to_engine(self._pending)
            self._pending = b""
        if self._open:
            self._close_segment(out)
        if not out or not isinstance(out[-1], Final):
            out.append(Final("", round(self._last_end, 3), round(max(self._last_end, self.position), 3)))
        return out

    def close(self) -> None:
        """Release the recognizer (after finish(), or to abandon the stream)."""
        self._finished = True
        if not self._rec_closed:
            self._rec_closed = True
            self._rec.close()

    # -- gate

    def _gated(self, pcm: bytes, vad: SilenceDetector, gate: GateConfig) -> list[Result]:
        out: list[Result] = []
        data = self._pending + pcm
        n = vad.frame_bytes
        whole = len(data) - len(data) % n
        self._pending = data[whole:]
        run: list[bytes] = []
        for i in range(0, whole, n):
            frame = data[i:i + n]
            voiced, _ = vad.push_frame(frame)
            if self._open:
                run.append(frame)
                self._in_samples += n // 2
                if vad.silence_s >= gate.close_after_s:
                    out += self._to_engine(b"".join(run))
                    run = []
                    self._close_segment(out)
            elif voiced:
                run = list(self._preroll) + [frame]
                self._preroll.clear()
                self._in_samples += n // 2
                self._open_segment(len(b"".join(run)) // 2)
            else:
                self._preroll.append(frame)
                self._in_samples += n // 2
        if run:
            out += self._to_engine(b"".join(run))
        return out

    def _open_segment(self, lead_samples: int) -> None:
        """Reopen: engine time now corresponds to stream time minus the pre-roll."""
        stream_t = (self._in_samples - lead_samples) / self.in_rate
        self._offset = stream_t - self._engine_samples / self._engine_rate
        self._open = True

    def _close_segment(self, out: list[Result]) -> None:
        tail = self._resampler.flush()
        if tail:
            out += self._send(tail)
        final = self._map(self._rec.finish())
        self._open = False
        self._preroll.clear()
        self._last_partial = ""
        if final.text:
            out.append(final)
            self._last_end = final.end

    # -- engine

    def _to_engine(self, pcm: bytes) -> list[Result]:
        return self._send(self._resampler.process(pcm))

    def _send(self, pcm: bytes) -> list[Result]:
        out: list[Result] = []
        step = self._chunk_bytes
        for i in range(0, len(pcm), step):
            chunk = pcm[i:i + step]
            self._engine_samples += len(chunk) // 2
            result = self._rec.accept(chunk)
            if result is None:
                continue
            result = self._map(result)
            if isinstance(result, Final):
                self._last_partial = ""
                if result.text:
                    out.append(result)
                    self._last_end = result.end
            elif result.text != self._last_partial:
                self._last_partial = result.text
                out.append(result)
        return out

    def _map(self, result: Partial | Final) -> Partial | Final:
        mapped = result.shifted(self._offset) if self._offset else result
        # Never report anything as starting before the previous utterance ended.
        if mapped.start < self._last_end:
            if isinstance(mapped, Partial):
                mapped = Partial(mapped.text, round(self._last_end, 3), max(mapped.end, round(self._last_end, 3)))
            else:
                mapped = Final(mapped.text, round(self._last_end, 3), max(mapped.end, round(self._last_end, 3)), mapped.words)
        return mapped
