"""Speech-to-text engine interface, result types, and the vosk engine.

An engine loads a model once and makes streaming recognizers. A recognizer
takes 16-bit mono PCM at the engine's `sample_rate` and answers each chunk
with a Partial (the current hypothesis), a Final (an utterance ended), or
None. Times in a recognizer's results are seconds of the audio it has
accepted; `StreamPipeline` (stream.py) maps them to the caller's stream.

A second engine is added by writing a class with `name`, `sample_rate`,
`recognizer()` and `close()`, and a picklable factory for it; callers of
the pool do not change.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, Union

from recordings.stt.errors import ModelLoadError, ModelNotFoundError, STTError  # noqa: F401 (re-exported)
from recordings.stt.models import check_model_dir, model_sample_rate


@dataclass(frozen=True)
class Word:
    text: str
    start: float
    end: float
    conf: float = 1.0

    def shifted(self, offset: float) -> Word:
        return Word(self.text, round(self.start + offset, 3), round(self.end + offset, 3), self.conf)


@dataclass(frozen=True)
class Partial:
    """The hypothesis for the utterance in progress (may still change)."""

    kind: ClassVar[str] = "partial"
    text: str
    start: float          # where the utterance began (seconds)
    end: float            # how far the audio has been heard

    def shifted(self, offset: float) -> Partial:
        return Partial(self.text, round(self.start + offset, 3), round(self.end + offset, 3))

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "text": self.text, "start": self.start, "end": self.end}


@dataclass(frozen=True)
class Final:
    """A finished utterance; `text` is empty when nothing was recognised."""

    kind: ClassVar[str] = "final"
    text: str
    start: float
    end: float
    words: tuple[Word, ...] = ()

    def shifted(self, offset: float) -> Final:
        return Final(self.text, round(self.start + offset, 3), round(self.end + offset, 3),
                     tuple(w.shifted(offset) for w in self.words))

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "text": self.text, "start": self.start, "end": self.end,
                "words": [[w.text, w.start, w.end, w.conf] for w in self.words]}


Result = Union[Partial, Final]


def result_from_dict(data: dict[str, Any]) -> Result:
    if data.get("type") == "partial":
        return Partial(data["text"], data["start"], data["end"])
    return Final(data["text"], data["start"], data["end"],
                 tuple(Word(t, s, e, c) for t, s, e, c in data.get("words", ())))


@dataclass(frozen=True)
class Transcript:
    """All finished utterances of a stream, in order."""

    finals: tuple[Final, ...]
    duration: float                       # seconds of audio in the stream
    call_id: str = ""
    stats: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def text(self) -> str:
        return " ".join(f.text for f in self.finals if f.text)

    def to_dict(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "text": self.text, "duration": round(self.duration, 3),
                "segments": [f.to_dict() for f in self.finals if f.text], "stats": self.stats}


class Recognizer(Protocol):
    """One stream's recognition state (not thread-safe, not shared)."""

    def accept(self, pcm16: bytes) -> Partial | Final | None:
        """Take more audio; a Final when an utterance ended in it."""

    def finish(self) -> Final:
        """End the current utterance and return it (possibly empty). The
        recognizer stays usable: later audio starts a new utterance and its
        times continue from the audio accepted so far."""

    def close(self) -> None:
        """The stream is over; the engine may reuse the recognizer."""


class SpeechEngine(Protocol):
    name: str
    sample_rate: int

    def recognizer(self) -> Recognizer: ...

    def close(self) -> None: ...


EngineFactory = Callable[[], SpeechEngine]
"""Builds an engine inside a worker process; must be picklable."""


# ---------------------------------------------------------------- vosk

class _KaldiSlot:
    """A vosk KaldiRecognizer and how much audio it has heard in its life."""

    def __init__(self, model: Any, sample_rate: int) -> None:
        import vosk

        self.rec = vosk.KaldiRecognizer(model, float(sample_rate))
        self.rec.SetWords(True)
        self.samples = 0
        self.finalized = True


