"""Real SIP calls in through carrier trunks (issue 11, inbound and media).

SIPp plays the carrier (tests/sip.py): an INVITE from a trunk address with PCMA, PCMU and
telephone-event, the caller's line an RTP stream built here (speech, line noise, RFC 4733 or in-band
digits). Seats are the stack's demo seats, and baresip as a real SIP seat phone. The test stack's
trunks are in tests/e2e/conftest.py (TEST_TRUNKS).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests import sip
from tests.e2e.conftest import REGISTER_SECRET, REGISTER_USER, REGISTRAR
from tests.e2e.helpers import audio_seconds, kept_account, publish
from tests.e2e.test_routing_calls import Events, arrange, restore_seats, until

pytestmark = [pytest.mark.asterisk, pytest.mark.slow, pytest.mark.timeout(240)]

if sip.SIPP is None:
    pytest.skip("sipp (Debian sip-tester) is not installed", allow_module_level=True)

DEPUTY_E164, DEPUTY_NATIONAL = "+8613800001002", "013800001002"   # config/lists/deputies.csv has "+86 138 0000 1002"
KEY_AT_S = 3.0          # the caller presses 2 this long after the answer (during the menu)
SPEAK_AT_S = 4.8        # and starts describing their problem here (the describe prompt and beep are over)


def tree() -> dict[str, Any]:
    return {
        "version": 1,
        "name": "e2e-sip",
        "entry": "start",
        "lanes": {"deputy": {"label": "人大代表通道", "priority": 9},
                  "enterprise": {"label": "政企通专席", "priority": 5},
                  "general": {"label": "综合受理", "priority": 1}},
        "lists": {"deputies": "lists/deputies.csv"},
        "nodes": {
            "start": {"type": "caller_check", "checks": [{"in_list": "deputies", "goto": "deputy_q"}],
                      "default": "menu"},
            "menu": {"type": "menu", "prompt": {"text": "企业请按2。"}, "options": {"2": "enterprise_q"},
                     "timeout_s": 8, "retries": 0, "timeout_retries": 0, "on_timeout": "general_q",
                     "on_invalid": "general_q"},
            "enterprise_q": {"type": "queue", "lane": "enterprise", "announce_every_s": 0, "after": "bye",
                             "on_fail": "bye",
                             "describe": {"prompt": {"text": "请讲。"}, "max_s": 20, "silence_s": 3}},
            "general_q": {"type": "queue", "lane": "general", "announce_every_s": 0, "after": "bye",
                          "on_fail": "bye"},
            "deputy_q": {"type": "queue", "lane": "deputy", "announce_every_s": 0, "after": "bye", "on_fail": "bye"},
            "bye": {"type": "hangup", "prompt": {"text": "再见。"}},
        },
    }


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> bytes:
    """Korean speech (the test model's language) at 8 kHz, as 16-bit PCM."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    folder = tmp_path_factory.mktemp("say")
    raw = folder / "ko.raw.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-s", "140", "-w", str(raw), "안녕하세요 우리 집 앞 가로등이 고장 났어요"],
                   check=True)
    return sip.read_wav_8k(raw)


@pytest.fixture
async def trunked(fresh):
    version = await publish(fresh, tree(), "e2e sip trunks")
    handler = fresh.hotline.ivr.handler
    handler.clock = lambda: dt.datetime.now(dt.UTC)
    fresh.use(handler)

    async def rules_follow():
        return fresh.hotline.routing.lanes.version == version
    await until(rules_follow, 5, "the router to take the lanes of the published tree")
    try:
        yield fresh
    finally:
        await restore_seats(fresh)


def line(*, key: str | None = "2", inband: bool = False, speech: bytes = b"", total_s: float = 45.0,
         stop_at_s: float | None = None) -> sip.RtpStream:
    """The caller's side: line noise, the key at KEY_AT_S, speech at SPEAK_AT_S, noise to total_s
    (or nothing at all from stop_at_s: the media dies)."""
    rtp = sip.RtpStream()
    if key:
        rtp.silence(KEY_AT_S)
        rtp.inband(key, 250) if inband else rtp.rfc4733(key, 240)
    if speech:
        rtp.silence(max(0.0, SPEAK_AT_S - rtp.duration)).audio(speech)
    end = stop_at_s if stop_at_s is not None else total_s
    rtp.silence(max(0.0, end - rtp.duration))
    return rtp


