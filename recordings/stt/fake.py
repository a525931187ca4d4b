"""A scripted speech engine for tests: no model, deterministic results.

Every 0.25 s of loud audio (any sample above `loud`) is one more word
"w1", "w2", ...; 0.5 s of quiet after loud audio ends the utterance. Words
carry exact times, so tests can check how the pipeline maps them to the
stream's clock. Faults are injected by the factory's parameters (crash or
hang after some audio, slow loading, failed loading, CPU cost).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

from recordings.audio import to_samples
from recordings.stt.engine import Final, Partial, Word
from recordings.stt.errors import ModelNotFoundError

_BLOCK = 160          # 10 ms at 16 kHz
_WORD_BLOCKS = 25     # 0.25 s per word
_END_BLOCKS = 50      # 0.5 s of quiet ends an utterance


class ScriptedRecognizer:
    def __init__(self, engine: ScriptedEngine) -> None:
        self._engine = engine
        self._rate = engine.sample_rate
        self._samples = 0
        self._carry = b""
        self._loud_blocks = 0
        self._quiet_run = 0
        self._words: list[Word] = []
        self._word_start: float | None = None
        self._utterance_start = 0.0
        self._counter = 0

    def _t(self, blocks_ago: int = 0) -> float:
        return round((self._samples - blocks_ago * _BLOCK) / self._rate, 3)

    def accept(self, pcm16: bytes) -> Partial | Final | None:
        e = self._engine
        if e.cost_rtf:
            time.sleep(len(pcm16) / 2 / self._rate * e.cost_rtf)
        data = self._carry + pcm16
        whole = len(data) - len(data) % (2 * _BLOCK)
        self._carry = data[whole:]
        final = None
        for i in range(0, whole, 2 * _BLOCK):
            block = to_samples(data[i:i + 2 * _BLOCK])
            self._samples += _BLOCK
            if e.crash_after_s is not None and self._samples / self._rate >= e.crash_after_s:
                os._exit(3)
            if e.hang_after_s is not None and self._samples / self._rate >= e.hang_after_s:
                time.sleep(3600)
            if max(block) > e.loud or -min(block) > e.loud:
                if self._word_start is None:
                    self._word_start = self._t(1)
                self._loud_blocks += 1
                self._quiet_run = 0
                if self._loud_blocks % _WORD_BLOCKS == 0:
                    self._counter += 1
                    self._words.append(Word(f"w{self._counter}", self._word_start, self._t()))
                    self._word_start = None
            else:
                self._quiet_run += 1
                self._word_start = None
                if self._words and self._quiet_run == _END_BLOCKS:
                    final = self.finish()
        if final is not None:
            return final
        if self._words:
            return Partial(" ".join(w.text for w in self._words), self._utterance_start, self._t())
        return None

    def finish(self) -> Final:
        words = tuple(self._words)
        start = words[0].start if words else self._utterance_start
        end = words[-1].end if words else self._t()
        self._words, self._loud_blocks, self._word_start = [], 0, None
        self._utterance_start = self._t()
        return Final(" ".join(w.text for w in words), start, end, words)

    def close(self) -> None:
        pass


class ScriptedEngine:
    name = "scripted"

    def __init__(self, factory: ScriptedEngineFactory) -> None:
        self.sample_rate = factory.sample_rate
        self.loud = factory.loud
        self.cost_rtf = factory.cost_rtf
        self.crash_after_s = factory.crash_after_s
        self.hang_after_s = factory.hang_after_s

    def recognizer(self) -> ScriptedRecognizer:
        return ScriptedRecognizer(self)

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class ScriptedEngineFactory:
    sample_rate: int = 16000
    loud: int = 2000
    cost_rtf: float = 0.0                 # seconds of sleep per second of audio
    crash_after_s: float | None = None    # the worker process exits after this much audio
    hang_after_s: float | None = None     # ... or stops answering
    load_delay_s: float = 0.0
    fail_load: bool = False

    def __call__(self) -> ScriptedEngine:
        if self.load_delay_s:
            time.sleep(self.load_delay_s)
        if self.fail_load:
            raise ModelNotFoundError("/scripted/missing", "does not exist")
        return ScriptedEngine(self)
