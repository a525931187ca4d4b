"""Calls out through real SIP trunks (issue 11, the outbound half; issue 12 item 1).

A stack of its own with two outbound trunks, tried in order: ``first`` (a SIPp
stand-in on 127.0.0.4 that answers every INVITE with 503) and ``carrier`` (a
SIPp stand-in on 127.0.0.3 that answers with real RTP from SIPp's g711a.pcap:
the 110/12366 and the citizen's line). What leaves the hotline is asserted from
the SIP messages the stand-ins receive: request URI, From, P-Asserted-Identity.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import socket
from pathlib import Path

import aiohttp
import pytest

from agents.model import WaitingCall
from dialplan.trunks import parse_trunks
from pbx import contract as V
from pbx.contract import seat_interface
from tests.e2e.conftest import Stack
from tests.e2e.conftest import test_settings as settings_for
from tests.e2e.helpers import publish
from tests.e2e.sipp_out import SeatPhone, StandIn
from tests.e2e.test_routing_calls import TREE, Events, ami_events, arrange, call, new_number, restore_seats, until
from tests.e2e.test_transfer_calls import answered_at_seat, seat_not_on_call

pytestmark = [pytest.mark.asterisk, pytest.mark.slow]

CARRIER, REFUSER = "127.0.0.3", "127.0.0.4"
HOTLINE_CID = "12345"


def free_udp(ip: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ports():
    return {"carrier": free_udp(CARRIER), "first": free_udp(REFUSER)}


@pytest.fixture(scope="module")
async def outstack(tmp_path_factory, ports):
    from hotline.app import compose

    run = tmp_path_factory.mktemp("outstack")
    data = tmp_path_factory.mktemp("outdata")
    problems: list[str] = []
    trunks = parse_trunks({                     # only these (not the shared stack's inbound trunks)
        "first": {"outbound": f"sip:{REFUSER}:{ports['first']}", "caller_id": HOTLINE_CID},
        "carrier": {"outbound": f"sip:{CARRIER}:{ports['carrier']}", "caller_id": HOTLINE_CID}}, problems)
    assert not problems
    settings = dataclasses.replace(settings_for(
        storage={"data_dir": str(data)}, stt={"model": "", "workers": 1, "live": False},
        dialling={"per_number_per_hour": 50}), trunks=trunks)
    # compose: the controller's AMI session as deployed (only the event classes it uses:
    # pbx.ami.CONTROLLER_EVENTS), so callbacks, transfers, REFER and supervision are shown to work on
    # what it receives; the tests watch on a session of their own.
    st = compose(settings, run, demo_seats=4, persistent_redis=False, runtime=Stack)
    await st.start()
    try:
        await st.watch_events()
        version = await publish(st, TREE, "e2e calls out")
        handler = st.hotline.ivr.handler
        handler.clock = lambda: dt.datetime.now(dt.UTC)
        st.use(handler)
        await until(lambda: _lanes(st, version), 5, "the router to take the published lanes")
        yield st
    finally:
        await st.stop()


async def _lanes(st, version):
    return st.hotline.routing.lanes.version == version


@pytest.fixture
async def out(outstack, tmp_path, ports):
    """The stack plus both stand-ins, running for the test; the demo seats ready again after."""
    with StandIn(tmp_path, REFUSER, ports["first"], refuse=503) as first, \
            StandIn(tmp_path, CARRIER, ports["carrier"], answer_s=4) as carrier:
        outstack.far = {"first": first, "carrier": carrier}
        try:
            yield outstack
        finally:
            await restore_seats(outstack)


def assert_presents_the_hotline(invite, citizen: str | None = None) -> None:
    """From and P-Asserted-Identity carry the hotline's number; nothing of the citizen's; ASCII only."""
    assert invite.user("From") == HOTLINE_CID, invite.header("From")
    assert invite.header("P-Asserted-Identity") is not None, invite.headers
    assert invite.user("P-Asserted-Identity") == HOTLINE_CID, invite.header("P-Asserted-Identity")
    for name in ("From", "P-Asserted-Identity", "Remote-Party-ID"):
        value = invite.header(name) or ""
        assert value.isascii(), (name, value)                     # never 回拨 or any UTF-8 display name
        assert invite.display(name) in ("", HOTLINE_CID), (name, value)
        if citizen:                                                # (the address, not its random tag)
            assert citizen not in value.split(">")[0], (name, value)
    assert "m=audio" in invite.body and "RTP/AVP 8" in invite.body.replace("RTP/AVP 0 8", "RTP/AVP 8")


# ---------------------------------------------------------------- transfers


async def test_three_way_transfer_to_110_leaves_through_the_trunk_after_a_503(out):
    stack = out
    first, carrier = stack.far["first"], stack.far["carrier"]
    transfers = stack.hotline.transfers.service
    await arrange(stack, ready=["1003"])
    ev = Events(stack)
    await ev.mark()
    number = new_number()
    with ami_events(stack) as seen:
        placed = asyncio.ensure_future(call(stack, caller=number))
        cid = await answered_at_seat(stack, ev, number, "1003")
        t = await transfers.request(cid, "1003", "8003", "police", "three_way")
        invite = await asyncio.to_thread(carrier.wait_invite, 20)
        result, rec = await placed
        await until(lambda: seat_not_on_call(stack, "1003"), 15, "seat 1003 to leave the call")
        settled = list(seen)

    # failover: the first trunk was tried and answered 503, then the carrier took the call
    (refused,) = first.invites()
    assert refused.request_user == "110"
    assert_presents_the_hotline(refused, number)
    assert invite.request_user == "110"
    assert_presents_the_hotline(invite, number)
    tries = [(e.get("Trunk"), e.get("Status")) for e in settled
             if e.name == "UserEvent" and e.get("UserEvent") == "HotlineOutTry"]
    assert tries[0] == ("first", "CONGESTION"), tries
    # the carrier's leg (real SIP, with RTP) was in the call's conference with the caller and the operator
    conf = f"hl-{cid}"
    joined = [e.get("Channel") for e in settled if e.name == "ConfbridgeJoin" and e.get("Conference") == conf]
    assert rec["channel"] in joined and any(c.startswith("Local/110@hotline-out-") for c in joined), joined
    trunk_legs = [e for e in settled if e.name == "DialEnd" and e.get("DestChannel", "").startswith("PJSIP/carrier-")]
    assert [e.get("DialStatus") for e in trunk_legs] == ["ANSWER"]
    assert any(m.first_line.startswith("ACK ") for m in carrier.messages())
    (x,) = rec["transfers"]
    assert (x["target"], x["number"], x["mode"]) == ("police", "110", "three_way")
    assert x["answered_at"] and x["result"] in ("connected", "completed"), x
    assert result.completed and t.number == "110"


async def test_blind_transfer_to_12366_leaves_through_the_trunk(out):
    stack = out
    carrier = stack.far["carrier"]
    await arrange(stack, ready=["1002"])
    ev = Events(stack)
    await ev.mark()
    number = new_number()
    placed = asyncio.ensure_future(call(stack, caller=number))
    cid = await answered_at_seat(stack, ev, number, "1002")
    await stack.hotline.transfers.service.request(cid, "1002", "8002", "tax", "blind")
    invite = await asyncio.to_thread(carrier.wait_invite, 20)
    result, rec = await placed
    assert invite.request_user == "12366"
    assert_presents_the_hotline(invite, number)                  # the caller's own leg dialled it
    (x,) = rec["transfers"]
    assert (x["number"], x["state"], x["result"]) == ("12366", "done", "connected")


# ---------------------------------------------------------------- callbacks


async def test_callback_leaves_through_the_trunk_with_the_hotline_caller_id(out):
    stack = out
    carrier = stack.far["carrier"]
    router = stack.hotline.routing.router
    await arrange(stack, ready=[])
    ev = Events(stack)
    await ev.mark()
    number = "+86" + new_number()                      # as a carrier presents it: dialled in national form
    national = number[3:]
    cid = f"cbtest-{national}"
    calls = stack.hotline.ivr.calls                    # the call's record, as the IVR walk leaves it
    await calls.started(cid, caller=national, caller_name="", did="12345", version=1, channel="PJSIP/carrier-test")
    await calls.queued(cid, "general")
    await calls.callback_requested(cid, number)
    await router.enqueue(WaitingCall(cid, "general", national, node=stack.node))
    await router.request_callback(cid, number)
    with ami_events(stack) as seen:
        await stack.hotline.routing.seats.ready("1002")
        invite = await asyncio.to_thread(carrier.wait_invite, 30)
        await ev.wait(lambda e: e["type"] == "call_ended" and e["call_id"] == cid, 40, "the callback to end")
        settled = list(seen)
    assert invite.request_user == national
    assert_presents_the_hotline(invite, national)
    results = [e.get("Status") for e in settled if e.name == "UserEvent"
               and e.get("UserEvent") == "HotlineCallbackResult" and e.get("CallId") == cid]
    assert results == ["ANSWER"], results
    rec = await stack.hotline.ivr.calls.get(cid) or {}
    assert rec.get("status") == "callback_connected", rec


# ---------------------------------------------------------------- a supervisor's phone


async def web_session(stack, role: str = "supervisor") -> tuple[aiohttp.ClientSession, dict[str, str], str]:
    """A real account logged in to the stack's web server: (session, headers with the CSRF token, url)."""
    import time
    import uuid

    from web.accounts import Accounts, Role
    from web.config import WebConfig
    from web.keys import CONFIG

    username, password = f"sup-{uuid.uuid4().hex[:8]}", f"Pw-{uuid.uuid4().hex[:12]}"
    await Accounts(stack.redis, WebConfig().hasher, time.time).create(username, password, Role.parse(role), "班长")
    url = f"http://{stack.settings.web.host or stack.settings.network.host}:{stack.web_port}"
    http = aiohttp.ClientSession()
    async with http.post(url + "/api/login", json={"username": username, "password": password}) as r:
        assert r.status == 200, await r.text()
        token = (await r.json())["csrf_token"]
        name = stack.web_runner.app[CONFIG].cookie
        cookie = r.cookies[name].value
    return http, {"Cookie": f"{name}={cookie}", "X-CSRF-Token": token}, url


