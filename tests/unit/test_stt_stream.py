"""StreamPipeline with the scripted engine: decoding, resampling, the silence
gate and the mapping of engine times to the stream's clock."""
from __future__ import annotations

import math
import random
import time

import pytest

from recordings import audio as A
from recordings.stt.engine import Final, Partial, Transcript, result_from_dict
from recordings.stt.fake import ScriptedEngineFactory
from recordings.stt.stream import GateConfig, StreamPipeline


def loud(seconds: float, rate: int = 8000, amp: float = 12000) -> bytes:
    return A.from_samples([round(amp * math.sin(2 * math.pi * 400 * i / rate)) for i in range(int(rate * seconds))])


def quiet(seconds: float, rate: int = 8000) -> bytes:
    return A.silence(seconds, rate)


def run(pcm: bytes, rate: int = 8000, encoding: str = "ulaw", gate: GateConfig | None = GateConfig(),
        step: int = 1600, factory: ScriptedEngineFactory = ScriptedEngineFactory()) -> tuple[list, StreamPipeline]:
    engine = factory()
    pipeline = StreamPipeline(engine.recognizer(), engine.sample_rate, rate, encoding, gate)
    data = A.encode(pcm, encoding)
    results = []
    for i in range(0, len(data), step):
        results += pipeline.feed(data[i:i + step])
    results += pipeline.finish()
    return results, pipeline


def finals(results) -> list[Final]:
    return [r for r in results if isinstance(r, Final) and r.text]


@pytest.mark.parametrize("encoding,rate", [("ulaw", 8000), ("alaw", 8000), ("slin", 8000), ("slin", 16000)])
def test_words_are_timed_on_the_stream_clock(encoding, rate):
    results, _ = run(quiet(0.5, rate) + loud(1.0, rate) + quiet(1.0, rate), rate, encoding)
    [final] = finals(results)
    assert final.text == "w1 w2 w3 w4"
    assert final.start == pytest.approx(0.5, abs=0.02) and final.end == pytest.approx(1.5, abs=0.02)
    assert [round(w.end - w.start, 2) for w in final.words] == [0.25] * 4
    assert isinstance(results[-1], Final)


def test_partials_come_first_in_order_and_grow():
    results, _ = run(quiet(0.3) + loud(1.0) + quiet(1.0))
    kinds = [r.kind for r in results]
    first_final = kinds.index("final")
    partials = [r for r in results[:first_final]]
    assert len(partials) >= 3 and all(isinstance(p, Partial) for p in partials)
    assert [len(p.text.split()) for p in partials] == sorted(len(p.text.split()) for p in partials)
    assert all(a.end <= b.end for a, b in zip(partials, partials[1:]))
    assert len({p.text for p in partials}) == len(partials)          # no repeated partials


def test_gate_skips_long_silence_and_keeps_true_times():
    audio = loud(1.0) + quiet(60.0) + loud(0.5) + quiet(1.0)
    results, pipe = run(audio, step=8000)
    first, second = finals(results)
    assert (first.start, first.end) == (pytest.approx(0.0, abs=0.02), pytest.approx(1.0, abs=0.02))
    assert (second.start, second.end) == (pytest.approx(61.0, abs=0.02), pytest.approx(61.5, abs=0.02))
    stats = pipe.stats()
    assert stats.input_s == pytest.approx(62.5, abs=0.01)
    assert stats.skipped_s > 55 and stats.engine_s < 7
    assert all(a.end <= b.start for a, b in zip(finals(results), finals(results)[1:]))


def test_gate_preroll_keeps_the_onset():
    # After a gated silence, a sound starts too quietly for the gate (about
    # -60 dBFS) but not for the engine: the pre-roll must still carry it.
    sensitive = ScriptedEngineFactory(loud=20)
    onset = loud(0.25, amp=60)
    results, pipe = run(loud(0.5) + quiet(10.0) + onset + loud(0.75) + quiet(1.0), step=160, factory=sensitive)
    second = finals(results)[-1]
    assert second.text.split() == ["w3", "w4", "w5", "w6"]        # the whole 1 s sound
    assert second.start == pytest.approx(10.5, abs=0.02)
    assert pipe.stats().skipped_s > 5


def test_without_gate_the_engine_hears_everything():
    results, pipe = run(loud(0.5) + quiet(20.0) + loud(0.5), gate=None, step=8000)
    assert [f.text for f in finals(results)] == ["w1 w2", "w3 w4"]
    assert finals(results)[1].start == pytest.approx(20.5, abs=0.02)
    assert pipe.stats().skipped_s == 0 and pipe.stats().engine_s == pytest.approx(21.0, abs=0.01)


def test_empty_stream_gives_one_empty_final():
    results, pipe = run(b"")
    assert results == [Final("", 0.0, 0.0)]
    assert pipe.finish() == []                     # finishing twice adds nothing
    with pytest.raises(ValueError):
        pipe.feed(b"\xff")


def test_ten_minutes_of_silence_is_fast_and_empty():
    t = time.perf_counter()
    results, pipe = run(quiet(600.0), step=8000)
    elapsed = time.perf_counter() - t
    assert [r.text for r in results] == [""] and results[0].end == pytest.approx(600.0)
    assert pipe.stats().engine_s <= GateConfig().close_after_s + 0.1
    assert elapsed < 5.0                            # ~1 s here


def test_slin_bytes_may_arrive_split_anywhere():
    pcm = quiet(0.2) + loud(0.5) + quiet(1.0)
    results, _ = run(pcm, encoding="slin", step=3)
    assert [f.text for f in finals(results)] == ["w1 w2"]


def test_clipped_noise_does_not_break_anything():
    rng = random.Random(3)
    noise = A.from_samples(rng.choice((-32768, 32767, rng.randint(-32768, 32767))) for _ in range(8000 * 3))
    results, pipe = run(noise + quiet(1.0))
    assert isinstance(results[-1], Final) and pipe.stats().input_s == pytest.approx(4.0)


def test_results_survive_the_wire_format():
    results, _ = run(quiet(0.2) + loud(0.75) + quiet(1.0))
    assert [result_from_dict(r.to_dict()) for r in results] == results
    t = Transcript(tuple(finals(results)), 1.95, "c1")
    assert t.text == "w1 w2 w3" and t.to_dict()["segments"][0]["words"][0][0] == "w1"
