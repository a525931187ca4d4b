"""The console's transfer and hang-up API on a real Redis through aiohttp's
test client: roles, own-seat-only, CSRF, audit, the transfer on the call
record, and the AMI actions asked for (a recording stand-in for Asterisk:
the live channels are covered by tests/e2e/test_transfer_calls.py)."""
from __future__ import annotations

import pytest
from aiohttp import DummyCookieJar
from aiohttp.test_utils import TestClient, TestServer

from agents.node_actions import NodeActions
from agents.service import Router, SeatService
from agents.store import RoutingStore
from agents.transfer import parse_transfers
from agents.transfer_service import TransferService
from hotline.features.transfers import register_actions
from ivr.calls import CallRecords
from kernel.notify import LiveEvent
from tests.redis.test_web_console import CONFIG, LANES, PASSWORDS, Clock, Env, assert_error, seats_config
from web.accounts import Role
from web.app import create_app
from web.keys import ACCOUNTS
from web.routes_transfer import transfer_routes

TARGETS = {"ring_s": 20, "targets": [
    {"id": "tax", "name": "12366 纳税服务热线", "number": "12366", "modes": ["blind", "attended"]},
    {"id": "police", "name": "110 报警", "number": "110", "three_way": True}]}


class FakeAMI:
    def __init__(self) -> None:
        self.actions: list[tuple] = []

    async def hangup(self, channel: str) -> None:
        self.actions.append(("hangup", channel))

    async def setvar(self, channel: str, name: str, value: str) -> None:
        self.actions.append(("setvar", channel, name, value))

    async def redirect(self, channel: str, context: str, exten: str, priority=1) -> None:
        self.actions.append(("redirect", channel, context, exten))

    async def originate(self, channel: str, **kw) -> dict:
        self.actions.append(("originate", channel, kw["context"], kw["exten"], kw["channel_id"]))
        return {}


@pytest.fixture
async def env(redis_client):
    clock = Clock()
    store = RoutingStore(redis_client, seats_config(), prefix="hotline", clock=clock)
    await store.load_scripts()
    router = Router(store, LANES)
    seats = SeatService(store, notify=router.poke)
    calls = CallRecords(redis_client)
    published: list[dict] = []

    async def publish(e: LiveEvent) -> None:
        published.append(e.to_dict())

    ami = FakeAMI()
    transfers = TransferService(redis_client, ami, router, calls, parse_transfers(TARGETS),
                                dial="Local/{number}@hotline-external", publish=publish, clock=clock)
    actions = NodeActions(redis_client, "node-a")
    register_actions(actions, transfers)
    app = create_app(lambda: {"redis": {"ok": True}}, redis=redis_client, config=CONFIG,
                     routes=[transfer_routes(transfers, store, actions)])
    client = TestClient(TestServer(app), cookie_jar=DummyCookieJar())
    await client.start_server()
    accounts = app[ACCOUNTS]
    await accounts.create("admin", PASSWORDS["admin"], Role.ADMIN, "管理员")
    await accounts.create("sup", PASSWORDS["sup"], Role.SUPERVISOR, "班长")
    await accounts.create("op1", PASSWORDS["op1"], Role.OPERATOR, "话务员一", operator_id="7001")
    await accounts.create("op2", PASSWORDS["op2"], Role.OPERATOR, "话务员二", operator_id="7002")
    e = Env(client, app, clock, router, seats, None, calls)
    e.ami, e.published = ami, published
    for name in PASSWORDS:
        await e.login(name)
    # op1 at seat 1001 talks to call c1; op2 at 1002 has no call
    await seats.login("1001", "7001")
    await seats.login("1002", "7002", pause_reason="小休")
    await e.offer("c1")
    await router.match()
    await router.answered("c1", "1001")
    await calls.started("c1", caller="13800001234", caller_name="", did="12345", version=1,
                        channel="Local/12345@from-pstn-00000001;2")
    await calls.seat_connected("c1", "Local/1001@hotline-demo-seat-00000002;1")
    yield e
    await client.close()


async def test_targets_listed_for_operators(env):
    r = await env.req("op1", "GET", "/api/console/transfer-targets")
    assert r.status == 200
    targets = (await r.json())["targets"]
    assert [(t["id"], t["number"], t["default_mode"]) for t in targets] == [("tax", "12366", "blind"),
                                                                             ("police", "110", "three_way")]
    assert (await env.req(None, "GET", "/api/console/transfer-targets")).status == 401