async def test_a_supervisor_listens_from_a_mobile_through_the_trunk(out):
    """POST /api/supervise with the supervisor's mobile: the call out leaves through the trunks in
    order (the first answers 503, the carrier takes it) presenting the hotline's number, and once the
    mobile answers its ChanSpy is on the seat's channel."""
    stack = out
    first, carrier = stack.far["first"], stack.far["carrier"]
    await arrange(stack, ready=["1003"])
    ev = Events(stack)
    await ev.mark()
    number = new_number()
    mobile = "13912340000"
    http, headers, url = await web_session(stack)
    try:
        with ami_events(stack) as seen:
            placed = asyncio.ensure_future(call(stack, caller=number, variables={"__DEMO_TALK_S": "15"}))
            cid = await answered_at_seat(stack, ev, number, "1003")
            async with http.post(url + "/api/supervise", headers=headers,
                                 json={"seat": "1003", "mode": "listen", "number": "+86" + mobile}) as r:
                assert r.status == 202, await r.text()
                data = await r.json()
            invite = await asyncio.to_thread(carrier.wait_invite, 20)

            async def spying():
                return next((e for e in seen if e.name == "ChanSpyStart"
                             and e.get("SpyerChannel", "").startswith(f"Local/{mobile}@hotline-out-")), None)
            start = await until(spying, 20, "the mobile's ChanSpy to join the seat's call")
            async with http.post(url + "/api/supervise", headers=headers,     # abroad: refused, nothing dialled
                                 json={"seat": "1003", "mode": "listen", "number": "008821234567"}) as r:
                assert r.status == 400 and (await r.json())["error"] == "number_refused"
            await placed
    finally:
        await http.close()
    assert (data["phone"], data["external"], data["call_id"]) == ("139****0000", True, cid)
    assert start.get("SpyeeChannel", "").startswith("Local/1003@hotline-demo-seat-"), start
    assert invite.request_user == mobile                              # the canonical national form
    assert_presents_the_hotline(invite, number)                       # the hotline's number, not the seat's
    assert [m.request_user for m in first.invites()] == [mobile]      # tried first (503), failed over
    assert all(m.request_user == mobile for m in carrier.invites())


