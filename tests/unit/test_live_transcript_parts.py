"""Live transcription parts without Asterisk: the event contract, the capture
choice rule, the dialplan, MixMonitor file tailing, the EAGI audio listener,
and LiveTranscriber on the scripted engine (fake pool workers)."""
from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from bench.live import choose
from dialplan.hotline import LIVE_SPY, ON_ANSWER, DialplanSpec, render
from kernel.notify import LiveEvent
from pbx.live_audio import LiveAudioServer, SpyCapture, install_script
from recordings.audio import from_samples, silence
from recordings.live import FileTail, LiveTranscriber, transcript_event
from recordings.stt.engine import Final, Partial
from recordings.stt.fake import ScriptedEngineFactory
from recordings.stt.pool import PoolConfig, STTPool


def test_transcript_event_is_exactly_the_contract():
    e = transcript_event("c1", "caller", Partial("你好", 0.0, 0.4), 3, 1700000000.5)
    assert e.to_json() == ('{"type": "transcript", "call_id": "c1", "speaker": "caller", "text": "你好", '
                           '"final": false, "seq": 3, "ts": 1700000000.5}')
    assert transcript_event("c1", "operator", Final("好的", 0.0, 1.0), 4, 1.0).to_dict()["final"] is True


def _row(capture_p50: float, asterisk: float, controller: float, partial: float = 900) -> dict:
    return {"capture_ms": {"n": 2, "p50": capture_p50, "max": capture_p50},
            "first_partial_ms": {"n": 2, "p50": partial, "max": partial},
            "cpu_s_per_call_min": {"asterisk": 1.0, "controller": 1.0},
            "extra_cpu_s_per_call_min": {"asterisk": asterisk, "controller": controller},
            "extra_channels_per_call": 0, "extra_processes_per_call": 0}


def test_capture_choice_is_latency_first_then_cpu():
    measured = {"none": {"cpu_s_per_call_min": {"asterisk": 1, "controller": 0}},
                "mixmonitor": _row(780, 0.1, 0.8), "chanspy": _row(8, 1.7, 2.1)}
    assert choose(measured)["mode"] == "chanspy"                     # 0.8 s behind is not close
    measured["mixmonitor"] = _row(60, 0.1, 0.8)                      # were the files unbuffered...
    assert choose(measured)["mode"] == "mixmonitor"                  # ...the cheaper one would win
    assert choose({"none": measured["none"]}) is None


def test_dialplan_has_the_spy_context_and_tells_where_the_recording_is():
    text = render(DialplanSpec(agi_url="agi://127.0.0.1:1", prompts={"demo_reply": "/r", "line_silence": "/s"}))
    spy = text[text.index(f"[{LIVE_SPY}]"):]
    assert "exten => spy,1,Answer()" in spy and "ChanSpy(${LIVE_SPY_TARGET},qoES)" in spy
    on_answer = text[text.index(f"[{ON_ANSWER}]"):]
    assert "UserEvent(HotlineAnswered,CallId: ${ARG2},Seat: ${ARG3},Rec: ${ARG1})" in on_answer
    demo = text[text.index("[hotline-demo-seat]"):]
    assert "DEMO_SAY" in demo and "TIMEOUT(absolute)=${talk}" in demo and "Wait(${talk})" in demo


async def test_file_tail_follows_a_growing_wav_and_ends_after_stop(tmp_path):
    path = tmp_path / "x-caller.wav"
    tail = FileTail(path, poll_s=0.01, appear_timeout_s=2.0)
    got: list[bytes] = []

    async def read() -> None:
        async for data in tail.chunks():
            got.append(data)

    reader = asyncio.create_task(read())
    await asyncio.sleep(0.05)
    with path.open("wb") as fh:                     # appears late, header first, then frames
        fh.write(b"H" * 44)
        for i in range(5):
            fh.write(bytes([i]) * 320)
            fh.flush()
            await asyncio.sleep(0.03)
        tail.stop.set()
        fh.write(b"\x09" * 320)                     # written after the hangup: still read
        fh.flush()
    await asyncio.wait_for(reader, 2)
    data = b"".join(got)
    assert data == b"".join(bytes([i]) * 320 for i in range(5)) + b"\x09" * 320
    assert tail.bytes_read == len(data)
    never = FileTail(tmp_path / "never.wav", poll_s=0.01, appear_timeout_s=0.1)
    assert [d async for d in never.chunks()] == []