def carrier(tmp_path: Path, stack, rtp: sip.RtpStream | None, *, ip: str = "127.0.0.2", name: str = "carrier",
            **kw) -> sip.Sipp:
    pcap = rtp.pcap(tmp_path / f"{name}.pcap") if rtp is not None else None
    return sip.Sipp(tmp_path / "sipp", sip.carrier_uac(pcap=pcap, **kw), ip=ip, name=name,
                    remote=f"127.0.0.1:{stack.asterisk.ports.sip}", timeout_s=90)


async def finished(p: sip.Sipp, timeout: float = 90) -> int:
    return await asyncio.to_thread(p.wait, timeout)


async def record_of(stack, call_id: str, until_key: str | None = None, timeout: float = 20) -> dict:
    calls = stack.hotline.ivr.calls

    async def get():
        rec = await calls.get(call_id)
        return rec if rec and (until_key is None or rec.get(until_key)) else None
    return await until(get, timeout, f"call {call_id}'s record" + (f" to have {until_key}" if until_key else ""))


async def ended(stack, call_id: str, timeout: float = 30) -> dict:
    return await record_of(stack, call_id, "ended", timeout)


def uniqueid_like(call_id: str) -> bool:
    return bool(re.fullmatch(r"(?:[a-z0-9-]+-)?\d+\.\d+", call_id))     # e.g. hotline-1796282845.6


# ---------------------------------------------------------------- in through the carrier's trunk


async def test_rfc4733_key_2_reaches_the_enterprise_lane_and_a_sip_seat_answers(trunked, tmp_path):
    """PCMA + RFC 4733 from the carrier; the seat is baresip, a real SIP phone registered to the hotline."""
    from agents.secrets import seat_credentials
    from hotline.app import data_dir

    stack = trunked
    if sip.BARESIP is None:
        pytest.skip("baresip is not installed")
    username, secret = seat_credentials(stack.hotline.routing.config, data_dir(stack.settings))["1005"]
    seat_voice = tmp_path / "seat.wav"
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(seat_voice), "synth", "30", "sine", "440",
                    "vol", "0.5"], check=True)
    with sip.Baresip(tmp_path / "baresip", username, secret, stack.asterisk.ports.sip, seat_voice) as phone:
        async def registered():
            return "1005/sip:" in (await asyncio.to_thread(stack.asterisk.cli, "pjsip show contacts") or "")
        await until(registered, 45, "baresip to register seat 1005", every=0.3)
        await arrange(stack, ready=[])
        await stack.hotline.routing.seats.login("1005", "8005")          # 8005: enterprise skill
        ev = Events(stack)
        await ev.mark()
        caller = "13700002222"
        with carrier(tmp_path, stack, line(), caller=f"+86{caller}", talk_ms=40000) as uac:
            cid = await ev.call_id(caller, timeout=20)
            queued = (await ev.of(cid, "call_queued"))[0]
            assert queued["lane"] == "enterprise"
            await ev.wait(lambda e: e["type"] == "call_answered" and e["call_id"] == cid, 20, "baresip to answer")
            await asyncio.sleep(2)
            await asyncio.to_thread(phone.hangup)
            assert await finished(uac) == 0, uac.log_tail()
    rec = await ended(stack, cid)
    assert uniqueid_like(cid) and rec["channel"].startswith("PJSIP/carrier-")
    assert rec["caller"] == caller and rec["did"] == "12345" and rec["trunk"] == "carrier"
    assert rec["lane"] == "enterprise" and rec["seat"] == "1005" and rec.get("answered")
    assert rec["path"][:2] == ["start", "menu"] and "enterprise_q" in rec["path"] and rec["path"][-1] == "bye"
    # the real uniqueid has a dot: the describe recording is the file Asterisk wrote, not a cut name
    # (kept compressed once speech-to-text has read it, like the call's recording)
    describe = Path((await kept_account(stack.hotline.ivr.calls, cid))["describe_recording"])
    assert describe.name == f"{cid}-enterprise_q.ogg" and describe.is_file() and describe.stat().st_size > 1000
    assert not (describe.parent / f"{cid}-enterprise_q.wav").exists()
    # one recording of the conversation kept, compressed, once the call is over
    rec = await record_of(stack, cid, "recording")

    async def kept():
        r = await stack.hotline.ivr.calls.get(cid)
        return r["recording"] if r["recording"].endswith(".ogg") else None
    ogg = Path(await until(kept, 30, "the call's recording to be compressed"))
    assert ogg.name == f"{cid}.ogg" and ogg.stat().st_size > 1000
    assert not list(ogg.parent.glob(f"{cid}-*.wav")) and not (ogg.parent / f"{cid}.wav").exists()
    # The carrier got the call answered with PCMA (first in its offer, allowed on the trunk)
    ok = uac.received("SIP/2.0 200")[0]
    assert re.search(r"m=audio \d+ RTP/AVP 8", ok), ok