class VoskRecognizer:
    """One stream on a (possibly reused) KaldiRecognizer.

    vosk reports word times counted from the first audio the KaldiRecognizer
    ever heard, across FinalResult() calls; `_base` removes what earlier
    streams on the same KaldiRecognizer contributed."""

    def __init__(self, engine: VoskEngine, slot: _KaldiSlot) -> None:
        self._engine = engine
        self._slot: _KaldiSlot | None = slot
        self._rate = engine.sample_rate
        self._base = slot.samples / self._rate
        self._samples = 0
        self._utterance_start = 0.0

    @property
    def position(self) -> float:
        return self._samples / self._rate

    def accept(self, pcm16: bytes) -> Partial | Final | None:
        if not pcm16:
            return None
        slot = self._live_slot()
        n = len(pcm16) // 2
        self._samples += n
        slot.samples += n
        slot.finalized = False
        if slot.rec.AcceptWaveform(pcm16):
            return self._final(slot.rec.Result())
        text = json.loads(slot.rec.PartialResult()).get("partial", "")
        return Partial(text, round(self._utterance_start, 3), round(self.position, 3)) if text else None

    def finish(self) -> Final:
        slot = self._live_slot()
        final = self._final(slot.rec.FinalResult())
        slot.finalized = True
        return final

    def _live_slot(self) -> _KaldiSlot:
        if self._slot is None:           # given back: another stream may be using it now
            raise STTError("the recognizer is closed")
        return self._slot

    def close(self) -> None:
        """Give the KaldiRecognizer back to the engine for another stream."""
        slot, self._slot = self._slot, None
        if slot is not None:
            if not slot.finalized:
                slot.rec.FinalResult()       # a new stream must start from a fresh decoder
                slot.finalized = True
            self._engine._release(slot)

    def _final(self, raw: str) -> Final:
        data = json.loads(raw)
        base = self._base
        words = tuple(Word(w["word"], round(max(0.0, float(w["start"]) - base), 3),
                           round(max(0.0, float(w["end"]) - base), 3),
                           round(float(w.get("conf", 1.0)), 3)) for w in data.get("result", ()))
        text = data.get("text", "") or " ".join(w.text for w in words)
        start = words[0].start if words else self._utterance_start
        end = words[-1].end if words else self.position
        self._utterance_start = self.position
        return Final(text, round(start, 3), round(max(start, end), 3), words)


class VoskEngine:
    """A loaded vosk model. Construct it once per process (it is big).

    Recognizers are reused: vosk composes its decoding graph lazily per
    KaldiRecognizer, and a fresh one spends several seconds of CPU warming
    that cache in its first minute of speech (measured: 6.0 s of CPU for
    10 s of audio fresh, 1.6 s reused). After FinalResult() a reused one
    starts with a fresh decoder and feature pipeline, so nothing of the
    previous caller carries over but the graph cache. A KaldiRecognizer is
    retired after `retire_after_s` of audio, because vosk's times are
    single-precision floats counted over its whole life.
    """

    name = "vosk"

    def __init__(self, model_path: str | Path, *, log_level: int = -1, max_idle: int = 8,
                 retire_after_s: float = 4 * 3600.0) -> None:
        path = check_model_dir(model_path)
        import vosk

        vosk.SetLogLevel(log_level)          # vosk/Kaldi logs to stderr otherwise
        try:
            self._model = vosk.Model(str(path))
        except Exception as exc:             # vosk raises a bare Exception
            raise ModelLoadError(f"vosk could not load the model at {path}: {exc}", path=str(path)) from exc
        self.model_path = path
        self.sample_rate = model_sample_rate(path)
        self._idle: list[_KaldiSlot] = []
        self._max_idle = max_idle
        self._retire_samples = int(retire_after_s * self.sample_rate)

    def recognizer(self) -> VoskRecognizer:
        slot = self._idle.pop() if self._idle else _KaldiSlot(self._model, self.sample_rate)
        return VoskRecognizer(self, slot)

    def _release(self, slot: _KaldiSlot) -> None:
        if len(self._idle) < self._max_idle and slot.samples < self._retire_samples:
            self._idle.append(slot)

    def close(self) -> None:
        self._idle.clear()
        self._model = None


@dataclass(frozen=True)
class VoskEngineFactory:
    """Picklable recipe for a VoskEngine, for worker processes."""

    model_path: str

    def check(self) -> None:
        """Fail fast in the parent when the path is not a model."""
        check_model_dir(self.model_path)

    def __call__(self) -> VoskEngine:
        return VoskEngine(self.model_path)

    def describe(self) -> dict[str, Any]:
        return {"engine": "vosk", "model": self.model_path}