# ---------------------------------------------------------------- injection (issue 12, item 1)

INJECTIONS = ["4444&Local/5555", "1380000,,,,1234", "008821234567", "1" * 40, "13800001234,tT(hotline-ivr)"]


async def test_injected_callback_numbers_are_refused_and_nothing_is_dialled(out):
    """Stored as the callback number (a caller ID or a typed number): the controller refuses each
    before any Originate; no INVITE reaches either trunk."""
    stack = out
    router = stack.hotline.routing.router
    await arrange(stack, ready=[])
    ev = Events(stack)
    await ev.mark()
    ids = []
    for i, bad in enumerate(INJECTIONS):
        cid = f"inject-{i}-{new_number()}"
        ids.append(cid)
        await router.enqueue(WaitingCall(cid, "general", None, node=stack.node))
        await router.request_callback(cid, bad)
    with ami_events(stack) as seen:
        await stack.hotline.routing.seats.ready("1004")

        async def all_settled():
            states = [await router.call(c) for c in ids]
            return all(s is None or not s.callback or s.phase.value not in ("waiting", "ringing", "on_call")
                       for s in states) or None
        try:
            await until(all_settled, 30, "the refused callbacks to be settled")
        except AssertionError:
            pass                                           # still retrying is fine: nothing may be dialled
        await asyncio.sleep(1.0)
        settled = list(seen)
    originated = [e for e in settled if e.name in ("OriginateResponse", "DialBegin", "Newchannel")
                  and any(c in (e.get("Uniqueid", "") + e.get("Channel", "")) for c in ("cb-inject",))]
    assert originated == []
    dials = [e.get("DestChannel", "") for e in settled if e.name == "DialBegin"]
    assert not any("5555" in d or "@hotline-out" in d or d.startswith("PJSIP/first") or d.startswith("PJSIP/carrier")
                   for d in dials), dials
    for far in stack.far.values():
        assert far.invites() == [], [m.first_line for m in far.invites()]


