"""Supervision (listen / whisper / barge) and the console's and wallboard's
pages on a real Redis through aiohttp's test client. The PBX side is a
recording stand-in here; tests/e2e/browser/test_wallboard_supervise.py has
the real ChanSpy joining a live call."""
from __future__ import annotations

import uuid

import pytest
from aiohttp import DummyCookieJar
from aiohttp.test_utils import TestClient, TestServer

from agents.dialpolicy import DialPolicy
from agents.model import WaitingCall
from agents.node_actions import NodeActions
from agents.outbound import DialLimiter, Outbound
from agents.service import Router, SeatService
from agents.store import RoutingStore
from ivr.calls import CallRecords
from pbx.events import CoreShowChannel
from tests.redis.test_web_console import CONFIG, LANES, PASSWORDS, Clock, Env, seats_config
from tickets.store import TicketStore
from web.accounts import Role
from web.app import create_app
from web.keys import ACCOUNTS
from web.routes_console import console_routes
from web.routes_supervise import supervise_handler, supervise_routes
from web.routes_wallboard import wallboard_routes


class FakeAMI:
    connected = True

    def __init__(self) -> None:
        self.originated: list[tuple[str, dict]] = []

    async def core_show_channels(self):
        return [CoreShowChannel.from_headers({"Channel": "PJSIP/1001-00000007", "BridgeId": "b1"}),
                CoreShowChannel.from_headers({"Channel": "PJSIP/1002-00000008", "BridgeId": ""})]

    async def originate(self, channel, **kw):
        self.originated.append((channel, kw))
        return {"Response": "Success"}


@pytest.fixture
async def env(redis_client):
    clock = Clock()
    store = RoutingStore(redis_client, seats_config(), prefix="hotline", clock=clock)
    await store.load_scripts()
    router = Router(store, LANES)
    seats = SeatService(store, notify=router.poke)
    tickets = TicketStore(redis_client, clock=clock)
    calls = CallRecords(redis_client)
    ami = FakeAMI()
    outbound = Outbound(DialPolicy(per_number_per_hour=2), DialLimiter(redis_client, prefix=f"t{uuid.uuid4().hex}"))
    actions = NodeActions(redis_client, "node-a")
    actions.register("supervise", supervise_handler(lambda: ami, outbound=outbound))
    app = create_app(lambda: {}, redis=redis_client, config=CONFIG,
                     routes=[console_routes(seats, router, tickets, calls),
                             wallboard_routes(router, redis_client, tickets=tickets),
                             supervise_routes(store, actions, outbound=outbound)])
    client = TestClient(TestServer(app), cookie_jar=DummyCookieJar())
    await client.start_server()
    accounts = app[ACCOUNTS]
    await accounts.create("admin", PASSWORDS["admin"], Role.ADMIN, "管理员")
    await accounts.create("sup", PASSWORDS["sup"], Role.SUPERVISOR, "班长", seat="1003")
    await accounts.create("op1", PASSWORDS["op1"], Role.OPERATOR, "话务员一", operator_id="7001")
    await accounts.create("op2", PASSWORDS["op2"], Role.OPERATOR, "话务员二", operator_id="7002")
    e = Env(client, app, clock, router, seats, tickets, calls)
    for name in PASSWORDS:
        await e.login(name)
    e.ami, e.actions = ami, actions
    yield e
    await client.close()


async def on_call(env: Env, seat: str = "1001", operator: str = "7001") -> str:
    await env.seats.login(seat, operator)
    await env.router.enqueue(WaitingCall("c1", "general", "13800001234", env.clock.t))
    assigned = await env.router.match()
    assert [a.seat_id for a in assigned] == [seat]
    await env.router.answered("c1", seat)
    return "c1"