async def test_in_band_dtmf_from_a_gateway(trunked, tmp_path):
    """The gateway offers no telephone-event and sends the key as a tone: dtmf_mode auto hears it."""
    stack = trunked
    await arrange(stack, ready=["1002", "1003"])
    ev = Events(stack)
    await ev.mark()
    caller = "13700003333"
    with carrier(tmp_path, stack, line(inband=True), ip="127.0.0.4", caller=caller, offer_event=False,
                 talk_ms=30000) as uac:
        cid = await ev.call_id(caller, timeout=25)
        assert (await ev.of(cid, "call_queued"))[0]["lane"] == "enterprise"
        await ev.wait(lambda e: e["type"] == "call_answered" and e["call_id"] == cid, 20, "a demo seat to answer")
        rec = await ended(stack, cid, timeout=40)
        await finished(uac)
    assert rec["trunk"] == "gateway" and rec["lane"] == "enterprise"
    offer_answer = uac.received("SIP/2.0 200")[0]
    assert "telephone-event" not in offer_answer


async def test_unknown_address_is_refused_before_any_dialplan(trunked, tmp_path):
    stack = trunked
    before = await stack.redis.zcard(stack.hotline.ivr.calls.recent_key)
    with ami_new_channels(stack) as seen:
        refused = sip.Sipp(tmp_path / "sipp", sip.refused_uac(), ip="127.0.0.3", name="stranger",
                           remote=f"127.0.0.1:{stack.asterisk.ports.sip}", timeout_s=20)
        with refused:
            assert await finished(refused, 30) == 0, refused.log_tail()
        await asyncio.sleep(1)
    answers = refused.received("SIP/2.0 4")
    assert answers and answers[0].split()[1] in ("401", "403"), refused.messages()[-2000:]
    assert not refused.received("SIP/2.0 200")
    assert seen == [], seen                                  # no channel was even created
    assert await stack.redis.zcard(stack.hotline.ivr.calls.recent_key) == before


class ami_new_channels:
    """Newchannel events while the block runs."""

    def __init__(self, stack) -> None:
        self.stack = stack
        self.got: list[str] = []

    def __enter__(self) -> list[str]:
        self.off = self.stack.ami.on_event("Newchannel", lambda e: self.got.append(e.get("Channel", "")))
        return self.got

    def __exit__(self, *exc) -> None:
        self.off()


async def test_registered_trunk_receives_calls(trunked, tmp_path):
    """The carrier challenges Asterisk's REGISTER (digest), accepts it, then sends a call to the contact."""
    stack = trunked
    await arrange(stack, ready=["1004"])
    ev = Events(stack)
    await ev.mark()
    caller = "13700004444"
    registrar = sip.Sipp(tmp_path / "sipp", sip.registrar_uas(username=REGISTER_USER, secret=REGISTER_SECRET),
                         ip=REGISTRAR[0], port=REGISTRAR[1], name="registrar", timeout_s=150)
    with registrar:
        async def registered():                  # Asterisk retries its REGISTER every 5 s (retry_s)
            return sip.registered_contact(registrar) if "200 OK" in registrar.messages() else None
        host, port, line_id = await until(registered, 30, "Asterisk to register to the carrier", every=0.3)
        # the carrier sends its call to the contact that registered; no identify lists 127.0.0.5
        uac = sip.Sipp(tmp_path / "sipp", sip.carrier_uac(pcap=line(key="0", total_s=30).pcap(tmp_path / "reg.pcap"),
                                                          caller=caller, talk_ms=25000, uri_extra=f";line={line_id}"),
                       ip=REGISTRAR[0], name="carrier-reg", remote=f"{host}:{port}", timeout_s=90)
        with uac:
            cid = await ev.call_id(caller, timeout=30)
            rec = await ended(stack, cid, timeout=50)
            assert await finished(uac) == 0, uac.log_tail()
    auth = [m for m in registrar.received("REGISTER") if "Authorization:" in m]
    assert auth and f'username="{REGISTER_USER}"' in auth[0], registrar.messages()[-3000:]
    assert rec["trunk"] == "registered" and rec["caller"] == caller
    assert rec["lane"] == "general"


