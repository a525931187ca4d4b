"""`hotline bench stt --live`: how to capture the live conversation, measured.

Candidates on Debian's Asterisk 16 (no app_audiosocket; EAGI cannot run on a
channel that is in a bridge, so it needs a spy):

- `mixmonitor`: the per-direction files MixMonitor writes for every answered
  call (the product's recording, r()/t()), read while they grow
  (recordings/live.py FileTail, polled every 40 ms);
- `chanspy`: per direction, a Local channel whose ;2 half runs
  `ChanSpy(channel,qoE)` on one party and whose ;1 half runs an EAGI script
  (pbx/eagi_audio.py) that forwards fd 3 to a TCP listener here.

Both feed the same LiveTranscriber (speech pool -> `hotline:live`). A run
places `calls` two-party calls per mode: the seat says one WAV, then the
caller another, at times announced by UserEvents. MixMonitor records in every
mode, as the product does, so `none` (recording, no transcription) is the
baseline the others' CPU is compared with. Per mode:

- `capture_ms`: speech onset (UserEvent + the WAV's own onset) -> the first
  voiced 20 ms frame reaching the reader;
- `first_partial_ms`: speech onset -> first partial of that speaker received
  from Redis pub/sub; `final_after_end_ms`: end of the speech -> its final;
- CPU seconds per call-minute: Asterisk (with its reaped children, the EAGI
  scripts), this process (readers, pool client, publishing) and the speech
  workers; `extra_*` subtract the `none` baseline.

`choice` applies the rule in `choose()`. Measured here (2 shared cores, one
call per mode, Korean test model, two runs): capture median MixMonitor files
774-782 ms (Asterisk writes them through a 32 KiB buffer: 2 s bursts),
ChanSpy+EAGI 4-8 ms (max 19); first partial 1.07-1.11 s vs 0.81-1.01 s; extra
CPU per call-minute about 0 + 0.6-0.8 s vs 1.2-1.7 + 1.9-2.1 s (Asterisk +
controller), against 13-15 s for recognition itself. Chosen: ChanSpy+EAGI
(recordings/live.py explains).

On Asterisk 18+ (`--asterisk 22`) a fourth mode, `audiosocket`: the same spy,
with Asterisk's own AudioSocket() connecting to the listener instead of an EAGI
process per stream. Measured on 22.10.1 (2 calls per mode, loaded machine):
capture p50 24 ms vs 36 ms for ChanSpy+EAGI, extra Asterisk CPU 0.45 vs 1.28 s
per call-minute, controller 1.23 vs 1.36 s; first partial 1.03 vs 0.94 s (the
recogniser's pace). `choose()` picks audiosocket, and `asterisk.live_capture:
auto` does the same on 18+.
"""
from __future__ import annotations

import asyncio
import json
import os
import resource
import shutil
import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bench.harness import pct
from bench.live_dialplan import TALK, contexts
from devstack.asterisk_server import major_version
from hotline.app import compose
from hotline.runtime import Runtime
from hotline.settings import load
from kernel.notify import LIVE_CHANNEL, LiveEvent
from pbx.contract import LIVE_SPY
from pbx.live_audio import LiveAudioServer, SpyCapture, install_script
from recordings.audio import frame_levels, rms_dbfs
from recordings.live import FileTail, LiveTranscriber
from recordings.stt.engine import VoskEngineFactory
from recordings.stt.pool import PoolConfig, STTPool
from recordings.wavfile import read_wav

VOICED_DB = -40.0
FRAME = 320                              # 20 ms of 8 kHz slin
MODES = ("none", "mixmonitor", "chanspy", "audiosocket")     # audiosocket: Asterisk 18+ only
SPEECH = {   # (espeak voice, seat's words, caller's words)
    "ko": ("ko", "감사합니다 무엇을 도와 드릴까요", "안녕하세요 우리 집 앞 가로등이 고장 났어요"),
    "zh": ("cmn", "您好，十二三四五热线，请讲。", "我家楼下的路灯坏了三天了，请尽快派人维修。"),
}


def _tree_cpu(pid: int) -> float:
    """utime + stime + reaped children's, in seconds."""
    with open(f"/proc/{pid}/stat") as fh:
        f = fh.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in f[11:15]) / os.sysconf("SC_CLK_TCK")