async def test_only_supervisors_and_admins_may_supervise(env):
    await on_call(env)
    body = {"seat": "1001", "mode": "listen"}
    assert (await env.req(None, "POST", "/api/supervise", json=body)).status == 401
    r = await env.req("op2", "POST", "/api/supervise", json=body)
    assert r.status == 403
    r = await env.req("admin", "POST", "/api/supervise", json=body)      # no phone on the admin's account
    assert r.status == 409 and (await r.json())["error"] == "no_phone"
    assert env.ami.originated == []
    r = await env.req("sup", "POST", "/api/supervise", json={"seat": "1001", "mode": "barge"})
    assert r.status == 202, await r.text()
    data = await r.json()
    assert (data["seat"], data["mode"], data["phone"], data["call_id"]) == ("1001", "barge", "1003", "c1")
    (channel, kw), = env.ami.originated
    assert channel == "PJSIP/1003" and kw["context"] == "hotline-spy" and kw["channel_id"] == data["spy"]
    assert kw["variables"] == {"HOTLINE_SPY_TARGET": "PJSIP/1001-00000007", "HOTLINE_SPY_OPTIONS": "qBE"}
    done = await env.audit("call.supervise")
    assert len(done) == 1 and done[0]["who"] == "sup" and done[0]["details"]["call_id"] == "c1"
    refused = await env.audit("call.supervise.refused")
    assert [e["details"]["reason"] for e in refused] == ["no_phone"]


async def test_supervising_needs_a_call_and_a_known_seat(env):
    r = await env.req("sup", "POST", "/api/supervise", json={"seat": "1002", "mode": "listen"})
    assert r.status == 409 and (await r.json())["error"] == "not_on_call"
    r = await env.req("sup", "POST", "/api/supervise", json={"seat": "9999", "mode": "listen"})
    assert r.status == 404
    r = await env.req("sup", "POST", "/api/supervise", json={"seat": "1003", "mode": "listen"})
    assert r.status == 400 and (await r.json())["error"] == "own_seat"
    r = await env.req("sup", "POST", "/api/supervise", json={"seat": "1001", "mode": "record"})
    assert r.status == 400
    assert env.ami.originated == []


async def test_a_supervisor_listens_from_an_external_mobile_through_hotline_out(env):
    """Admins have no seat phone: with a number the supervisor's mobile is dialled out (the dialling
    policy's canonical form, through hotline-out, the trunks' caller ID) and the audit keeps it masked."""
    await on_call(env)
    r = await env.req("admin", "POST", "/api/supervise",
                      json={"seat": "1001", "mode": "whisper", "number": "+8613912345678"})
    assert r.status == 202, await r.text()
    data = await r.json()
    assert (data["phone"], data["external"], data["call_id"]) == ("139****5678", True, "c1")
    (channel, kw), = env.ami.originated
    assert channel == "Local/13912345678@hotline-out"
    assert kw["context"] == "hotline-spy" and kw["channel_id"] == data["spy"]
    assert kw["variables"] == {"HOTLINE_SPY_TARGET": "PJSIP/1001-00000007", "HOTLINE_SPY_OPTIONS": "qwE"}
    assert kw["caller_id"].isascii()
    (done,) = await env.audit("call.supervise")
    assert done["details"]["phone"] == "139****5678" and done["details"]["external"] is True
    assert "13912345678" not in str(done)


@pytest.mark.parametrize("number, status, refusal", [
    ("008821234567", 400, "international"),       # abroad
    ("+447700900123", 400, "international"),
    ("16812345678", 400, "premium"),
    ("110", 400, "kind:service"),                 # a call's audio is never streamed to a service number
    ("4001234567", 400, "kind:toll_free"),
    ("1" * 25, 400, "too_long"),
    ("12", 400, "too_short"),
])
async def test_a_supervisors_external_number_is_checked_by_the_dialling_policy(env, number, status, refusal):
    await on_call(env)
    r = await env.req("sup", "POST", "/api/supervise", json={"seat": "1001", "mode": "listen", "number": number})
    assert r.status == status, await r.text()
    data = await r.json()
    assert data["error"] == "number_refused" and data["message"], data
    assert env.ami.originated == []
    (refused,) = await env.audit("call.supervise.refused")
    assert refused["details"]["refusal"] == refusal and (len(number) < 5 or number not in str(refused))