@pytest.mark.parametrize("presented", [DEPUTY_E164, DEPUTY_NATIONAL])
async def test_deputy_numbers_in_any_form_reach_the_deputies_lane(trunked, tmp_path, presented):
    stack = trunked
    await arrange(stack, ready=["1001"])
    ev = Events(stack)
    await ev.mark()
    with carrier(tmp_path, stack, line(key=None, total_s=30), caller=presented, talk_ms=25000) as uac:
        cid = await ev.call_id("13800001002", timeout=20)
        assert (await ev.of(cid, "call_queued"))[0]["lane"] == "deputy"
        rec = await ended(stack, cid, timeout=40)
        await finished(uac)
    assert rec["caller"] == "13800001002" and rec["lane"] == "deputy" and rec["path"][:2] == ["start", "deputy_q"]


async def test_withheld_number(trunked, tmp_path):
    """An anonymous caller: no number on the record, no repeat-caller link, still served."""
    stack = trunked
    await arrange(stack, ready=["1002"])
    calls = stack.hotline.ivr.calls
    ev = Events(stack)
    await ev.mark()
    with carrier(tmp_path, stack, line(key="0", total_s=30), caller="anonymous", from_display="Anonymous",
                 talk_ms=25000) as uac:
        async def queued():
            return next((e["call_id"] for e in await ev.read() if e["type"] == "call_queued"), None)
        cid = await until(queued, 20, "the withheld call to be queued")
        rec = await ended(stack, cid, timeout=40)
        await finished(uac)
    assert rec["caller"] == "" and rec["withheld"] == "1" and rec["lane"] == "general"
    assert (await calls.recent_calls("", [30])) == {30: 0}
    assert not await stack.redis.exists(calls._caller_key(""))


# ---------------------------------------------------------------- media


async def test_spoken_account_is_recorded_transcribed_and_on_the_draft(trunked, tmp_path, speech):
    """Speech in the carrier's RTP -> the describe recording -> real vosk -> draft ticket and call record."""
    stack = trunked
    if stack.hotline.speech.pool is None:
        pytest.skip("no vosk model installed")
    await arrange(stack, ready=["1002", "1003"])
    ev = Events(stack)
    await ev.mark()
    caller = "13700005555"
    with carrier(tmp_path, stack, line(speech=speech), caller=caller, talk_ms=40000) as uac:
        cid = await ev.call_id(caller, timeout=30)
        rec = await record_of(stack, cid, "ticket", timeout=60)
        await ended(stack, cid, timeout=40)
        await finished(uac)
    rec = await kept_account(stack.hotline.ivr.calls, cid)
    assert rec["describe_ended"] == "silence", rec
    describe = Path(rec["describe_recording"])
    assert describe.suffix == ".ogg", describe                 # kept compressed once transcribed
    heard_s = audio_seconds(describe)
    speech_s = len(speech) / 2 / 8000
    assert heard_s >= speech_s * 0.8, (heard_s, speech_s)
    text = rec["transcript"]
    assert any("\uac00" <= ch <= "\ud7a3" for ch in text), f"no Korean words in {text!r}"
    ticket = await stack.hotline.tickets.store.get(rec["ticket"])
    assert ticket.status == "draft" and text in ticket.transcript and ticket.recording == str(describe)


