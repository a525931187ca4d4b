"""One recording kept per call: compressed with sox, per-direction files removed, retention sweep."""
import asyncio
import os
import shutil
import time
import wave

import pytest

from recordings.keep import RecordingKeeper, base_of, direction_files, kept_name, sweep
from tests.unit.fake_calls import MemoryCalls

pytestmark = pytest.mark.skipif(shutil.which("sox") is None, reason="sox is not installed")


def wav(path, seconds=1.0):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x10\x00" * int(8000 * seconds))


Calls = MemoryCalls


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


def seconds(path) -> float:
    import subprocess
    return float(subprocess.run(["soxi", "-D", str(path)], capture_output=True, text=True, check=True).stdout)


@pytest.mark.parametrize("compress, ext", [("ogg", ".ogg"), ("flac", ".flac"), ("none", ".wav")])
async def test_the_callers_account_is_kept_compressed_once_transcribed(tmp_path, compress, ext):
    account = tmp_path / "describe" / "1796236250.12-enterprise_q.wav"
    account.parent.mkdir()
    wav(account, 2.0)
    calls = Calls()
    kept = await RecordingKeeper(calls, compress).describe_done("1796236250.12", account)
    assert kept.name == "1796236250.12-enterprise_q" + ext and kept.exists()
    assert sorted(p.name for p in account.parent.iterdir()) == [kept.name]      # the WAV is gone (unless kept)
    assert (kept.stat().st_mode & 0o777) == 0o640
    assert seconds(kept) == pytest.approx(2.0, abs=0.05)
    assert calls.updates == [("1796236250.12", {"describe_recording": str(kept.resolve())})]


async def test_the_draft_links_the_kept_account_and_stt_read_the_wav(tmp_path):
    """DescribeToTicket: the WAV is transcribed first, then kept; the draft points at the kept file."""
    from types import SimpleNamespace

    from recordings.describe import DescribeToTicket

    account = tmp_path / "c1-describe.wav"
    wav(account, 1.0)
    seen = []

    class Pool:                                  # records what the transcriber was given, then has nothing
        def stream(self, call_id, rate, fmt):
            seen.append(("stt", account.exists()))
            raise OSError("no model here")

    class Tickets:
        async def create_draft(self, call_id, caller, text, recording=None):
            seen.append(("draft", recording))
            return SimpleNamespace(id="T1", transcript=text)

    calls = Calls()
    keeper = RecordingKeeper(calls, "ogg")

    async def keep(call_id, path):
        seen.append(("keep", path.exists()))
        return await keeper.describe_done(call_id, path)
    describe = DescribeToTicket(Tickets(), calls, Pool(), keep=keep)
    await describe.recorded(SimpleNamespace(call_id="c1", caller="13800001234"), "describe", account)
    await describe.close()
    kept = tmp_path / "c1-describe.ogg"
    assert seen == [("stt", True), ("keep", True), ("draft", str(kept.resolve()))]
    assert kept.exists() and not account.exists()
    assert ("c1", {"describe_recording": str(kept.resolve())}) in calls.updates