@pytest.mark.parametrize("number", ["4444&Local/5555", "13800001234,tT", "1380000 1234", "", "1" * 40])
async def test_a_supervisors_external_number_that_is_not_digits_is_refused_by_the_schema(env, number):
    await on_call(env)
    r = await env.req("sup", "POST", "/api/supervise", json={"seat": "1001", "mode": "listen", "number": number})
    assert r.status == 400, await r.text()
    assert env.ami.originated == []


async def test_a_supervisors_external_number_counts_against_the_per_number_limit(env):
    await on_call(env)
    body = {"seat": "1001", "mode": "listen", "number": "13912345678"}
    for _ in range(2):
        assert (await env.req("sup", "POST", "/api/supervise", json=body)).status == 202
    r = await env.req("sup", "POST", "/api/supervise", json=body)
    assert r.status == 400 and (await r.json())["details"]["refusal"] == "number_limit"
    assert len(env.ami.originated) == 2


async def test_pages_and_taxonomy_by_role(env):
    assert (await env.req("op1", "GET", "/console")).status == 200
    r = await env.req(None, "GET", "/console")
    assert r.status == 302 and r.headers["Location"].startswith("/login?next=/console")
    assert (await env.req("op1", "GET", "/wallboard")).status == 403
    assert (await env.req("sup", "GET", "/wallboard")).status == 200
    r = await env.req("op1", "GET", "/api/console/taxonomy")
    assert r.status == 200
    data = await r.json()
    assert "人力资源社会保障" in [c["name"] for c in data["categories"]] and "芦淞区" in data["districts"]


async def test_wallboard_lists_seats_and_todays_top_categories(env):
    await on_call(env)
    await env.tickets.create_draft("c1", "13800001234", "芦淞区建设路的路灯坏了，晚上很黑。")
    r = await env.req("sup", "GET", "/api/wallboard")
    assert r.status == 200, await r.text()
    board = await r.json()
    assert board["seat_list"] == [{"seat_id": "1001", "state": "on_call", "operator_id": "7001",
                                   "since": board["seat_list"][0]["since"], "reason": "", "call_id": "c1",
                                   "lane": "general"}]
    assert board["top"]["tickets"] == 1 and board["top"]["districts"] == [["芦淞区", 1]]
    assert board["top"]["categories"][0][1] == 1
    assert "avg_wait_s" in board["all"]["targets"]


async def test_live_capture_off_and_on_runs_on_the_calls_node(env):
    """POST /api/supervise/live-capture: the node holding the call stops its live transcript; starting it
    again needs that node's spy capture (none here: refused in Chinese); a seat with no call: 409."""
    import asyncio
    from types import SimpleNamespace

    from hotline.features.speech import register_live_actions

    running = SimpleNamespace(stop=asyncio.Event())
    live = SimpleNamespace(active={"c1": running}, capture=None, redis=None)
    register_live_actions(env.actions, live, env.calls)
    r = await env.req("sup", "POST", "/api/supervise/live-capture", json={"seat": "1001", "on": False})
    assert r.status == 409 and (await r.json())["error"] == "not_on_call"
    await on_call(env)
    r = await env.req("op1", "POST", "/api/supervise/live-capture", json={"seat": "1001", "on": False})
    assert r.status == 403
    r = await env.req("sup", "POST", "/api/supervise/live-capture", json={"seat": "1001", "on": False})
    assert r.status == 200, await r.text()
    assert await r.json() == {"call_id": "c1", "seat": "1001", "live": False}
    assert running.stop.is_set()
    r = await env.req("sup", "POST", "/api/supervise/live-capture", json={"seat": "1001", "on": True})
    assert r.status == 409
    data = await r.json()
    assert data["error"] == "no_capture" and data["message"] == "无法重新开启该通话的实时转写"
    audit = await env.audit("call.live_capture")
    assert [(a["details"]["on"], a["details"]["live"]) for a in audit] == [(False, False)]