async def test_describe_ended_by_no_media(trunked, tmp_path, speech):
    """The carrier stops sending RTP during the account (silence suppression): the recording ends on
    no media, not at its 20 s maximum."""
    stack = trunked
    await arrange(stack, ready=["1002"])
    ev = Events(stack)
    await ev.mark()
    caller = "13700006666"
    rtp = sip.RtpStream().silence(KEY_AT_S).rfc4733("2", 240).silence(SPEAK_AT_S - KEY_AT_S - 0.3).audio(speech)
    rtp.gap(12).silence(30)                       # nothing for 12 s, then the line again
    with carrier(tmp_path, stack, rtp, caller=caller, talk_ms=45000) as uac:
        cid = await ev.call_id(caller, timeout=40)
        rec = await record_of(stack, cid, "describe_ended", timeout=5)
        await ended(stack, cid, timeout=40)
        await finished(uac)
    assert rec["describe_ended"] == "no_media", rec
    rec = await kept_account(stack.hotline.ivr.calls, cid)
    assert audio_seconds(rec["describe_recording"]) < 12      # not held for the 12 s without media, nor 20 s


async def test_dead_media_without_bye_is_torn_down_after_rtp_timeout(trunked, tmp_path):
    """The carrier's media stops and no BYE ever comes: rtp_timeout (4 s on this trunk) hangs up."""
    stack = trunked
    ev = Events(stack)
    await ev.mark()
    caller = "13700007777"
    rtp = line(key=None, stop_at_s=1.5)
    calls = stack.hotline.ivr.calls
    uac = carrier(tmp_path, stack, rtp, ip="127.0.0.6", caller=caller, send_bye=False, wait_bye_ms=30000)
    t0 = time.monotonic()
    with uac:
        async def started():
            for rec in await calls.latest(5):
                if rec.get("caller") == caller:
                    return rec["call_id"]
            return None
        cid = await until(started, 15, "the call to start")
        rec = await ended(stack, cid, timeout=30)
        took = time.monotonic() - t0
        assert await finished(uac, 30) == 0, uac.log_tail()
    assert rec["end_reason"] == "rtp_timeout", rec
    assert rec["trunk"] == "shortlived"
    assert 4 <= took < 20, took
    assert uac.received("BYE"), "the hotline did not send its BYE"


# ---------------------------------------------------------------- hotline calls recent


async def test_calls_recent_lists_a_sip_call(trunked, tmp_path):
    """`hotline calls recent --json` on the running hotline: the latest call first, masked unless asked."""
    import json
    import sys

    stack = trunked
    stack.write_ready(stack.ready_info())
    caller = "13700008888"
    with carrier(tmp_path, stack, line(key=None, total_s=10), caller=caller, talk_ms=3000) as uac:
        assert await finished(uac, 30) == 0, uac.log_tail()
    calls = stack.hotline.ivr.calls

    async def latest():
        recs = await calls.latest(1)
        return recs[0] if recs and recs[0].get("caller") == caller and recs[0].get("ended") else None
    rec = await until(latest, 15, "the call to be over")
    exe = [sys.executable, "-m", "hotline.cli", "calls", "recent", "--run", str(stack.run), "--limit", "3"]
    out = await asyncio.to_thread(subprocess.run, exe + ["--json"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert 1 <= len(rows) <= 3
    first = rows[0]
    for key in ("call_id", "channel", "caller", "did", "path", "lane", "seat", "end_reason", "recordings", "ticket",
                "node"):
        assert key in first, key
    assert first["call_id"] == rec["call_id"] and first["channel"].startswith("PJSIP/carrier-")
    assert first["caller"] == "137****8888" and first["did"] == "12345"
    assert first["path"] == rec["path"] and first["path"][:2] == ["start", "menu"]
    assert first["end_reason"] == "caller_hangup" and first["node"] == stack.node
    assert all(Path(p).is_absolute() for p in first["recordings"])
    started = [r["started"] for r in rows]
    assert started == sorted(started, reverse=True)          # newest first
    full = await asyncio.to_thread(subprocess.run, exe + ["--json", "--unmasked"], capture_output=True, text=True,
                                   timeout=60)
    assert json.loads(full.stdout)[0]["caller"] == caller
    text = await asyncio.to_thread(subprocess.run, exe, capture_output=True, text=True, timeout=60)
    assert rec["call_id"] in text.stdout and caller not in text.stdout