def _self_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _voice(folder: Path, name: str, voice: str, text: str) -> tuple[str, float, float, float]:
    """An 8 kHz WAV for Playback: (path without extension, speech onset s, speech end s, length s)."""
    raw, out = folder / f"{name}.raw.wav", folder / f"{name}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "140", "-w", str(raw), text], check=True, capture_output=True)
    subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(out), "pad", "0.3", "0.8"],
                   check=True, capture_output=True)
    pcm, info = read_wav(out)
    levels = frame_levels(pcm, 8000, 20)
    voiced = [i for i, db in enumerate(levels) if db > VOICED_DB]
    return str(out.with_suffix("")), voiced[0] * 0.02, (voiced[-1] + 1) * 0.02, len(pcm) / 2 / 8000


class _Probe:
    """Wraps a source: notes when its first voiced frame arrives."""

    def __init__(self) -> None:
        self.first_voiced: dict[tuple[str, str], float] = {}

    async def wrap(self, key: tuple[str, str], chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        carry = b""
        async for data in chunks:
            if key not in self.first_voiced:
                buf = carry + data
                whole = len(buf) - len(buf) % FRAME
                if any(rms_dbfs(buf[i:i + FRAME]) > VOICED_DB for i in range(0, whole, FRAME)):
                    self.first_voiced[key] = time.monotonic()
                carry = buf[whole:]
            yield data


def choose(modes: dict[str, dict[str, Any]], slack_ms: float = 100.0) -> dict[str, Any] | None:
    """The capture to use: the lowest median capture latency (speech -> audio at the reader: the
    part that differs, the recogniser after it is the same); a capture within `slack_ms` of it
    wins if it costs less extra CPU (Asterisk + controller per call-minute)."""
    timed = {m: r for m, r in modes.items() if r.get("capture_ms", {}).get("n")}
    if not timed:
        return None
    best = min(r["capture_ms"]["p50"] for r in timed.values())

    def cpu(r: dict[str, Any]) -> float:
        extra = r.get("extra_cpu_s_per_call_min") or r["cpu_s_per_call_min"]
        return round(extra["asterisk"] + extra["controller"], 2)

    close = {m: r for m, r in timed.items() if r["capture_ms"]["p50"] <= best + slack_ms}
    mode, row = min(close.items(), key=lambda item: (cpu(item[1]), item[1]["capture_ms"]["p50"]))
    return {"mode": mode, "capture_p50_ms": row["capture_ms"]["p50"],
            "first_partial_p50_ms": row.get("first_partial_ms", {}).get("p50"),
            "extra_cpu_s_per_call_min": cpu(row),
            "rule": f"lowest capture latency; within {slack_ms:.0f} ms of it, the least extra CPU"}


async def run(model: Path, *, calls: int = 2, modes: tuple[str, ...] = MODES, asterisk: int = 16) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="hotline-bench-live-"))
    lang = "ko" if "ko" in str(model).lower() else "zh"
    voice, op_text, caller_text = SPEECH[lang]
    op = _voice(folder, "op", voice, op_text)
    caller = _voice(folder, "caller", voice, caller_text)
    script = install_script(folder / "agi-bin")

    settings = load(env={}, overrides={"log": {"level": "WARNING"}, "stt": {"model": ""},
                                       "storage": {"data_dir": str(folder / "data")},
                                       "asterisk": {"version": asterisk, "binds": [str(folder)]}})
    rt = compose(settings, folder / "run", features=False, persistent_redis=False,
                 extra_contexts=lambda agi_url, prompts: contexts())
    pool = STTPool(VoskEngineFactory(str(model)), PoolConfig(workers=min(2, os.cpu_count() or 1)))
    spy = LiveAudioServer()
    out: dict[str, Any] = {"model": str(model), "calls_per_mode": calls, "speech": {
        "operator": {"onset_s": op[1], "end_s": op[2]}, "caller": {"onset_s": caller[1], "end_s": caller[2]}}}
    try:
        await rt.start()
        await pool.start()
        await spy.start()
        out["warmup_s"] = await _warm(pool, [caller[0], op[0]], streams=2 * calls)
        out["modes"] = {}
        assert rt.asterisk is not None
        out["asterisk"] = rt.asterisk.install.version()
        if major_version(out["asterisk"]) < 18:           # no app_audiosocket before 18
            modes = tuple(m for m in modes if m != "audiosocket")
        for mode in modes:
            capture = SpyCapture(lambda: rt.ami, spy, script, LIVE_SPY,
                                 method="audiosocket" if mode == "audiosocket" else "eagi")
            out["modes"][mode] = await _one_mode(rt, pool, capture, folder, mode, calls, op, caller)
        base = out["modes"].get("none")
        if base:
            for mode, row in out["modes"].items():
                if mode != "none":
                    row["extra_cpu_s_per_call_min"] = {
                        k: round(row["cpu_s_per_call_min"][k] - base["cpu_s_per_call_min"][k], 3)
                        for k in ("asterisk", "controller")}
        out["choice"] = choose(out["modes"])
    finally:
        await spy.close()
        await pool.close()
        await rt.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return out


