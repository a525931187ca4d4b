"""Speech-to-text benchmark on telephone audio (8 kHz μ-law -> decode ->
resample to the model rate -> engine), one worker process:

- `frontend_rtf`: decoding and resampling alone (in this process);
- `stream_rtf`: one stream fed as fast as the worker takes it, wall time
  over audio time (and `worker_cpu_rtf`, the worker's CPU time over audio);
- `paced`: N streams fed in real time (100 ms every 100 ms) on one worker:
  the largest lag behind real time for each N; `realtime_streams_per_worker`
  is the largest N whose lag stayed under `max_lag_s`.

`hotline bench stt` prints the returned dict as JSON.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from recordings.audio import Resampler, ulaw_decode, ulaw_encode
from recordings.stt import VoskEngineFactory
from recordings.stt_errors import STTError
from recordings.stt_pool import PoolConfig, STTPool
from recordings.wavfile import load_wav

RATE = 8000
CHUNK_S = 0.1
# A caller's account as the default speech (spoken by espeak-ng's Mandarin voice).
DEFAULT_TEXT = ("您好，我要反映一个问题。我家楼下的饭店每天晚上噪音很大，已经影响休息好几个月了。"
                "我住在荷塘区新华西路，希望有关部门尽快处理。我的电话是一三八零零零零一二三四，谢谢。")


def _cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of a process (Linux /proc), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _speech(audio: Path | None, seconds: float) -> tuple[bytes, str]:
    """`seconds` of 8 kHz μ-law speech: the given WAV or espeak-ng Mandarin, repeated."""
    if audio is not None:
        pcm, source = load_wav(audio, RATE), str(audio)
    else:
        espeak = shutil.which("espeak-ng")
        if espeak is None:
            raise STTError("espeak-ng is needed to make benchmark speech (or pass a WAV)")
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "speech.wav"
            subprocess.run([espeak, "-v", "cmn", "-w", str(wav), DEFAULT_TEXT], check=True, capture_output=True)
            pcm = load_wav(wav, RATE)
        source = "espeak-ng cmn"
    if not pcm:
        raise STTError("benchmark audio is empty", source=source)
    need = int(seconds * RATE) * 2
    pcm = (pcm * (need // len(pcm) + 1))[:need]
    return ulaw_encode(pcm), source


def _frontend_rtf(data: bytes, engine_rate: int) -> float:
    step = int(RATE * CHUNK_S)
    started = time.process_time()
    resampler = Resampler(RATE, engine_rate)
    for i in range(0, len(data), step):
        resampler.process(ulaw_decode(data[i:i + step]))
    resampler.flush()
    return (time.process_time() - started) / (len(data) / RATE)


async def _fast(pool: STTPool, data: bytes) -> dict[str, Any]:
    pid = pool.worker_pids()[0]
    cpu0, t0 = _cpu_seconds(pid), time.monotonic()
    transcript = await pool.transcribe(data, RATE, "ulaw", call_id="bench-fast")
    wall = time.monotonic() - t0
    cpu1 = _cpu_seconds(pid)
    seconds = len(data) / RATE
    return {"stream_rtf": round(wall / seconds, 3),
            "worker_cpu_rtf": round((cpu1 - cpu0) / seconds, 3) if cpu0 is not None and cpu1 is not None else None,
            "engine_heard_s": transcript.stats.get("engine_s"), "text_sample": transcript.text[:60]}


async def _paced(pool: STTPool, data: bytes, n: int) -> dict[str, Any]:
    """n streams in real time; lag = how far behind real time the worker got."""
    loop = asyncio.get_running_loop()
    sessions = [await pool.open(f"bench-{n}-{i}", RATE, "ulaw") for i in range(n)]
    step = int(RATE * CHUNK_S)
    start = loop.time() + 0.05
    lags = [0.0] * n

    async def feed(i: int) -> float:
        s = sessions[i]
        offset = CHUNK_S * i / n                   # spread the streams over the 100 ms
        for k, pos in enumerate(range(0, len(data), step)):
            due = start + offset + (k + 1) * CHUNK_S   # the chunk has been "spoken" by then
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            late = loop.time() - due
            await s.feed(data[pos:pos + step])
            lags[i] = max(lags[i], late + s.backlog_s)
        ended = loop.time()
        await s.end()
        await s.transcript()
        return loop.time() - ended

    try:
        tails = await asyncio.gather(*(feed(i) for i in range(n)))
    except BaseException:
        for s in sessions:
            await s.cancel()
        raise
    return {"streams": n, "max_lag_s": round(max(lags), 3), "final_latency_s": round(max(tails), 3)}


async def run_bench(model_path: str | os.PathLike, seconds: float = 20.0,
                    streams: int | Sequence[int] | None = None, *, audio: Path | None = None,
                    max_lag_s: float = 1.0, max_streams: int = 8) -> dict[str, Any]:
    """Measure the real-time factor per stream and the real-time streams one
    worker core sustains. `streams`: a list of stream counts to try, or N to
    try 1..N, or None to go up from 1 until the lag exceeds `max_lag_s`."""
    factory = VoskEngineFactory(str(model_path))
    factory.check()
    data, source = _speech(audio, seconds)
    counts = (list(range(1, streams + 1)) if isinstance(streams, int)
              else list(streams) if streams is not None else list(range(1, max_streams + 1)))
    config = PoolConfig(workers=1, max_sessions_per_worker=max(counts + [1]), max_backlog_s=3600.0,
                        busy_timeout_s=3600.0, stall_timeout_s=120.0)
    started = time.monotonic()
    async with STTPool(factory, config) as pool:
        info = pool.stats()["workers"][0]
        report: dict[str, Any] = {
            "engine": info.get("engine"), "model": str(model_path), "model_rate": info.get("sample_rate"),
            "model_load_s": info.get("load_s"), "cpu_count": os.cpu_count(), "python": sys.version.split()[0],
            "audio": {"source": source, "seconds": seconds, "rate": RATE, "encoding": "ulaw"},
            "frontend_rtf": round(_frontend_rtf(data, int(info.get("sample_rate") or 16000)), 4),
        }
        report.update(await _fast(pool, data))
        paced, sustained = [], 0
        for n in counts:
            result = await _paced(pool, data, n)
            result["realtime"] = result["max_lag_s"] <= max_lag_s
            paced.append(result)
            if result["realtime"]:
                sustained = max(sustained, n)
            elif streams is None:
                break
        report["paced"] = paced
        report["max_lag_s"] = max_lag_s
        report["realtime_streams_per_worker"] = sustained
        report["estimated_streams_per_core"] = (round(1 / report["worker_cpu_rtf"], 2)
                                                if report.get("worker_cpu_rtf") else None)
    report["bench_s"] = round(time.monotonic() - started, 1)
    return report
