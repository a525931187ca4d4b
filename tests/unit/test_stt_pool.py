"""STTPool with real worker processes running the scripted engine: streaming,
back-pressure, admission, a worker that dies or hangs, shutdown."""
from __future__ import annotations

import asyncio
import math
import os
import signal
import time

import pytest

from recordings import audio as A
from recordings.stt.engine import Final, Partial
from recordings.stt.errors import (
    ModelNotFoundError,
    STTBusyError,
    STTClosedError,
    STTWorkerError,
)
from recordings.stt.fake import ScriptedEngineFactory
from recordings.stt.pool import PoolConfig, STTPool

RATE = 8000


def loud(seconds: float) -> bytes:
    return A.from_samples([round(12000 * math.sin(2 * math.pi * 400 * i / RATE)) for i in range(int(RATE * seconds))])


def ulaw(pcm: bytes) -> bytes:
    return A.ulaw_encode(pcm)


SPEECH = ulaw(A.silence(0.3, RATE) + loud(1.0) + A.silence(0.8, RATE) + loud(0.5) + A.silence(0.7, RATE))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:                                   # a zombie is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


async def feed_all(session, data: bytes, frame: int = 160, **kw) -> None:
    for i in range(0, len(data), frame):
        await session.feed(data[i:i + frame], **kw)
    await session.end()


async def _collect(session) -> list:
    return [r async for r in session.results()]


@pytest.fixture
async def pool():
    p = STTPool(ScriptedEngineFactory(), PoolConfig(workers=2, stall_timeout_s=2.0))
    await p.start()
    yield p
    await p.close()


async def test_streams_partials_then_finals_with_timings(pool):
    async with pool.stream("call-1", rate=RATE, encoding="ulaw") as s:
        feeder = asyncio.create_task(feed_all(s, SPEECH))
        results = [r async for r in s.results()]
        await feeder
    transcript = await s.transcript()
    texts = [(r.kind, r.text) for r in results]
    assert texts.index(("final", "w1 w2 w3 w4")) > texts.index(("partial", "w1"))
    assert [f.text for f in transcript.finals] == ["w1 w2 w3 w4", "w5 w6"]
    a, b = transcript.finals
    assert a.start == pytest.approx(0.3, abs=0.02) and a.end == pytest.approx(1.3, abs=0.02)
    assert b.start == pytest.approx(2.1, abs=0.02) and b.end == pytest.approx(2.6, abs=0.02)
    assert isinstance(results[-1], Final) and transcript.duration == pytest.approx(3.3, abs=0.01)
    assert transcript.text == "w1 w2 w3 w4 w5 w6"


async def test_concurrent_streams_use_both_workers_and_stay_separate(pool):
    sessions = [await pool.open(f"c{i}", RATE, "ulaw") for i in range(4)]
    assert {s._worker.slot for s in sessions} == {0, 1}
    await asyncio.gather(*(feed_all(s, SPEECH if i % 2 else ulaw(loud(0.5) + A.silence(0.6, RATE)), frame=800)
                           for i, s in enumerate(sessions)))
    texts = [(await s.transcript(timeout=10)).text for s in sessions]
    assert texts == ["w1 w2", "w1 w2 w3 w4 w5 w6", "w1 w2", "w1 w2 w3 w4 w5 w6"]


async def test_unread_partials_are_coalesced_but_finals_kept(pool):
    s = await pool.open("lazy-reader", RATE, "ulaw")
    await feed_all(s, SPEECH + SPEECH, frame=400)
    await s.transcript(timeout=10)
    results = [r async for r in s.results()]
    assert [r.text for r in results if isinstance(r, Final)] == ["w1 w2 w3 w4", "w5 w6", "w7 w8 w9 w10", "w11 w12", ""]
    assert not any(isinstance(a, Partial) and isinstance(b, Partial) for a, b in zip(results, results[1:]))


async def test_empty_stream_and_cancel(pool):
    s = await pool.open("empty", RATE, "ulaw")
    await s.end()
    assert [r async for r in s.results()] == [Final("", 0.0, 0.0)]
    c = await pool.open("cancelled", RATE, "ulaw")
    await c.feed(SPEECH[:4000])
    await c.cancel()
    leftovers = await asyncio.wait_for(_collect(c), 2)    # ends at once, no final after a cancel
    assert not any(isinstance(r, Final) for r in leftovers)
    with pytest.raises(STTClosedError):
        await c.feed(SPEECH[:1600])
    assert all(st["sessions"] == 0 for st in pool.stats()["workers"])


async def test_error_in_context_cancels_the_stream(pool):
    with pytest.raises(RuntimeError):
        async with pool.stream("boom", RATE, "ulaw") as s:
            await s.feed(SPEECH[:2000])
            raise RuntimeError("caller failed")
    assert s.state == "cancelled"


