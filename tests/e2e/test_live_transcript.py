"""The conversation transcribed live: a real call answered by a demo seat,
both directions captured by ChanSpy into the EAGI reader (pbx/live_audio.py),
recognised by the real vosk pool, published on `hotline:live` and kept on
the call and its draft ticket."""
from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from devstack.simcall import place_call
from dialplan.hotline import SIM_CALLER
from ivr.loader import parse_file
from kernel.notify import LIVE_CHANNEL
from pbx import contract as V
from tests.e2e.helpers import publish

pytestmark = pytest.mark.asterisk

DATA = Path(__file__).resolve().parent.parent / "data"
VIP = "13800001001"                      # in lists/deputies.csv: straight to a queue, no menu


def korean(folder: Path, name: str, text: str) -> str:
    """Speech the test model (Korean) recognises, at 8 kHz; the path without extension for Playback."""
    raw, out = folder / f"{name}.raw.wav", folder / f"{name}.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-s", "140", "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(out), "pad", "0.3", "0.8"], check=True)
    return str(out.with_suffix(""))


@pytest.fixture(scope="module")
def voices(tmp_path_factory) -> tuple[str, str]:
    folder = tmp_path_factory.mktemp("live")
    return (korean(folder, "caller", "안녕하세요 우리 집 앞 가로등이 고장 났어요"),
            korean(folder, "operator", "감사합니다 무엇을 도와 드릴까요"))


async def test_conversation_is_transcribed_live_with_speakers(fresh, voices):
    live_stt = fresh.hotline.live.transcriber
    if live_stt is None:
        pytest.skip("no vosk model installed")
    caller_wav, operator_wav = voices
    await publish(fresh, parse_file(DATA / "ivr" / "e2e_nodes.yaml").data, "e2e nodes")
    fresh.use(fresh.hotline.ivr.handler)

    events: list[dict] = []
    operator_final = asyncio.Event()
    pubsub = fresh.redis.pubsub()
    await pubsub.subscribe(LIVE_CHANNEL)

    async def listen() -> None:
        async for message in pubsub.listen():
            if message["type"] != "message":
                continue
            event = json.loads(message["data"])
            events.append(event)
            if event.get("type") == "transcript" and event["speaker"] == "operator" and event["final"]:
                operator_final.set()

    answered: asyncio.Future = asyncio.get_running_loop().create_future()

    def on_event(e) -> None:
        if e.name == "UserEvent" and e.get("UserEvent") == "HotlineAnswered" and not answered.done():
            answered.set_result(e)

    unsubscribe = fresh.ami.on_event("UserEvent", on_event)
    listener = asyncio.create_task(listen())
    call = asyncio.create_task(place_call(
        fresh.ami, caller=VIP, hold=40, timeout=60,
        variables={"__DEMO_SAY": operator_wav, "__DEMO_TALK_S": "6", "__DEMO_LINE": "1"}))
    try:
        answer = await asyncio.wait_for(answered, 20)
        call_id = answer.get("CallId")
        # The caller speaks once the operator has said their piece (a turn each).
        await asyncio.wait_for(operator_final.wait(), 25)
        caller_uid = answer.get("Linkedid")
        channels = await fresh.ami.core_show_channels()
        channel = next(c.channel for c in channels if c.uniqueid == caller_uid)
        await fresh.ami.setvar(channel, V.SIM_WAV, caller_wav)
        await fresh.ami.redirect(channel, SIM_CALLER, "say", 1)
        result = await call
        for _ in range(100):                          # the streams end after the seat hangs up
            if call_id in live_stt.finished:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)                      # the last pub/sub messages
    finally:
        unsubscribe()
        listener.cancel()
        await pubsub.aclose()
    assert result.completed and call_id == result.ivr_uniqueid

    mine = [e for e in events if e.get("call_id") == call_id and e.get("type") == "transcript"]
    assert mine, events
    for e in mine:                                     # the contract, exactly
        assert set(e) == {"type", "call_id", "speaker", "text", "final", "seq", "ts"}
        assert e["speaker"] in ("caller", "operator") and isinstance(e["text"], str) and e["text"]
    assert [e["seq"] for e in mine] == list(range(1, len(mine) + 1))      # in order, none lost
    assert [e["ts"] for e in mine] == sorted(e["ts"] for e in mine)
    by_speaker = {s: [e for e in mine if e["speaker"] == s] for s in ("operator", "caller")}
    for speaker, evs in by_speaker.items():
        finals = [i for i, e in enumerate(evs) if e["final"]]
        assert finals, (speaker, evs)
        assert not evs[0]["final"], f"{speaker}: a partial comes before the first final"
        assert any(any("\uac00" <= ch <= "\ud7a3" for ch in evs[i]["text"]) for i in finals), evs
    # A turn each: the operator's first final came before anything the caller said.
    first_caller = min(e["seq"] for e in by_speaker["caller"])
    first_op_final = min(e["seq"] for e in by_speaker["operator"] if e["final"])
    assert first_op_final < first_caller

    # What the pool itself heard, per direction.
    stats = live_stt.finished[call_id].stats
    for speaker in ("caller", "operator"):
        assert stats[speaker]["heard_s"] > 2.0 and stats[speaker]["partials"] >= 1, stats
        assert stats[speaker]["finals"] == len([e for e in by_speaker[speaker] if e["final"]]), stats
        assert "error" not in stats[speaker] and stats[speaker]["dropped_bytes"] == 0, stats

    # The finals are kept as speaker turns on the call and on its draft ticket.
    finals = [{"speaker": e["speaker"], "text": e["text"]} for e in mine if e["final"]]
    record = await fresh.hotline.ivr.calls.get(call_id)
    assert [{"speaker": t["speaker"], "text": t["text"]} for t in record["live_transcript"]] == finals
    ticket = await fresh.hotline.tickets.store.get(record["ticket"])
    assert [{"speaker": t["speaker"], "text": t["text"]} for t in ticket.turns] == finals
    assert ticket.transcript.split("\n") == [f["text"] for f in finals] and ticket.status == "draft"
    drafts = [i for i, e in enumerate(events) if e.get("type") == "draft_ticket" and e.get("call_id") == call_id]
    assert len(drafts) == len(finals)                  # refreshed after every final
    assert all(e["ticket"] == ticket.id for e in (events[i] for i in drafts))
    print("\n" + "\n".join(f"{e['seq']:3d} {e['speaker']:8s} {'F' if e['final'] else 'p'} {e['text']}" for e in mine))