@pytest.mark.parametrize("bad", INJECTIONS)
async def test_dialplan_refuses_a_callback_number_even_if_the_controller_passed_it(out, bad):
    """Defence in depth: the seat answers a callback Originate whose CB_NUM the policy would refuse;
    the dialplan refuses it too (not digits, too long: the callback context; 00 abroad: hotline-out)
    and no INVITE leaves."""
    stack = out
    await arrange(stack, ready=[])
    chan_id = f"cbinject-{new_number()}"
    with ami_events(stack) as seen:
        await stack.ami.originate(seat_interface("1004", demo=True), context=V.CALLBACK, exten="s",
                                  caller_id='"Callback" <1004>', timeout_ms=10000, channel_id=chan_id,
                                  variables={V.CB_NUM: bad, V.CB_REC: "/tmp/none", V.CB_CALL_ID: chan_id,
                                             V.CB_SEAT: "1004"})

        async def reported():
            return [e.get("Status") for e in seen if e.name == "UserEvent"
                    and e.get("UserEvent") == "HotlineCallbackResult" and e.get("CallId") == chan_id] or None
        statuses = await until(reported, 15, "the callback context's result")
        await asyncio.sleep(0.5)
        settled = list(seen)
    dials = [e.get("DestChannel", "") for e in settled if e.name == "DialBegin"]
    if bad.isdigit() and len(bad) <= 20:                     # digits: on to hotline-out, which refuses abroad
        assert statuses != ["ANSWER"], statuses
        assert any(e.name == "UserEvent" and e.get("UserEvent") == "HotlineOutRefused" for e in settled)
        assert all(d.startswith(f"Local/{bad}@hotline-out-") for d in dials if not d.startswith("Local/1004@"))
    else:
        assert statuses == ["REFUSED"]
        assert [d for d in dials if not d.startswith("Local/1004@")] == [], dials
    assert not any(d.startswith("PJSIP/") for d in dials), dials
    assert not any(e.name == "Newchannel" and "5555" in e.get("Channel", "") for e in settled)
    for far in stack.far.values():
        assert far.invites() == []


