"""Speech-to-text benchmark on telephone audio (8 kHz μ-law -> decode ->
resample to the model rate -> engine), one worker process:

- `frontend_rtf`: decoding and resampling alone (in this process);
- `single_stream_cold` / `single_stream_warm`: one stream fed as fast as
  the worker takes it, on a new worker and again once its recognizer is
  warm: `rtf` is wall time over audio time, `worker_cpu_rtf` the worker's
  CPU time over audio time; `stream_rtf` is the warm one;
- `paced`: N streams fed in real time (100 ms every 100 ms) on one worker:
  the largest lag behind real time for each N, over the run and in its
  second half; `realtime_streams_per_worker` is the largest N whose
  second-half lag stayed under `max_lag_s` (a new recognizer spends its
  first seconds warming vosk's graph cache, see VoskEngine).

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
from recordings.stt.engine import VoskEngineFactory
from recordings.stt.errors import STTError
from recordings.stt.pool import PoolConfig, STTPool
from recordings.wavfile import load_wav

RATE = 8000
CHUNK_S = 0.1
# Callers' accounts as benchmark speech (espeak-ng's Mandarin voice), all
# different: vosk gets much faster on speech a recognizer has already heard,
# so each measurement uses an account the recognizers have not heard yet.
ACCOUNTS = (
    "您好，我要反映一个问题。我家楼下的饭店每天晚上噪音很大，一直吵到凌晨两点，已经影响休息好几个月了。"
    "我住在荷塘区新华西路，希望有关部门尽快处理。我的电话是一三八零零零零一二三四，谢谢。",
    "我想咨询一下社保卡怎么办理，需要带什么材料，在哪个窗口办理，周末上不上班。"
    "我是外地户口，在株洲上班三年了，单位一直交社保，能不能在这边补办，大概要多长时间。",
    "我们小区已经停水两天了，物业说是管道坏了，但是一直没有人来修。家里有老人和小孩，生活很不方便。"
    "小区在芦淞区建设南路，麻烦你们帮忙催一下自来水公司，尽快恢复供水。",
    "我要投诉一家装修公司，合同签了以后收了三万块钱定金，现在一直拖着不开工，打电话也不接。"
    "公司在天元区长江北路，我想问一下这种情况应该找哪个部门，能不能帮我把钱要回来。",
    "我在工地上干了半年活，老板到现在还欠我们二十几个工人的工资，一共十几万。"
    "过年前说好要发的，现在人都找不到了。工地在石峰区，我们希望政府帮忙协调一下。",
    "路口的红绿灯坏了好几天了，早上上班高峰的时候车特别多，很容易出事故。"
    "位置在芦淞区解放街和建设路交叉的地方，希望交警部门或者市政部门赶快派人来维修。",
    "我想反映一下公交车的问题，十八路公交车经常不按时发车，有时候等四十分钟都不来。"
    "司机态度也不好，还会提前关门不让上车，希望公交公司能管理一下，增加班次。",
    "我家附近的垃圾站好久没有清理了，天气热起来味道特别难闻，还有很多苍蝇蚊子。"
    "垃圾站在渌口区的菜市场旁边，周围住了很多人，麻烦环卫部门每天按时来清运。",
    "我想建议在我们社区建一个老年活动中心，现在小区里老人很多，但是没有地方活动。"
    "社区旁边有一块空地一直荒着，能不能利用起来，建一些健身器材和休息的座椅。",
    "我要表扬一下市民服务中心的工作人员，上个星期我去办营业执照，材料没带齐，"
    "她耐心地给我讲清楚要补什么，还帮我预约了下一次的时间，服务态度非常好。",
)
WARMUP_S = 5.0


def _cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of a process (Linux /proc), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class _Speech:
    """Benchmark clips: 8 kHz μ-law, one per account (or the given WAV)."""

    def __init__(self, audio: Path | None, folder: Path) -> None:
        self.audio, self.folder = audio, folder
        self.used = 0
        self.source = str(audio) if audio is not None else "espeak-ng cmn, caller accounts"
        self.repeated = False

    def clip(self, seconds: float) -> bytes:
        """The next unheard clip, `seconds` long (repeated if shorter)."""
        if self.audio is not None:
            pcm = load_wav(self.audio, RATE)
            self.repeated = self.used > 0
        else:
            espeak = shutil.which("espeak-ng")
            if espeak is None:
                raise STTError("espeak-ng is needed to make benchmark speech (or pass a WAV)")
            text = ACCOUNTS[self.used % len(ACCOUNTS)]
            self.repeated = self.repeated or self.used >= len(ACCOUNTS)
            wav = self.folder / f"account{self.used}.wav"
            subprocess.run([espeak, "-v", "cmn", "-w", str(wav), text], check=True, capture_output=True)
            pcm = load_wav(wav, RATE)
        self.used += 1
        if not pcm:
            raise STTError("benchmark audio is empty", source=self.source)
        need = int(seconds * RATE) * 2
        if need > len(pcm):
            self.repeated = True
        return ulaw_encode((pcm * (need // len(pcm) + 1))[:need])


def _frontend_rtf(data: bytes, engine_rate: int) -> float:
    step = int(RATE * CHUNK_S)
    started = time.process_time()
    resampler = Resampler(RATE, engine_rate)
    for i in range(0, len(data), step):
        resampler.process(ulaw_decode(data[i:i + step]))
    resampler.flush()
    return (time.process_time() - started) / (len(data) / RATE)


async def _fast(pool: STTPool, data: bytes, label: str) -> dict[str, Any]:
    pid = pool.worker_pids()[0]
    cpu0, t0 = _cpu_seconds(pid), time.monotonic()
    transcript = await pool.transcribe(data, RATE, "ulaw", call_id=f"bench-{label}")
    wall = time.monotonic() - t0
    cpu1 = _cpu_seconds(pid)
    seconds = len(data) / RATE
    return {"rtf": round(wall / seconds, 3),
            "worker_cpu_rtf": round((cpu1 - cpu0) / seconds, 3) if cpu0 is not None and cpu1 is not None else None,
            "engine_heard_s": transcript.stats.get("engine_s"), "text_sample": transcript.text[:40]}


async def _warm(pool: STTPool, data: bytes, n: int) -> None:
    """Run n streams at once, so the worker has n recognizers that have heard some speech."""
    await asyncio.gather(*(pool.transcribe(data, RATE, "ulaw", call_id=f"warm-{i}") for i in range(n)))


async def _paced(pool: STTPool, data: bytes, n: int) -> dict[str, Any]:
    """n streams in real time; lag = how far behind real time the worker got,
    over the whole run and over its second half."""
    loop = asyncio.get_running_loop()
    sessions = [await pool.open(f"bench-{n}-{i}", RATE, "ulaw") for i in range(n)]
    step = int(RATE * CHUNK_S)
    chunks = range(0, len(data), step)
    half = len(chunks) // 2
    start = loop.time() + 0.05
    lags, steady = [0.0] * n, [0.0] * n

    async def feed(i: int) -> float:
        s = sessions[i]
        offset = CHUNK_S * i / n                   # spread the streams over the 100 ms
        for k, pos in enumerate(chunks):
            due = start + offset + (k + 1) * CHUNK_S   # the chunk has been "spoken" by then
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            late = loop.time() - due
            await s.feed(data[pos:pos + step])
            lag = late + s.backlog_s
            lags[i] = max(lags[i], lag)
            if k >= half:
                steady[i] = max(steady[i], lag)
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
    return {"streams": n, "max_lag_s": round(max(lags), 3), "steady_lag_s": round(max(steady), 3),
            "final_latency_s": round(max(tails), 3)}


async def run_bench(model_path: str | os.PathLike, seconds: float = 20.0,
                    streams: int | Sequence[int] | None = None, *, audio: Path | None = None,
                    max_lag_s: float = 1.0, max_streams: int = 8, warmup_s: float = WARMUP_S) -> dict[str, Any]:
    """Measure the real-time factor per stream and the real-time streams one
    worker core sustains. `streams`: a list of stream counts to try, or N to
    try 1..N, or None to go up from 1 until the lag exceeds `max_lag_s`.
    Before each paced round the worker's recognizers hear `warmup_s` of
    other speech, so the round measures warm recognizers on new speech."""
    factory = VoskEngineFactory(str(model_path))
    factory.check()
    counts = (list(range(1, streams + 1)) if isinstance(streams, int)
              else list(streams) if streams is not None else list(range(1, max_streams + 1)))
    config = PoolConfig(workers=1, max_sessions_per_worker=max(counts + [1]), max_backlog_s=3600.0,
                        busy_timeout_s=3600.0, stall_timeout_s=120.0)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        speech = _Speech(audio, Path(tmp))
        async with STTPool(factory, config) as pool:
            info = pool.stats()["workers"][0]
            first = speech.clip(seconds)
            report: dict[str, Any] = {
                "engine": info.get("engine"), "model": str(model_path), "model_rate": info.get("sample_rate"),
                "model_load_s": info.get("load_s"), "cpu_count": os.cpu_count(), "python": sys.version.split()[0],
                "audio": {"source": speech.source, "seconds": seconds, "rate": RATE, "encoding": "ulaw"},
                "frontend_rtf": round(_frontend_rtf(first, int(info.get("sample_rate") or 16000)), 4),
            }
            # A new worker's first stream warms a new recognizer; the next
            # stream reuses it, on speech it has not heard.
            report["single_stream_cold"] = await _fast(pool, first, "cold")
            warm = report["single_stream_warm"] = await _fast(pool, speech.clip(seconds), "warm")
            report["stream_rtf"] = warm["rtf"]
            paced, sustained = [], 0
            for n in counts:
                await _warm(pool, speech.clip(warmup_s), n)
                result = await _paced(pool, speech.clip(seconds), n)
                result["realtime"] = result["steady_lag_s"] <= max_lag_s and result["final_latency_s"] <= 2 * max_lag_s
                paced.append(result)
                if result["realtime"]:
                    sustained = max(sustained, n)
                elif streams is None:
                    break
            report["paced"] = paced
            report["max_lag_s"] = max_lag_s
            report["realtime_streams_per_worker"] = sustained
            report["estimated_streams_per_core"] = (round(1 / warm["worker_cpu_rtf"], 2)
                                                    if warm.get("worker_cpu_rtf") else None)
            report["audio"]["content_repeated"] = speech.repeated
    report["bench_s"] = round(time.monotonic() - started, 1)
    return report
