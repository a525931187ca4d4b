"""One recording kept per call: compressed with sox, per-direction files removed, retention sweep."""
import asyncio
import os
import shutil
import time
import wave

import pytest

from recordings.keep import RecordingKeeper, base_of, direction_files, kept_name, sweep

pytestmark = pytest.mark.skipif(shutil.which("sox") is None, reason="sox is not installed")


def wav(path, seconds=1.0):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x10\x00" * int(8000 * seconds))


class Calls:
    def __init__(self):
        self.updates = []

    async def update(self, call_id, **fields):
        self.updates.append((call_id, fields))


def test_names_keep_the_dot_of_a_real_uniqueid(tmp_path):
    base = base_of(tmp_path / "hotline-1796236250.12.wav")
    assert base.name == "hotline-1796236250.12"
    assert kept_name(base, "ogg").name == "hotline-1796236250.12.ogg"
    assert [p.name for p in direction_files(base)] == ["hotline-1796236250.12-caller.wav",
                                                       "hotline-1796236250.12-seat.wav"]


@pytest.mark.parametrize("compress, ext", [("ogg", ".ogg"), ("flac", ".flac"), ("none", ".wav")])
async def test_call_ended_keeps_one_file(tmp_path, compress, ext):
    base = tmp_path / "hotline-1796236250.12"
    for p in [tmp_path / f"{base.name}.wav", *direction_files(base)]:
        wav(p)
    busy = {"yes": True}
    calls = Calls()
    keeper = RecordingKeeper(calls, compress, busy=lambda cid: busy["yes"], settle_s=0.1)
    task = keeper.call_ended("c1", f"{base}.wav")
    await asyncio.sleep(0.3)
    assert all(p.exists() for p in direction_files(base))        # speech-to-text still needs them
    busy["yes"] = False
    kept = await asyncio.wait_for(task, 20)
    assert kept.name == base.name + ext and kept.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [kept.name]
    assert (kept.stat().st_mode & 0o777) == 0o640
    assert calls.updates == [("c1", {"recording": str(kept.resolve())})]


def test_sweep_deletes_only_old_audio(tmp_path):
    old, new, other = tmp_path / "calls" / "a.ogg", tmp_path / "describe" / "b.wav", tmp_path / "notes.txt"
    for p in (old, new, other):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    ten_days = time.time() - 10 * 86400
    os.utime(old, (ten_days, ten_days))
    os.utime(other, (ten_days, ten_days))
    assert sweep(tmp_path, 7) == 1
    assert not old.exists() and new.exists() and other.exists()
    assert sweep(tmp_path, 0) == 0
