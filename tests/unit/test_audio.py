"""Telephone audio helpers: G.711 codecs, resampling, WAV reading, silence detection."""
from __future__ import annotations

import math
import random
import shutil
import struct
import subprocess
import time
import warnings

import pytest

from recordings import audio as A
from recordings.wavfile import load_wav, mix_to_mono, read_wav, wav_bytes, write_wav

SOX = shutil.which("sox")
ALL_CODES = bytes(range(256))
EVERY_SAMPLE = A.from_samples(range(-32768, 32768))


def tone(freq: float, rate: int, seconds: float, amp: float = 10000.0) -> bytes:
    return A.from_samples([round(amp * math.sin(2 * math.pi * freq * i / rate)) for i in range(int(rate * seconds))])


def amplitude(pcm: bytes, rate: int, freq: float) -> float:
    """Amplitude of one frequency (Goertzel), edges trimmed."""
    x = A.to_samples(pcm)[rate // 10:-rate // 10]
    w = 2 * math.pi * freq / rate
    c, s1, s2 = 2 * math.cos(w), 0.0, 0.0
    for v in x:
        s1, s2 = v + c * s1 - s2, s1
    return 2 * math.sqrt(max(0.0, s1 * s1 + s2 * s2 - c * s1 * s2)) / len(x)


def audioop_or_skip():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import audioop
        except ImportError:
            pytest.skip("audioop is gone from this Python (removed in 3.13)")
    return audioop


# ---------------------------------------------------------------- G.711

def test_ulaw_known_values_and_round_trip():
    assert A.to_samples(A.ulaw_decode(b"\xff\x7f\x00\x80")).tolist() == [0, 0, -32124, 32124]
    back = A.ulaw_encode(A.ulaw_decode(ALL_CODES))
    # 0x7F is "negative zero": it decodes to 0, which encodes as 0xFF.
    assert [c for c in range(256) if back[c] != c] == [0x7F]


def test_alaw_known_values_and_round_trip():
    assert A.to_samples(A.alaw_decode(b"\xd5\x55\xaa\x2a")).tolist() == [8, -8, 32256, -32256]
    assert A.alaw_encode(A.alaw_decode(ALL_CODES)) == ALL_CODES


@pytest.mark.parametrize("enc,dec", [(A.ulaw_encode, A.ulaw_decode), (A.alaw_encode, A.alaw_decode)])
def test_encoding_is_monotonic_and_close(enc, dec):
    samples = list(range(-32768, 32768, 3))
    decoded = A.to_samples(dec(enc(A.from_samples(samples))))
    assert all(a <= b for a, b in zip(decoded, decoded[1:]))
    # Logarithmic quantisation: the error grows with the magnitude, ~3-4 % at most.
    assert all(abs(d - s) <= max(24, abs(s) * 0.04) for s, d in zip(samples, decoded))


def test_codecs_match_the_reference_implementation():
    audioop = audioop_or_skip()
    assert A.ulaw_encode(EVERY_SAMPLE) == audioop.lin2ulaw(EVERY_SAMPLE, 2)
    assert A.alaw_encode(EVERY_SAMPLE) == audioop.lin2alaw(EVERY_SAMPLE, 2)
    assert A.ulaw_decode(ALL_CODES) == audioop.ulaw2lin(ALL_CODES, 2)
    assert A.alaw_decode(ALL_CODES) == audioop.alaw2lin(ALL_CODES, 2)


@pytest.mark.skipif(SOX is None, reason="sox is not installed")
@pytest.mark.parametrize("name,dec", [("mu-law", A.ulaw_decode), ("a-law", A.alaw_decode)])
def test_decoding_matches_sox(tmp_path, name, dec):
    src = tmp_path / "codes.raw"
    src.write_bytes(ALL_CODES)
    out = subprocess.run([SOX, "-D", "-t", "raw", "-r", "8000", "-e", name, "-b", "8", "-c", "1", str(src),
                          "-t", "raw", "-e", "signed", "-b", "16", "-L", "-"], capture_output=True, check=True).stdout
    assert dec(ALL_CODES) == out


def test_decode_encode_by_name_and_errors():
    pcm = tone(440, 8000, 0.1)
    assert A.decode(A.encode(pcm, "ulaw"), "ulaw") == A.ulaw_decode(A.ulaw_encode(pcm))
    assert A.decode(pcm, "slin") == pcm
    with pytest.raises(A.AudioFormatError) as err:
        A.decode(b"\0", "gsm")
    assert err.value.error_id == "audio_format" and err.value.details["encoding"] == "gsm"
    with pytest.raises(A.AudioFormatError):
        A.ulaw_encode(b"\0\0\0")


def test_codec_speed_is_fine_for_live_audio():
    pcm = tone(440, 8000, 10.0)
    t = time.perf_counter()
    assert A.ulaw_decode(A.ulaw_encode(pcm))
    assert time.perf_counter() - t < 0.5      # 10 s of audio; ~0.01 s here


# ---------------------------------------------------------------- resampling

@pytest.mark.parametrize("src,dst", [(8000, 16000), (16000, 8000), (22050, 16000), (44100, 16000),
                                     (48000, 16000), (11025, 16000), (16000, 16000)])
def test_resampled_length_and_tone(src, dst):
    pcm = tone(1000, src, 1.0)
    out = A.resample(pcm, src, dst)
    assert len(out) // 2 == math.ceil(len(pcm) // 2 * dst / src)
    assert amplitude(out, dst, 1000) == pytest.approx(10000, rel=0.01)


def test_upsampling_has_no_delay_and_no_images():
    for freq in (300, 1000, 3000):
        out = A.to_samples(A.resample(tone(freq, 8000, 1.0), 8000, 16000))
        ideal = A.to_samples(tone(freq, 16000, 1.0))
        assert max(abs(a - b) for a, b in zip(out[200:-200], ideal[200:-200])) < 30
    # The image of 1 kHz around 8 kHz (at 7 kHz) is suppressed well below -40 dB.
    out = A.resample(tone(1000, 8000, 1.0), 8000, 16000)
    assert amplitude(out, 16000, 7000) < 10000 * 0.01


def test_downsampling_filters_what_would_alias():
    # 5 kHz cannot exist at 8 kHz: it must be removed, not folded to 3 kHz.
    out = A.resample(tone(5000, 16000, 1.0), 16000, 8000)
    assert amplitude(out, 8000, 3000) < 10000 * 0.01
    assert amplitude(A.resample(tone(1000, 16000, 1.0), 16000, 8000), 8000, 1000) == pytest.approx(10000, rel=0.01)


def test_streaming_equals_one_shot_whatever_the_chunks():
    rng = random.Random(5)
    pcm = A.from_samples([rng.randint(-20000, 20000) for _ in range(12345)])
    for src, dst in ((8000, 16000), (44100, 16000)):
        r = A.Resampler(src, dst)
        out, i = [], 0
        while i < len(pcm):
            n = 2 * rng.randint(0, 700)
            out.append(r.process(pcm[i:i + n]))
            i += n
        out.append(r.flush())
        assert b"".join(out) == A.resample(pcm, src, dst)
        # flush() leaves a fresh resampler: the same input gives the same output again.
        assert r.process(pcm) + r.flush() == A.resample(pcm, src, dst)


def test_resampling_clips_instead_of_wrapping():
    square = A.from_samples(([32767] * 4 + [-32768] * 4) * 1000)
    out = A.to_samples(A.resample(square, 8000, 16000))
    assert max(out) == 32767 and min(out) == -32768      # overshoot clipped, not wrapped


def test_upsampling_speed():
    pcm = tone(440, 8000, 10.0)
    t = time.perf_counter()
    A.resample(pcm, 8000, 16000)
    assert time.perf_counter() - t < 1.5       # ~0.2 s here: a small share of one core per stream


# ---------------------------------------------------------------- WAV

@pytest.mark.parametrize("encoding", ["slin", "ulaw", "alaw"])
def test_wav_round_trip(tmp_path, encoding):
    pcm = tone(440, 8000, 0.5)
    path = write_wav(tmp_path / "x.wav", pcm, 8000, encoding)
    back, info = read_wav(path)
    assert (info.rate, info.channels, info.format, info.frames) == (8000, 1, encoding.replace("slin", "pcm"), 4000)
    assert back == A.decode(A.encode(pcm, encoding), encoding)


def test_wav_unfinished_recording_is_read_to_the_end(tmp_path):
    pcm = tone(440, 8000, 0.25)
    data = bytearray(wav_bytes(pcm, 8000))
    data[40:44] = struct.pack("<I", 0)                  # size not written yet
    (tmp_path / "a.wav").write_bytes(bytes(data))
    assert read_wav(tmp_path / "a.wav")[0] == pcm
    data[40:44] = struct.pack("<I", 10 ** 9)            # size larger than the file
    (tmp_path / "b.wav").write_bytes(bytes(data) + b"\x01")   # odd trailing byte dropped
    assert read_wav(tmp_path / "b.wav")[0] == pcm


def test_wav_errors(tmp_path):
    (tmp_path / "t.txt").write_text("hello, not audio")
    for path in (tmp_path / "t.txt", tmp_path / "missing.wav"):
        with pytest.raises(A.AudioFormatError) as err:
            read_wav(path)
        assert str(path) in str(err.value)
    bad = bytearray(wav_bytes(tone(440, 8000, 0.1), 8000))
    bad[20:22] = struct.pack("<H", 0x0011)              # IMA ADPCM
    (tmp_path / "adpcm.wav").write_bytes(bytes(bad))
    with pytest.raises(A.AudioFormatError, match="0x0011"):
        read_wav(tmp_path / "adpcm.wav")


def test_mix_to_mono_averages():
    stereo = A.from_samples([1000, 3000, -2000, -4000])
    assert A.to_samples(mix_to_mono(stereo, 2)).tolist() == [2000, -3000]


@pytest.mark.skipif(SOX is None, reason="sox is not installed")
@pytest.mark.parametrize("args", [["-b", "24"], ["-b", "32"], ["-e", "floating-point", "-b", "32"],
                                  ["-e", "floating-point", "-b", "64"], ["-e", "unsigned", "-b", "8"],
                                  ["-e", "mu-law"], ["-e", "a-law"], ["-c", "2"], ["-c", "3"],
                                  ["-r", "44100", "-c", "2"]])
def test_reads_what_sox_writes(tmp_path, args):
    pcm = tone(500, 16000, 0.5, amp=12000)
    src = write_wav(tmp_path / "src.wav", pcm, 16000)
    dst = tmp_path / "dst.wav"
    subprocess.run([SOX, "-D", str(src), *args, str(dst)], check=True, capture_output=True)
    got = A.to_samples(load_wav(dst, 16000))
    want = A.to_samples(pcm)
    assert abs(len(got) - len(want)) <= 1
    tolerance = 400 if "-b" in args and "8" in args else 300 if "-r" in args or "law" in " ".join(args) else 2
    assert max(abs(a - b) for a, b in zip(got[100:-100], want[100:-100])) <= tolerance


# ---------------------------------------------------------------- levels and silence

def test_levels():
    assert A.rms_dbfs(A.silence(0.1, 8000)) == A.SILENCE_DB
    assert A.rms_dbfs(A.from_samples([32767, -32768] * 400)) == pytest.approx(0.0, abs=0.01)
    levels = A.frame_levels(tone(440, 8000, 0.1, amp=3276.8), 8000, 20)
    assert len(levels) == 5 and all(v == pytest.approx(-23.0, abs=0.2) for v in levels)   # -20 dB peak, sine RMS -3 dB


def test_silence_detector_events():
    audio = A.silence(0.5, 8000) + tone(300, 8000, 1.0) + A.silence(2.0, 8000)
    det = A.SilenceDetector(8000, frame_ms=20, threshold_db=-40, hang_s=0.8)
    events = det.feed(audio)
    assert [e.kind for e in events] == ["speech", "silence"]
    speech, quiet = events
    assert speech.at == pytest.approx(0.5, abs=0.03)
    assert quiet.at == pytest.approx(1.5, abs=0.03) and quiet.detected_at == pytest.approx(2.3, abs=0.03)
    assert det.heard_speech and not det.in_speech and det.silence_s == pytest.approx(2.0, abs=0.03)


def test_silence_detector_chunking_does_not_matter():
    audio = tone(300, 8000, 0.4) + A.silence(1.5, 8000) + tone(500, 8000, 0.3) + A.silence(1.2, 8000)
    whole = A.SilenceDetector(8000, hang_s=1.0).feed(audio)
    det = A.SilenceDetector(8000, hang_s=1.0)
    pieces = [det.feed(audio[i:i + 37 * 2]) for i in range(0, len(audio), 37 * 2)]
    assert [e for p in pieces for e in p] == whole and len(whole) == 4


def test_quiet_or_short_sounds_are_not_speech():
    det = A.SilenceDetector(8000, threshold_db=-40, hang_s=0.5)
    assert det.feed(tone(300, 8000, 1.0, amp=200)) == []          # about -47 dBFS
    assert det.feed(A.silence(0.2, 8000) + tone(300, 8000, 0.03) + A.silence(0.5, 8000)) == []   # a click


def test_noise_floor_adapts_to_a_steady_background():
    rng = random.Random(1)
    def noise(s: float):      # ~ -30 dBFS
        return A.from_samples([rng.randint(-1800, 1800) for _ in range(int(8000 * s))])
    det = A.SilenceDetector(8000, threshold_db=-45, margin_db=10, hang_s=0.5, floor_rise_db_per_s=10)
    det.feed(noise(6.0))
    assert not det.in_speech                      # the background stopped counting as speech
    louder = A.from_samples(a + b for a, b in zip(A.to_samples(noise(1.0)), A.to_samples(tone(300, 8000, 1.0, amp=12000))))
    assert [e.kind for e in det.feed(louder)] == ["speech"]