async def test_hotline_out_refuses_an_extension_that_is_not_digits(out):
    """The context every call out goes through: a Local channel into it with a crafted extension."""
    stack = out
    with ami_events(stack) as seen:
        with contextlib.suppress(Exception):            # (the Originate fails: its channel is refused)
            await stack.ami.originate("Local/110a@hotline-out/n", context="hotline-external", exten="11",
                                      caller_id="<1>", timeout_ms=5000, channel_id=f"x-{new_number()}")
        await asyncio.sleep(1.0)
        settled = list(seen)
    refused = [e for e in settled if e.name == "UserEvent" and e.get("UserEvent") == "HotlineOutRefused"]
    assert refused, [e.name for e in settled][:30]
    for far in stack.far.values():
        assert far.invites() == []


# ---------------------------------------------------------------- seats (hotline-seat-out)


@pytest.fixture
async def seat_phone(out, tmp_path):
    """baresip registered as seat 1005 (a real SIP seat phone)."""
    import shutil
    import subprocess

    from agents.secrets import seat_credentials
    from hotline.app import data_dir

    if shutil.which("baresip") is None:
        pytest.skip("baresip is not installed (scripts/setup installs it)")
    username, secret = seat_credentials(out.hotline.routing.config, data_dir(out.settings))["1005"]
    tone = tmp_path / "tone.wav"
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(tone), "synth", "30", "sine", "440",
                    "vol", "0.5"], check=True)
    with SeatPhone(tmp_path / "baresip", username=username, secret=secret,
                   asterisk_sip_port=out.asterisk.ports.sip, tone=tone) as phone:
        async def registered():
            text = (await asyncio.to_thread(out.asterisk.cli, "pjsip show contacts") or "")
            return "1005/sip:" in text or f"{username}/sip:" in text
        await until(registered, 45, "baresip to register seat 1005", every=0.3)
        yield phone


def _from_seat(settled, exten: str):
    """The seat phone's channel that dialled `exten` in hotline-seat-out, and the DialBegin/End it made."""
    chans = {e.get("Channel") for e in settled if e.name == "Newexten" and e.get("Context") == "hotline-seat-out"
             and e.get("Exten") == exten and e.get("Channel", "").startswith("PJSIP/1005-")}
    dials = [(e.name, e.get("DestChannel", ""), e.get("DialStatus", "")) for e in settled
             if e.name in ("DialBegin", "DialEnd") and e.get("Channel") in chans]
    return chans, dials