async def test_worker_killed_mid_stream_fails_its_streams_and_is_replaced(pool):
    victim = await pool.open("victim", RATE, "ulaw")
    bystander_pid = None
    other = await pool.open("other", RATE, "ulaw")
    assert victim._worker is not other._worker
    await victim.feed(SPEECH[:4000])
    pid = victim._worker.pid
    bystander_pid = other._worker.pid
    os.kill(pid, signal.SIGKILL)
    t = time.monotonic()
    with pytest.raises(STTWorkerError) as err:
        async for _ in victim.results():
            pass
    assert time.monotonic() - t < 3 and err.value.details["exitcode"] == -signal.SIGKILL
    with pytest.raises(STTWorkerError):
        await victim.feed(SPEECH[:1600])
    with pytest.raises(STTWorkerError):
        await victim.transcript(timeout=1)
    # The other worker's stream is untouched.
    await feed_all(other, SPEECH, frame=800)
    assert (await other.transcript(timeout=10)).text == "w1 w2 w3 w4 w5 w6"
    for _ in range(100):
        if len(pool.worker_pids()) == 2:
            break
        await asyncio.sleep(0.05)
    pids = pool.worker_pids()
    assert len(pids) == 2 and pid not in pids and bystander_pid in pids and pool.restarts == 1
    assert not alive(pid)
    fresh = await pool.open("after", RATE, "ulaw")
    await feed_all(fresh, SPEECH, frame=800)
    assert (await fresh.transcript(timeout=10)).text == "w1 w2 w3 w4 w5 w6"


async def test_engine_crash_is_a_worker_death():
    async with STTPool(ScriptedEngineFactory(crash_after_s=1.0), PoolConfig(workers=1)) as p:
        s = await p.open("crash", RATE, "ulaw")
        with pytest.raises(STTWorkerError) as err:
            await feed_all(s, SPEECH, frame=800)
            await s.transcript(timeout=5)
        assert err.value.details.get("exitcode") in (3, None)


async def test_hung_worker_is_killed_and_its_stream_fails():
    async with STTPool(ScriptedEngineFactory(hang_after_s=0.5), PoolConfig(workers=1, stall_timeout_s=1.0)) as p:
        s = await p.open("hang", RATE, "ulaw")
        pid = p.worker_pids()[0]
        t = time.monotonic()
        with pytest.raises(STTWorkerError):
            await feed_all(s, SPEECH, frame=800)
            await s.transcript(timeout=10)
        assert time.monotonic() - t < 5
        for _ in range(100):
            if p.worker_pids() and p.worker_pids()[0] != pid:
                break
            await asyncio.sleep(0.05)
        assert p.worker_pids() and p.worker_pids()[0] != pid and not alive(pid)


async def test_back_pressure_waits_then_raises_busy():
    # The engine needs 1 s of CPU per 0.25 s of audio: 4x slower than real time.
    cfg = PoolConfig(workers=1, max_backlog_s=0.5, busy_timeout_s=0.3, send_chunk_s=0.1)
    async with STTPool(ScriptedEngineFactory(cost_rtf=4.0), cfg) as p:
        s = await p.open("flood", RATE, "ulaw")
        sent = 0
        with pytest.raises(STTBusyError) as err:
            for i in range(0, len(SPEECH), 800):
                await s.feed(SPEECH[i:i + 800])
                sent += 800
        assert err.value.error_id == "stt_busy" and err.value.details["limit_s"] == 0.5
        assert sent <= 8000 * 1.0                  # at most ~ the backlog bound got through
        # Waiting longer is allowed: feed() then succeeds once the worker caught up.
        t = time.monotonic()
        await s.feed(SPEECH[sent:sent + 800], timeout=10)
        assert time.monotonic() - t > 0.05
        await s.cancel()


async def test_admission_is_bounded():
    async with STTPool(ScriptedEngineFactory(), PoolConfig(workers=1, max_sessions_per_worker=1,
                                                            busy_timeout_s=0.2)) as p:
        first = await p.open("first", RATE, "ulaw")
        with pytest.raises(STTBusyError):
            await p.open("second", RATE, "ulaw")
        waiting = asyncio.create_task(p.open("third", RATE, "ulaw", timeout=5))
        await asyncio.sleep(0.1)
        await first.end()
        third = await waiting
        await third.end()
        assert (await third.transcript(timeout=5)).text == ""


async def test_failed_model_load_reports_the_error_and_leaves_nothing_running():
    p = STTPool(ScriptedEngineFactory(fail_load=True), PoolConfig(workers=2))
    with pytest.raises(ModelNotFoundError) as err:
        await p.start()
    assert "/scripted/missing" in str(err.value)
    assert p.worker_pids() == []


async def test_close_drains_then_fails_what_is_left():
    p = STTPool(ScriptedEngineFactory(), PoolConfig(workers=1, drain_timeout_s=2.0))
    await p.start()
    pid = p.worker_pids()[0]
    done = await p.open("done", RATE, "ulaw")
    await feed_all(done, SPEECH, frame=800)
    forgotten = await p.open("forgotten", RATE, "ulaw")
    await forgotten.feed(SPEECH[:1600])
    await p.close()
    assert (await done.transcript(timeout=1)).text == "w1 w2 w3 w4 w5 w6"
    with pytest.raises(STTClosedError):
        await forgotten.transcript(timeout=1)
    assert not alive(pid)
    with pytest.raises(STTClosedError):
        await p.open("late", RATE, "ulaw")


async def test_bad_stream_parameters():
    async with STTPool(ScriptedEngineFactory(), PoolConfig(workers=1)) as p:
        with pytest.raises(A.AudioFormatError):
            await p.open("x", RATE, "gsm")
        s = await p.open("odd-rate", 11025, "slin")          # unusual but valid: resampled
        await s.feed(A.silence(0.5, 11025))
        await s.end()
        assert (await s.transcript(timeout=5)).duration == pytest.approx(0.5, abs=0.01)