async def test_eagi_script_forwards_fd3_to_the_listener(tmp_path):
    """The real EAGI script, run as Asterisk runs it: AGI environment on stdin, audio on fd 3."""
    server = LiveAudioServer()
    await server.start()
    script = install_script(tmp_path / "agi-bin")
    audio = bytes(range(256)) * 50
    key = server.expect("c1|caller")
    r, w = os.pipe()
    proc = await asyncio.create_subprocess_exec(                 # fd 3 = the pipe's read end
        "/bin/bash", "-c", f'exec "$0" "$@" 3<&{r}', str(script), "127.0.0.1", str(server.port), "c1|caller",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, pass_fds=(r,))
    proc.stdin.write(b"agi_request: x\nagi_channel: Local/spy@x;1\n\n")
    await proc.stdin.drain()
    assert await asyncio.wait_for(proc.stdout.readline(), 10) == b"GET VARIABLE LIVE_AUDIO_KEY\n"
    proc.stdin.write(f"200 result=1 ({key})\n".encode())      # what Asterisk answers
    await proc.stdin.drain()
    os.close(r)
    os.write(w, audio)
    os.close(w)
    got = b"".join([d async for d in server.chunks("c1|caller", connect_timeout_s=10)])
    assert await asyncio.wait_for(proc.wait(), 10) == 0
    assert got == audio
    # A connection for a stream nobody expects is refused; a stream that never connects ends.
    assert [d async for d in server.chunks("nobody", connect_timeout_s=0.1)] == []
    await server.close()


class _FakeAMI:
    def __init__(self) -> None:
        self.originated: list[dict] = []

    async def originate(self, channel: str, **kw) -> dict:
        self.originated.append({"channel": channel, **kw})
        return {}


async def test_spy_capture_originates_one_spy_per_direction(tmp_path):
    server = LiveAudioServer()
    await server.start()
    ami = _FakeAMI()
    capture = SpyCapture(lambda: ami, server, Path("/x/hotline-live-audio"), LIVE_SPY)
    sources = await capture.open("c9", {"caller": "PJSIP/trunk-1", "operator": "PJSIP/seat1001-2"})
    assert set(sources) == {"caller", "operator"}
    assert [(o["channel"], o["context"], o["exten"]) for o in ami.originated] == [
        (f"Local/spy@{LIVE_SPY}/n", LIVE_SPY, "eagi")] * 2
    assert "application" not in ami.originated[0]          # Originate of EAGI needs AMI `system`
    for o, speaker, target in zip(ami.originated, ("caller", "operator"), ("PJSIP/trunk-1", "PJSIP/seat1001-2")):
        assert o["variables"] == {
            "LIVE_SPY_TARGET": target, "LIVE_AUDIO_KEY": server._streams[f"c9|{speaker}"].key,
            "LIVE_EAGI_ARGS": f"/x/hotline-live-audio,127.0.0.1,{server.port},c9|{speaker}"}
    keys = [o["variables"]["LIVE_AUDIO_KEY"] for o in ami.originated]
    assert len(set(keys)) == 2 and all(len(k) >= 24 for k in keys)      # one secret per stream
    await server.close()


async def test_live_transcriber_on_scripted_workers_publishes_both_speakers_in_order():
    """Loud audio is words for the scripted engine: partials, then a final on quiet, per speaker."""
    pool = STTPool(ScriptedEngineFactory(), PoolConfig(workers=1, start_method="spawn"))
    await pool.start()
    events: list[dict] = []

    async def publish(e: LiveEvent) -> None:
        events.append(e.to_dict())

    loud = from_samples([8000, -8000] * 4000)                    # 1 s at 8 kHz
    quiet = silence(1.5, 8000)

    async def chunks(data: bytes):
        for i in range(0, len(data), 320):
            yield data[i:i + 320]
            await asyncio.sleep(0)

    try:
        live = LiveTranscriber(pool, publish)
        call = live.start("c1", {"caller": chunks(quiet + loud + quiet), "operator": chunks(loud + quiet)})
        await asyncio.wait_for(call.task, 30)
    finally:
        await pool.close()
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    for speaker in ("caller", "operator"):
        mine = [e for e in events if e["speaker"] == speaker]
        assert mine and not mine[0]["final"] and mine[-1]["final"], mine
        assert call.stats[speaker]["finals"] == 1 and call.stats[speaker]["partials"] >= 1
    assert [t["speaker"] for t in call.turns] == [e["speaker"] for e in events if e["final"]]
    assert call.stats["caller"]["heard_s"] == pytest.approx(4.0) and call.stats["operator"]["heard_s"] == 2.5