async def test_seat_phone_dials_a_colleague_and_an_external_number_through_the_policy(out, seat_phone):
    stack = out
    carrier, first = stack.far["carrier"], stack.far["first"]
    with ami_events(stack) as seen:
        await seat_phone.dial("1002")                       # a colleague's seat (a demo seat answers)
        async def colleague_answered():
            return any(d[0] == "DialEnd" for d in _from_seat(seen, "1002")[1])
        await until(colleague_answered, 20, "the colleague's seat to answer")
        await seat_phone.hangup()
        await asyncio.sleep(1.0)
        await seat_phone.dial("013912345678")             # a mobile with the trunk prefix: dialled as 139...
        invite = await asyncio.to_thread(carrier.wait_invite, 20)
        await asyncio.sleep(1.0)
        await seat_phone.hangup()
        await asyncio.sleep(1.0)
        settled = list(seen)
    chans, dials = _from_seat(settled, "1002")
    assert chans and ("DialEnd", dials[-1][1], "ANSWER") == dials[-1] and dials[-1][1].startswith(
        "Local/1002@hotline-demo-seat"), dials
    assert invite.request_user == "13912345678"            # canonical national form
    assert_presents_the_hotline(invite, "1005")            # the hotline's number, not the seat's
    assert [m.request_user for m in first.invites()] == ["13912345678"]   # tried first, 503, failed over
    chans, dials = _from_seat(settled, "013912345678")
    assert any(d[0] == "DialBegin" and d[1].startswith("Local/13912345678@hotline-out") for d in dials), dials


async def test_seat_phone_is_refused_an_international_number_and_nothing_is_dialled(out, seat_phone):
    stack = out
    with ami_events(stack) as seen:
        await seat_phone.dial("008821234567")

        async def refused():
            return [e for e in seen if e.name == "AGIExecStart" and e.get("Command", "").startswith("STREAM FILE")
                    and e.get("Channel", "").startswith("PJSIP/1005-")]
        await until(refused, 20, "the refusal prompt to play to the seat phone")

        async def gone():
            return [e for e in seen if e.name == "Hangup" and e.get("Channel", "").startswith("PJSIP/1005-")]
        await until(gone, 30, "the seat's call to end")
        settled = list(seen)
    chans, dials = _from_seat(settled, "008821234567")
    assert chans and dials == [], dials                     # nothing dialled
    for far in stack.far.values():
        assert far.invites() == []



async def test_refer_from_the_seat_phone_is_a_blind_transfer_through_the_policy(out, seat_phone):
    """The operator transfers with the phone's own transfer key (SIP REFER): the caller is dialled to
    the target through the trunks and the transfer is on the call record."""
    stack = out
    carrier = stack.far["carrier"]
    await arrange(stack, ready=[])
    await stack.hotline.routing.seats.login("1005", "8005")
    ev = Events(stack)
    await ev.mark()
    number = new_number()
    with ami_events(stack) as seen:
        placed = asyncio.ensure_future(call(stack, caller=number))
        cid = await answered_at_seat(stack, ev, number, "1005")
        await asyncio.sleep(1.0)
        await seat_phone.command("transfer", f"sip:12366@127.0.0.1:{stack.asterisk.ports.sip}")
        invite = await asyncio.to_thread(carrier.wait_invite, 20)
        result, rec = await placed
        settled = list(seen)
    assert invite.request_user == "12366"
    assert_presents_the_hotline(invite, number)
    blind = [e for e in settled if e.name == "BlindTransfer"]
    assert blind and blind[0].get("Extension") == "12366" and blind[0].get("Context") == "hotline-refer", \
        [(e.get("Extension"), e.get("Context"), e.get("Result")) for e in blind]
    rec = await stack.hotline.ivr.calls.get(cid)
    (x,) = rec["transfers"]
    assert (x["target"], x["number"], x["mode"], x["seat_id"]) == ("refer", "12366", "blind", "1005"), x
    assert (x["state"], x["result"]) == ("done", "connected"), x
    st = await stack.hotline.routing.seats.status("1005")
    assert st.state.value != "on_call"                      # the operator was released


def survey_tree() -> dict:
    """TREE with the operator's survey after the general lane's queue."""
    import copy

    doc = copy.deepcopy(TREE)
    doc["name"] = "e2e-calls-out-survey"
    doc["nodes"]["general_q"]["after"] = "rate"
    doc["nodes"]["rate"] = {"type": "survey", "prompt": {"text": "请对话务员的服务进行评价，满意请按1，不满意请按2。"},
                            "choices": {"1": "满意", "2": "不满意"}, "timeout_s": 5, "retries": 0, "next": "bye"}
    return doc