async def _warm(pool: STTPool, wavs: list[str], streams: int, rounds: int = 2) -> float:
    """Warm the recognizers the calls will get (a fresh vosk recognizer spends its first seconds of
    speech filling its graph cache, which would otherwise be measured as capture latency)."""
    t = time.monotonic()
    pcm = b"".join(read_wav(f"{w}.wav")[0] for w in wavs)
    for _ in range(rounds):
        await asyncio.gather(*(pool.transcribe(pcm, 8000, "slin", call_id=f"warm-{i}") for i in range(streams)))
    return round(time.monotonic() - t, 2)


async def _one_mode(rt: Runtime, pool: STTPool, capture: SpyCapture, folder: Path, mode: str, calls: int,
                    op: tuple, caller: tuple) -> dict[str, Any]:
    events: list[tuple[float, dict]] = []

    assert rt.redis is not None and rt.ami is not None and rt.prompts is not None     # the runtime has started
    assert rt.asterisk is not None and rt.asterisk.process is not None
    ast_pid = rt.asterisk.process.pid
    assert ast_pid is not None

    async def publish(event: LiveEvent) -> None:
        assert rt.redis is not None
        await rt.redis.publish(LIVE_CHANNEL, event.to_json())

    live = LiveTranscriber(pool, publish)
    probe = _Probe()
    speak: dict[tuple[str, str], float] = {}
    names: dict[str, str] = {}
    hung: set[str] = set()
    ids = {f"bl-{mode}-{i}": f"bl-{mode}-{i}-op" for i in range(calls)}
    all_done = asyncio.Event()
    started_calls: list[str] = []
    tasks: list[asyncio.Task] = []

    async def start_capture(call_id: str, rec: str, op_uid: str) -> None:
        stop = asyncio.Event()
        if mode == "mixmonitor":
            sources = {"caller": FileTail(Path(f"{rec}-caller.wav"), stop=stop).chunks(),
                       "operator": FileTail(Path(f"{rec}-seat.wav"), stop=stop).chunks()}
        else:
            # On the seat's half (op) the audio coming in is the caller's; on the caller's half, the seat's.
            sources = await capture.open(call_id, {"caller": names[op_uid], "operator": names[call_id]}, stop=stop)
        live.start(call_id, {s: probe.wrap((call_id, s), src) for s, src in sources.items()},
                   channel_uid=op_uid, stop=stop)
        started_calls.append(call_id)

    def on_event(e) -> None:
        uid = e.get("Uniqueid", "")
        if e.name == "Newchannel":
            names[uid] = e.get("Channel", "")
        elif e.name == "UserEvent" and e.get("UserEvent") == "BenchSpeak":
            call_id = uid if uid in ids else next((c for c, o in ids.items() if o == uid), uid)
            speak[(call_id, e.get("Who", ""))] = time.monotonic()
        elif e.name == "UserEvent" and e.get("UserEvent") == "BenchLiveUp":
            call_id = next((c for c, o in ids.items() if o == uid), "")
            if call_id and mode != "none":
                tasks.append(asyncio.ensure_future(start_capture(call_id, e.get("Rec", ""), uid)))
        elif e.name == "Hangup":
            live.hangup(uid)
            if uid in ids or uid in ids.values():
                hung.add(uid)
                if len(hung) == 2 * calls:
                    all_done.set()

    pubsub = rt.redis.pubsub()
    await pubsub.subscribe(LIVE_CHANNEL)

    async def listen() -> None:
        async for message in pubsub.listen():
            if message["type"] == "message":
                events.append((time.monotonic(), json.loads(message["data"])))

    listener = asyncio.create_task(listen())
    unsubscribe = rt.ami.on_event("*", on_event)
    op_path, op_on, op_end, op_len = op
    c_path, c_on, c_end, c_len = caller
    caller_delay = int(1.0 + op_len + 1.5)
    talk_s = caller_delay + c_len + 3.0 - (1.0 + op_len)
    cpu0 = (_tree_cpu(ast_pid), _self_cpu(), sum(_tree_cpu(p) for p in pool.worker_pids()))
    t0 = time.monotonic()
    try:
        for call_id, op_uid in ids.items():
            rec = folder / "rec" / mode / call_id
            rec.parent.mkdir(parents=True, exist_ok=True)
            await rt.ami.originate(
                f"Local/op@{TALK}/n", context=TALK, exten="caller", channel_id=call_id, other_channel_id=op_uid,
                variables={"REC": str(rec), "OP_WAV": op_path, "CALLER_WAV": c_path,
                           "SILENCE": str(rt.prompts.silence(1)),
                           "CALLER_DELAY": str(caller_delay), "TALK_S": f"{talk_s:.2f}"})
            await asyncio.sleep(0.3)
        await asyncio.wait_for(all_done.wait(), caller_delay + c_len + talk_s + 30)
        deadline = time.monotonic() + 15
        while any(c not in live.finished for c in started_calls) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
    finally:
        wall = time.monotonic() - t0
        unsubscribe()
        listener.cancel()
        await pubsub.aclose()
        await live.close()
    cpu1 = (_tree_cpu(ast_pid), _self_cpu(), sum(_tree_cpu(p) for p in pool.worker_pids()))
    call_min = calls * (caller_delay + c_len + 3.0) / 60.0
    row: dict[str, Any] = {
        "wall_s": round(wall, 2),
        "cpu_s_per_call_min": {k: round((b - a) / call_min, 3)
                               for k, a, b in zip(("asterisk", "controller", "stt_workers"), cpu0, cpu1)},
        "extra_channels_per_call": {"none": 0, "mixmonitor": 0, "chanspy": 4, "audiosocket": 4}[mode],
        "extra_processes_per_call": {"none": 0, "mixmonitor": 0, "chanspy": 2, "audiosocket": 0}[mode],
    }
    if mode == "none":
        return row
    onsets = {"operator": (op_on, op_end), "caller": (c_on, c_end)}
    captured: list[float] = []
    partial: list[float] = []
    final: list[float] = []
    texts: defaultdict[str, list[str]] = defaultdict(list)
    for (call_id, speaker), t_ref in speak.items():
        onset, end = onsets[speaker]
        t_speech, t_end = t_ref + onset, t_ref + end
        if (call_id, speaker) in probe.first_voiced:
            captured.append(1000 * (probe.first_voiced[(call_id, speaker)] - t_speech))
        mine = [(t, e) for t, e in events if e.get("call_id") == call_id and e.get("speaker") == speaker]
        if mine:
            partial.append(1000 * (mine[0][0] - t_speech))
        finals = [t for t, e in mine if e["final"]]
        if finals:
            final.append(1000 * (finals[0] - t_end))
        texts[speaker] += [e["text"] for _, e in mine if e["final"]]

    def summary(values: list[float]) -> dict[str, Any]:
        return {"n": len(values), "p50": round(pct(values, 50)), "max": round(max(values))} if values else {"n": 0}

    row.update(capture_ms=summary(captured), first_partial_ms=summary(partial), final_after_end_ms=summary(final),
               heard_s=[round(sum(v.get("heard_s", 0) for k, v in live.finished[c].stats.items()
                                  if isinstance(v, dict)), 2) for c in started_calls if c in live.finished],
               finals=dict(texts))
    return row