async def test_operator_transfers_only_the_call_at_their_own_seat(env):
    r = await env.req("op2", "POST", "/api/console/transfer", json={"target": "tax"})
    assert r.status == 409
    assert_error(await r.json(), "not_on_call")
    r = await env.req("op2", "POST", "/api/console/transfer", json={"target": "tax", "seat": "1001"})
    assert r.status == 403
    r = await env.req("op2", "POST", "/api/console/transfer", json={"target": "tax", "call_id": "c1"})
    assert r.status == 403
    r = await env.req("op1", "POST", "/api/console/transfer", json={"target": "police", "mode": "blind"})
    assert r.status == 400
    assert_error(await r.json(), "transfer_mode_not_allowed")
    r = await env.req("op1", "POST", "/api/console/transfer", json={"target": "nobody"})
    assert r.status == 404
    assert env.ami.actions == []

    # without the CSRF header: refused before anything happens
    headers = {"Cookie": env.who["op1"]["Cookie"]}
    r = await env.client.post("/api/console/transfer", json={"target": "tax"}, headers=headers)
    assert r.status == 403 and env.ami.actions == []

    r = await env.req("op1", "POST", "/api/console/transfer", json={"target": "tax", "mode": "blind"})
    assert r.status == 200, await r.text()
    t = await r.json()
    assert (t["call_id"], t["seat_id"], t["by"], t["target"], t["mode"], t["state"]) == \
        ("c1", "1001", "7001", "tax", "blind", "dialing")
    assert env.ami.actions == [("hangup", "Local/1001@hotline-demo-seat-00000002;1")]
    rec = await env.calls.get("c1")
    assert [(x["id"], x["mode"], x["number"]) for x in rec["transfers"]] == [(t["id"], "blind", "12366")]
    assert [e["type"] for e in env.published] == ["call_transfer"]
    audit = await env.audit("call.transfer")
    assert [(a["who"], a["target"], a["details"]["target"]) for a in audit] == [("op1", "call:c1", "tax")]
    r = await env.req("op1", "POST", "/api/console/transfer", json={"target": "tax"})
    assert r.status == 409
    assert_error(await r.json(), "transfer_in_progress")


async def test_three_way_moves_the_seat_and_calls_the_target(env):
    r = await env.req("sup", "POST", "/api/console/transfer", json={"target": "police", "seat": "1001"})
    assert r.status == 200, await r.text()
    t = await r.json()
    seat = "Local/1001@hotline-demo-seat-00000002;1"
    assert ("redirect", seat, "hotline-conf", "seat") in env.ami.actions
    assert ("setvar", seat, "HOTLINE_CONF", "hl-c1") in env.ami.actions
    assert ("originate", "Local/110@hotline-external", "hotline-conf", "external", f"xfer-{t['id']}-c1") \
        in env.ami.actions
    assert (await env.audit("call.transfer"))[0]["who"] == "sup"


async def test_hangup_of_the_seat_leg_and_of_the_target(env):
    r = await env.req("op2", "POST", "/api/console/hangup", json={"seat": "1001"})
    assert r.status == 403
    r = await env.req("op1", "POST", "/api/console/hangup", json={"leg": "target"})
    assert r.status == 409
    assert_error(await r.json(), "no_transfer")
    r = await env.req("op1", "POST", "/api/console/transfer", json={"target": "police"})
    t = await r.json()
    r = await env.req("op1", "POST", "/api/console/hangup", json={"leg": "target"})
    assert r.status == 200
    assert env.ami.actions[-1] == ("hangup", f"xfer-{t['id']}-c1")
    r = await env.req("op1", "POST", "/api/console/hangup", json={})
    assert r.status == 200 and (await r.json())["leg"] == "seat"
    assert env.ami.actions[-1] == ("hangup", "Local/1001@hotline-demo-seat-00000002;1")
    audit = await env.audit("call.hangup")
    assert [(a["who"], a["details"]["leg"]) for a in reversed(audit)] == [("op1", "target"), ("op1", "seat")]


async def test_documented_in_openapi(env):
    from web.openapi import build
    from web.routes_transfer import transfer_routes as tr

    doc = build(tr(None, None, None), title="t", version="1", cookie="s")
    paths = doc["paths"]
    assert set(paths) == {"/api/console/transfer-targets", "/api/console/transfer", "/api/console/hangup"}
    assert paths["/api/console/transfer"]["post"]["security"] == [{"session": [], "csrf": []}]
    assert paths["/api/console/transfer"]["post"]["x-roles"] == ["operator", "supervisor", "admin"]


async def test_a_call_on_a_node_that_does_not_answer_is_a_503_and_nothing_is_done_here(env, redis_client):
    await redis_client.hset("hotline:call:c1", "node", "node-gone")     # c1's channels are on another node
    before = list(env.ami.actions)
    r = await env.req("op1", "POST", "/api/console/hangup", json={})
    assert r.status == 503
    data = await r.json()
    assert_error(data, "node_unavailable")
    assert data["message"] == "通话所在节点未响应，请稍后再试" and data["details"]["node"] == "node-gone"
    r = await env.req("op1", "POST", "/api/console/transfer", json={"target": "tax"})
    assert r.status == 503
    refused = await env.audit("call.transfer.refused")
    assert refused[0]["details"]["node"] == "node-gone" and refused[0]["details"]["error"] == "node_unavailable"
    assert env.ami.actions == before                                     # this node's Asterisk left alone
    assert await redis_client.llen("hotline:actions:node-gone") == 2     # the requests wait for it (with a TTL)