async def test_a_refer_asks_the_operators_survey_before_the_caller_is_bridged(out, seat_phone):
    """After the phone's transfer key the caller never comes back to the IVR: the survey that follows
    the call's queue is asked first (the caller keys 1), then the target is dialled through the trunk."""
    stack = out
    carrier = stack.far["carrier"]
    version = await publish(stack, survey_tree(), "e2e survey before REFER")
    await until(lambda: _lanes(stack, version), 5, "the router to take the published lanes")
    try:
        await arrange(stack, ready=[])
        await stack.hotline.routing.seats.login("1005", "8005")
        ev = Events(stack)
        await ev.mark()
        number = new_number()
        with ami_events(stack) as seen:
            placed = asyncio.ensure_future(call(stack, caller=number, keys="1"))
            cid = await answered_at_seat(stack, ev, number, "1005")
            await asyncio.sleep(1.0)
            await seat_phone.command("transfer", f"sip:12366@127.0.0.1:{stack.asterisk.ports.sip}")
            invite = await asyncio.to_thread(carrier.wait_invite, 30)
            result, rec = await placed
            settled = list(seen)
    finally:
        await publish(stack, TREE, "e2e calls out")
    assert invite.request_user == "12366"
    assert_presents_the_hotline(invite, number)
    rec = await stack.hotline.ivr.calls.get(cid)
    assert (rec.get("survey_when"), rec.get("survey_node"), rec.get("survey_result"), rec.get("rating")) == \
        ("before_transfer", "rate", "rated", "1"), rec
    asked = [float(e.get("Timestamp") or 0) for e in settled if e.name == "AGIExecStart"
             and e.get("Uniqueid") == cid and e.get("Command", "").upper().startswith("GET DATA")]
    dialled = [float(e.get("Timestamp") or 0) for e in settled if e.name == "DialBegin"
               and e.get("DestChannel", "").startswith("PJSIP/carrier-")]
    assert asked and dialled and max(asked) < min(dialled), (asked, dialled)     # rated, then bridged
    (x,) = rec["transfers"]
    assert (x["target"], x["number"], x["mode"], x["state"], x["result"]) == \
        ("refer", "12366", "blind", "done", "connected"), x


async def test_seats_have_a_tls_transport_with_a_self_signed_certificate(outstack):
    import os
    import ssl
    import stat

    stack = outstack
    cert, key = stack.tls_files
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    text = (await asyncio.to_thread(stack.asterisk.cli, "pjsip show transports") or "")
    assert "transport-tls" in text and "tls" in text.lower(), text
    ctx = ssl.create_default_context(cafile=cert)                # the certificate it made, and only that
    reader, writer = await asyncio.open_connection("127.0.0.1", stack.tls_port, ssl=ctx,
                                                   server_hostname="127.0.0.1")
    local = writer.get_extra_info("sockname")
    options = (f"OPTIONS sip:127.0.0.1:{stack.tls_port};transport=tls SIP/2.0\r\n"
               f"Via: SIP/2.0/TLS {local[0]}:{local[1]};branch=z9hG4bK-tls-{new_number()}\r\n"
               f"From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: tls-{new_number()}\r\n"
               "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
    writer.write(options.encode())
    await writer.drain()
    reply = await asyncio.wait_for(reader.readuntil(b"\r\n"), 10)
    writer.close()
    assert reply.startswith(b"SIP/2.0 "), reply                  # SIP answered over TLS
    seats = (stack.run / "etc" / "asterisk" / "pjsip_seats.conf").read_text()
    assert "media_encryption = sdes" in seats and "media_encryption_optimistic = yes" in seats
    assert "qualify_frequency = 30" in seats


async def test_a_seat_phone_over_tls_with_srtp_calls_a_colleague(out, tmp_path):
    """baresip registers over SIP/TLS (trusting the hotline's certificate) with SRTP mandatory, and
    calls a colleague's seat: signalling and media of its leg are secure."""
    import shutil
    import subprocess

    from agents.secrets import seat_credentials
    from hotline.app import data_dir

    stack = out
    if shutil.which("baresip") is None:
        pytest.skip("baresip is not installed")
    username, secret = seat_credentials(stack.hotline.routing.config, data_dir(stack.settings))["1006"]
    tone = tmp_path / "tone.wav"
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(tone), "synth", "30", "sine", "440",
                    "vol", "0.5"], check=True)
    with SeatPhone(tmp_path / "tls-phone", username=username, secret=secret, asterisk_sip_port=stack.tls_port,
                   tone=tone, tls_ca=Path(stack.tls_files[0]), srtp=True) as phone:
        async def registered():
            text = (await asyncio.to_thread(stack.asterisk.cli, "pjsip show contacts") or "")
            return "1006/sip:" in text or f"{username}/sip:" in text
        await until(registered, 45, "baresip to register seat 1006 over TLS", every=0.3)
        with ami_events(stack) as seen:
            await phone.dial("1002")

            async def answered():
                return next((e for e in seen if e.name == "DialEnd" and e.get("Channel", "").startswith("PJSIP/1006-")
                             and e.get("DialStatus") == "ANSWER"), None)
            end = await until(answered, 20, "the colleague to answer the TLS phone")
            chan = end.get("Channel")
            secure = await stack.ami.action("Getvar", Channel=chan, Variable="CHANNEL(pjsip,secure)")
            media = await stack.ami.action("Getvar", Channel=chan, Variable="CHANNEL(rtp,secure)")
            await phone.hangup()
    assert str(secure.get("Value")) == "1", secure
    assert str(media.get("Value")) == "1", media


