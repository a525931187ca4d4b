"""Leader-answering days (领导接听日, issue 17) with real SIP: a carrier (SIPp on 127.0.0.17, free
ports) calls 12345 through its trunk. An admin schedules a session over the API (seat 1002, the
leader's); the session's clock is injected. In the window the caller hears the announcement before
the menu and the leader's seat answers, with the same screen pop and draft ticket as any call; the
ticket is tagged 领导接听 / 领导交办 and the session's report lists it. Outside the window the call
is routed as usual; with the leader busy longer than the session's wait, to the usual lane.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import random
from zoneinfo import ZoneInfo

import pytest

from kernel.notify import LIVE_CHANNEL
from tests import sip
from tests.e2e.conftest import Stack
from tests.e2e.conftest import test_settings as settings_for
from tests.e2e.test_calls_out import web_session
from tests.e2e.test_routing_calls import Events, arrange, restore_seats, until

pytestmark = [pytest.mark.asterisk, pytest.mark.slow]

CARRIER_IP = "127.0.0.17"
CN = ZoneInfo("Asia/Shanghai")
IN_WINDOW = dt.datetime(2026, 12, 3, 10, 30, tzinfo=CN).timestamp()
AFTER_WINDOW = dt.datetime(2026, 12, 3, 13, 0, tzinfo=CN).timestamp()
SESSION = {"date": "2026-12-03", "start": "10:00", "end": "12:00", "leader_name": "李明", "leader_title": "市长",
           "seat": "1002", "lanes": [], "dids": [], "wait_s": 5, "follow_up_days": 5}


@pytest.fixture(scope="module")
async def ldstack(tmp_path_factory):
    from hotline.app import compose

    run = tmp_path_factory.mktemp("ldstack")
    data = tmp_path_factory.mktemp("lddata")
    settings = settings_for(storage={"data_dir": str(data)}, stt={"model": "", "workers": 1, "live": False},
                            trunks={"carrier": {"inbound_from": [f"{CARRIER_IP}/32"], "area_code": "0731"}})
    st = compose(settings, run, demo_seats=4, persistent_redis=False, runtime=Stack)
    await st.start()
    try:
        st.use(st.hotline.ivr.handler)
        days = st.hotline.leader.days
        assert days is not None, "the leader feature is on (records database up)"
        days.clock = lambda: st.leader_now
        st.leader_now = AFTER_WINDOW
        http, headers, url = await web_session(st, "admin")
        async with http, http.post(url + "/api/leader/sessions", json=SESSION, headers=headers) as r:
            assert r.status == 201, await r.text()
            st.leader_session = (await r.json())["id"]
        yield st
    finally:
        await st.stop()


@contextlib.asynccontextmanager
async def live_events(stack):
    """Every live event (screen pops, draft tickets) published while inside."""
    seen: list[dict] = []
    ps = stack.redis.pubsub()
    await ps.subscribe(LIVE_CHANNEL)

    async def read():
        async for m in ps.listen():
            if m.get("type") == "message":
                seen.append(json.loads(m["data"]))
    task = asyncio.create_task(read())
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        await ps.aclose()


def carrier_call(tmp_path, stack, caller: str) -> sip.Sipp:
    pcap = sip.RtpStream().silence(60.0).pcap(tmp_path / f"line-{caller}.pcap")
    return sip.Sipp(tmp_path / "sipp", sip.carrier_uac(pcap=pcap, caller=caller, did="12345", talk_ms=60000),
                    ip=CARRIER_IP, name=f"carrier-{caller}", remote=f"127.0.0.1:{stack.asterisk.ports.sip}",
                    timeout_s=120)


def new_caller() -> str:
    return "136" + "".join(random.choice("0123456789") for _ in range(8))


async def record_with(stack, call_id: str, key: str, timeout: float = 60) -> dict:
    calls = stack.hotline.ivr.calls

    async def got():
        rec = await calls.get(call_id)
        return rec if rec and rec.get(key) else None
    try:
        return await until(got, timeout, f"call {call_id} to have {key}")
    except AssertionError:
        seats = [(x.seat_id, x.state.value, x.operator_id, x.reason) for x in await stack.hotline.routing.seats.seats()]
        raise AssertionError(f"call {call_id} never had {key}: {await calls.get(call_id)}; seats {seats}; "
                             f"{await stack.hotline.routing.router.snapshot()}") from None


async def report(stack) -> dict:
    days = stack.hotline.leader.days
    got = await days.report(stack.leader_session)
    assert got is not None
    return got


@pytest.fixture
async def seats(ldstack):
    # 1003 takes the general lane (1001 is the deputies' reserved seat); 1002, the leader's, is paused:
    # out of ordinary routing
    await arrange(ldstack, ready=["1003"])
    try:
        yield ldstack
    finally:
        ldstack.leader_now = AFTER_WINDOW       # no session holds the leader's seat again while it is restored
        await restore_seats(ldstack)


async def test_outside_the_window_the_call_is_routed_as_usual(seats, tmp_path):
    stack = seats
    stack.leader_now = AFTER_WINDOW
    ev = Events(stack)
    await ev.mark()
    caller = new_caller()
    with carrier_call(tmp_path, stack, caller):
        cid = await ev.call_id(caller, timeout=40)
        rec = await record_with(stack, cid, "answered")
    assert rec["seat"] == "1003", rec
    assert not rec.get("leader_session") and not rec.get("leader_announced")
    assert cid not in [t["call_id"] for t in (await report(stack))["tickets"]]


async def test_in_the_window_the_caller_hears_the_announcement_and_the_leader_answers(seats, tmp_path):
    stack = seats
    stack.leader_now = IN_WINDOW
    # the leader goes ready at the seat: the session keeps it out of ordinary routing (paused 领导接听)
    await stack.hotline.routing.seats.ready("1002")
    await stack.hotline.leader.days.hold_seats()
    held = await stack.hotline.routing.seats.status("1002")
    assert held.state.value == "paused" and held.reason == "领导接听"
    caller = new_caller()
    async with live_events(stack) as seen:
        with carrier_call(tmp_path, stack, caller):
            async def popped():
                return next((e for e in seen if e["type"] == "screen_pop" and e["caller"] == caller), None)
            pop = await until(popped, 60, "the leader's screen pop")
            cid = pop["call_id"]
            rec = await record_with(stack, cid, "leader_answered")

            async def listed():
                r = await report(stack)
                return r if cid in [t["call_id"] for t in r["tickets"]] else None
            got = await until(listed, 30, "the session's report to list the call")
        drafts = [e for e in seen if e["type"] == "draft_ticket" and e["call_id"] == cid]
    # the announcement came before the tree's first prompt; the leader's seat answered
    assert rec["leader_announced"] == "1" and rec["leader_session"] == stack.leader_session
    assert rec["seat"] == "1002" and rec.get("answered"), rec
    assert rec["path"][:2] == ["start", "welcome"], rec["path"]
    assert pop["seat"] == "1002" and pop["operator"] == "8002"
    # the same draft ticket on the leader's console, tagged and with its own follow-up deadline
    ticket = await stack.hotline.tickets.store.get_by_call(cid)
    assert ticket is not None and (not drafts or drafts[0]["ticket"] == ticket.id)
    assert ticket.leader["tags"] == ["领导接听", "领导交办"] and ticket.leader["session"] == stack.leader_session
    assert ticket.leader["follow_up_by"] == "2026-12-10" and ticket.leader["leader"] == "市长李明"
    row = next(t for t in got["tickets"] if t["call_id"] == cid)
    assert row["ticket_id"] == ticket.id and row["follow_up_by"] == "2026-12-10" and caller not in row["caller"]
    assert got["session"]["leader_name"] == "李明" and got["count"] >= 1


async def test_a_busy_leader_sends_the_caller_to_the_usual_lane_after_the_wait(seats, tmp_path):
    stack = seats
    stack.leader_now = IN_WINDOW
    days = stack.hotline.leader.days
    await stack.redis.set(days._busy_key("1002"), "another-call", ex=120)    # the leader is on a call
    ev = Events(stack)
    await ev.mark()
    caller = new_caller()
    try:
        with carrier_call(tmp_path, stack, caller):
            cid = await ev.call_id(caller, timeout=60)
            rec = await record_with(stack, cid, "answered")
    finally:
        await stack.redis.delete(days._busy_key("1002"))
    assert rec["leader_announced"] == "1" and rec["leader_overflow"] == "1"
    assert rec["seat"] == "1003" and not rec.get("leader_answered"), rec


async def test_supervisors_read_the_sessions_and_the_report_over_the_api(ldstack):
    http, headers, url = await web_session(ldstack, "supervisor")
    async with http:
        async with http.get(url + "/api/leader/sessions", headers=headers) as r:
            assert r.status == 200
            sessions = (await r.json())["sessions"]
        async with http.get(url + f"/api/leader/sessions/{ldstack.leader_session}/report", headers=headers) as r:
            assert r.status == 200
            got = await r.json()
        async with http.post(url + "/api/leader/sessions", json=SESSION, headers=headers) as r:
            assert r.status == 403                                  # scheduling is the admins'
        async with http.get(url + "/leader", headers=headers) as r:
            assert r.status == 200 and "领导接听日" in await r.text()
    mine = next(s for s in sessions if s["id"] == ldstack.leader_session)
    assert mine["calls"] >= 1 and mine["leader_title"] == "市长"
    assert got["count"] >= 1 and all(t["tags"] == ["领导接听", "领导交办"] for t in got["tickets"])