async def test_a_caller_whose_number_cannot_be_called_back_hears_why(out):
    """Caller ID 008821234567 (abroad) asks for a callback: told why in Chinese, asked to key in a
    number (a 1-digit one is refused too, with its reason), and no callback is booked or dialled."""
    from agents.dialpolicy import PROMPTS, Refusal
    from tests.e2e.test_routing_calls import DID_CALLBACK

    stack = out
    await arrange(stack, ready=[])
    ev = Events(stack)
    await ev.mark()
    bad = "008821234567"
    why_abroad = Path(str(await stack.prompts.ensure_async(PROMPTS[Refusal.INTERNATIONAL]))).stem
    why_short = Path(str(await stack.prompts.ensure_async(PROMPTS[Refusal.TOO_SHORT]))).stem
    with ami_events(stack) as seen:
        placed = asyncio.ensure_future(call(stack, did=DID_CALLBACK, caller=bad, keys="1", hold=45))
        queued = await ev.wait(lambda e: e["type"] == "call_queued", 15, "the call to be queued")
        cid = queued["call_id"]                     # (the edge may rewrite a number from abroad)

        def streamed():
            return [e.get("Command", "") for e in seen if e.name == "AGIExecStart" and e.get("Uniqueid") == cid
                    and e.get("Command", "").startswith("STREAM FILE")]

        async def offer_heard():
            cmds = [" ".join(e.get("Command", "").split(" ")[:2])
                    for e in seen if e.name == "AGIExecStart" and e.get("Uniqueid") == cid]
            if "STREAM FILE" in cmds and cmds[cmds.index("STREAM FILE") + 1:].count("WAIT FOR") >= 1:
                return next(e.get("Channel") for e in seen if e.get("Uniqueid") == cid and e.get("Channel"))
            return None
        channel = await until(offer_heard, 25, "the callback offer")
        await stack.ami.action("PlayDTMF", Channel=channel.replace(";2", ";1"), Digit="1", Duration=120)

        async def told():
            cmds = streamed()
            return any(why_abroad in c for c in cmds) and any(why_short in c for c in cmds)
        await until(told, 30, "the reasons to be played")
        st = await stack.hotline.routing.router.call(cid)
        assert st is not None and not st.callback                 # no callback booked; still waiting
        await stack.ami.hangup(channel)
        await placed
    for far in stack.far.values():
        assert far.invites() == []
