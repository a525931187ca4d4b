"""The console and wallboard API on a real Redis through aiohttp's test client:
every role against every new endpoint, own-seat and own-call rules, the
confirmed ticket stored with its corrections, wallboard figures from calls
run through the real Router and SeatService."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType

import pytest
from aiohttp import DummyCookieJar, web
from aiohttp.test_utils import TestClient, TestServer

from agents.config import SeatsConfig
from agents.model import Operator, Seat, WaitingCall
from agents.service import Router, SeatService
from agents.store import RoutingStore
from ivr.calls import CallRecords
from ivr.model import Lane
from tickets.store import TicketStore
from web.accounts import Role
from web.app import create_app
from web.auth import PasswordHasher
from web.config import WebConfig
from web.keys import ACCOUNTS, AUDIT
from web.routes_console import console_routes
from web.routes_wallboard import wallboard_routes

PASSWORDS = {"admin": "admin-pass-123", "sup": "sup-pass-1234", "op1": "op1-pass-1234", "op2": "op2-pass-1234"}
CONFIG = WebConfig(hasher=PasswordHasher(n=2 ** 4, r=8, p=1), validate_responses=True, login_ip_max=1000)
T0 = 1_700_000_000.0   # 2023-11-15 06:13 in Shanghai
LANES = [Lane("general", "综合受理", 1), Lane("enterprise", "政企通专席", 5)]
CALLER = "13800001234"


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@dataclass
class Env:
    client: TestClient
    app: web.Application
    clock: Clock
    router: Router
    seats: SeatService
    tickets: TicketStore
    calls: CallRecords
    who: dict[str, dict[str, str]] = field(default_factory=dict)

    async def login(self, name: str) -> dict[str, str]:
        r = await self.client.post("/api/login", json={"username": name, "password": PASSWORDS[name]})
        assert r.status == 200, await r.text()
        data = await r.json()
        self.who[name] = {"Cookie": f"{CONFIG.cookie}={r.cookies[CONFIG.cookie].value}",
                          "X-CSRF-Token": data["csrf_token"]}
        return self.who[name]

    async def req(self, name: str | None, method: str, path: str, **kw):
        headers = self.who[name] if name else {}
        return await self.client.request(method, path, headers=headers, allow_redirects=False, **kw)

    async def audit(self, action: str) -> list[dict]:
        return [e.to_dict() for e in await self.app[AUDIT].entries(count=1000) if e.action == action]

    async def offer(self, call_id: str, lane: str = "general", caller: str = CALLER) -> None:
        await self.router.enqueue(WaitingCall(call_id, lane, caller, self.clock.t))


def seats_config() -> SeatsConfig:
    skills = MappingProxyType({"general": 5, "enterprise": 5})
    return SeatsConfig(seats=MappingProxyType({s: Seat(s, f"坐席{s}", s) for s in ("1001", "1002", "1003")}),
                       operators=MappingProxyType({o: Operator(o, f"工号{o}", skills)
                                                   for o in ("7001", "7002", "7003")}),
                       repeat_caller=None)


@pytest.fixture
async def env(redis_client):
    clock = Clock()
    store = RoutingStore(redis_client, seats_config(), prefix="hotline", clock=clock)
    await store.load_scripts()
    router = Router(store, LANES)
    seats = SeatService(store, notify=router.poke)
    tickets = TicketStore(redis_client, clock=clock)
    calls = CallRecords(redis_client)
    app = create_app(lambda: {"redis": {"ok": True}}, redis=redis_client, config=CONFIG,
                     routes=[console_routes(seats, router, tickets, calls), wallboard_routes(router, redis_client)])
    client = TestClient(TestServer(app), cookie_jar=DummyCookieJar())
    await client.start_server()
    accounts = app[ACCOUNTS]
    await accounts.create("admin", PASSWORDS["admin"], Role.ADMIN, "管理员")
    await accounts.create("sup", PASSWORDS["sup"], Role.SUPERVISOR, "班长")
    await accounts.create("op1", PASSWORDS["op1"], Role.OPERATOR, "话务员一", operator_id="7001")
    await accounts.create("op2", PASSWORDS["op2"], Role.OPERATOR, "话务员二", operator_id="7002")
    e = Env(client, app, clock, router, seats, tickets, calls)
    for name in PASSWORDS:
        await e.login(name)
    yield e
    await client.close()


def assert_error(data: dict, error_id: str) -> None:
    assert set(data) == {"error", "message", "details"} and data["error"] == error_id, data
    assert re.search(r"[\u4e00-\u9fff]", data["message"])


# -- the seat -------------------------------------------------------------------------
async def test_operator_logs_in_as_themself_only(env):
    r = await env.req("op1", "POST", "/api/console/seat/login", json={"seat": "1001", "operator_id": "7002"})
    assert r.status == 403
    assert_error(await r.json(), "forbidden")
    r = await env.req("op1", "POST", "/api/console/seat/login", json={"seat": "1001"})
    assert r.status == 200, await r.text()
    data = await r.json()
    assert data["seat"]["seat_id"] == "1001" and data["seat"]["state"] == "ready"
    assert data["operator_id"] == "7001" and "小休" in data["pause_reasons"] and "未接" not in data["pause_reasons"]
    # the seat is taken: op2 cannot log in there
    r = await env.req("op2", "POST", "/api/console/seat/login", json={"seat": "1001"})
    assert r.status == 409
    assert (await env.audit("seat.login"))[0]["details"] == {"operator_id": "7001"}


async def test_anonymous_is_refused_everywhere(env):
    for method, path, body in [("POST", "/api/console/seat/login", {"seat": "1001"}),
                               ("POST", "/api/console/seat/ready", {}),
                               ("POST", "/api/console/seat/pause", {"reason": "小休"}),
                               ("POST", "/api/console/seat/logout", {}), ("GET", "/api/console/seat", None),
                               ("GET", "/api/console/call/c1", None),
                               ("POST", "/api/tickets/ZZ12345-20231115-000001/confirm", {"fields": {}}),
                               ("GET", "/api/wallboard", None), ("GET", "/api/wallboard/missed", None)]:
        r = await env.req(None, method, path, json=body)
        assert r.status == 401, (path, r.status)
        assert_error(await r.json(), "unauthenticated")


async def test_ready_pause_logout_act_on_the_own_seat(env):
    assert (await env.req("op1", "POST", "/api/console/seat/ready", json={})).status == 409   # not logged in
    await env.req("op1", "POST", "/api/console/seat/login", json={"seat": "1001", "pause_reason": "培训"})
    await env.req("op2", "POST", "/api/console/seat/login", json={"seat": "1002"})
    r = await env.req("op1", "POST", "/api/console/seat/ready", json={})
    assert r.status == 200 and (await r.json())["seat"]["state"] == "ready"
    r = await env.req("op1", "POST", "/api/console/seat/pause", json={"seat": "1002", "reason": "小休"})
    assert r.status == 403                                       # another operator's seat
    r = await env.req("op1", "POST", "/api/console/seat/pause", json={"reason": "未接"})
    assert r.status == 400                                       # a system reason
    assert_error(await r.json(), "unknown_pause_reason")
    r = await env.req("op1", "POST", "/api/console/seat/pause", json={"reason": "小休"})
    assert r.status == 200 and (await r.json())["seat"]["reason"] == "小休"
    r = await env.req("op1", "GET", "/api/console/seat")
    assert (await r.json())["seat"]["state"] == "paused"
    assert (await env.req("op1", "GET", "/api/console/seat?seat=1002")).status == 403
    assert (await env.seats.status("1002")).state.value == "ready"            # untouched
    # a supervisor may act on any seat, naming it
    r = await env.req("sup", "POST", "/api/console/seat/pause", json={"seat": "1002", "reason": "会议"})
    assert r.status == 200 and (await env.seats.status("1002")).reason == "会议"
    r = await env.req("sup", "GET", "/api/console/seat?seat=1002")
    assert (await r.json())["seat"]["operator_id"] == "7002"
    r = await env.req("sup", "POST", "/api/console/seat/login", json={"seat": "1003"})
    assert r.status == 400 and (await r.json())["error"] == "operator_required"
    r = await env.req("admin", "POST", "/api/console/seat/login", json={"seat": "1003", "operator_id": "7003"})
    assert r.status == 200
    r = await env.req("op1", "POST", "/api/console/seat/logout", json={})
    assert r.status == 200 and (await r.json())["seat"]["state"] == "logged_out"
    assert (await env.req("op1", "GET", "/api/console/seat")).status == 200


# -- the call on screen and its ticket -------------------------------------------------
async def ringing_call(env) -> str:
    await env.req("op1", "POST", "/api/console/seat/login", json={"seat": "1001"})
    await env.tickets.create_draft("c0", CALLER, "我要反映小区楼下烧烤店噪音扰民，地址在荷塘区。", received_at=T0 - 86400)
    await env.calls.started("c1", caller=CALLER, caller_name="", did="12345", version=1, channel="PJSIP/x", at=T0)
    await env.calls.menu_done("c1", {"kind": "queue"}, [{"node": "welcome"}, {"node": "menu", "key": "0"}])
    await env.offer("c1")
    await env.tickets.create_draft("c1", CALLER, "公司拖欠工资三个月，一共二十个人，在芦淞区。")
    env.clock.t += 12
    assigned = await env.router.match()
    assert [(a.call_id, a.seat_id) for a in assigned] == [("c1", "1001")]
    return "c1"


async def test_call_view_for_its_operator_and_supervisors_only(env):
    call_id = await ringing_call(env)
    r = await env.req("op1", "GET", f"/api/console/call/{call_id}")
    assert r.status == 200, await r.text()
    view = await r.json()
    assert view["caller"] == CALLER and view["lane"] == "general" and view["phase"] == "ringing"
    assert view["seat"] == "1001" and view["waited_s"] == 12.0
    assert [p["node"] for p in view["path"]] == ["welcome", "menu"]
    assert [t["call_id"] for t in view["earlier_tickets"]] == ["c0"]
    assert view["ticket"]["call_id"] == "c1" and view["ticket"]["status"] == "draft"
    r = await env.req("op2", "GET", f"/api/console/call/{call_id}")
    assert r.status == 403
    assert_error(await r.json(), "forbidden")
    for name in ("sup", "admin"):
        assert (await env.req(name, "GET", f"/api/console/call/{call_id}")).status == 200
    assert (await env.req("sup", "GET", "/api/console/call/nope")).status == 404
    reads = await env.audit("ticket.read")
    assert sorted(e["who"] for e in reads) == ["admin", "op1", "sup"]
    assert all(e["details"]["ticket"] == view["ticket"]["id"] for e in reads)


async def test_confirm_stores_the_correction(env):
    call_id = await ringing_call(env)
    ticket = await env.tickets.get_by_call(call_id)
    path = f"/api/tickets/{ticket.id}/confirm"
    fields = {"category": ["城市管理", "噪音扰民"], "district": "天元区"}
    r = await env.req("op2", "POST", path, json={"fields": fields})
    assert r.status == 403
    r = await env.req("op1", "POST", path, json={"fields": {"category": ["不存在的类"]}})
    assert r.status == 400
    assert_error(await r.json(), "ticket_invalid_fields")
    await env.router.answered(call_id)
    r = await env.req("op1", "POST", path, json={"fields": fields})
    assert r.status == 200, await r.text()
    stored = await env.tickets.get(ticket.id)
    assert stored.status == "confirmed" and stored.confirmed_by == "7001"
    assert stored.confirmed["category"] == ["城市管理", "噪音扰民"] and stored.confirmed["district"] == "天元区"
    assert stored.corrections["district"]["confirmed"] == "天元区"
    assert stored.corrections["category"]["confirmed"] == ["城市管理", "噪音扰民"]
    again = await env.req("op1", "POST", path, json={"fields": {}})
    assert again.status == 409
    assert_error(await again.json(), "ticket_wrong_status")
    entry, = await env.audit("ticket.confirm")
    assert entry["who"] == "op1" and "district" in entry["details"]["corrected"]
    assert (await env.req("sup", "POST", "/api/tickets/ZZ-none/confirm", json={"fields": {}})).status == 404


# -- the wallboard ----------------------------------------------------------------------
async def test_wallboard_figures_from_real_routing(env):
    for seat, name in (("1001", "op1"), ("1002", "op2")):
        await env.req(name, "POST", "/api/console/seat/login", json={"seat": seat})
    await env.offer("fast")
    env.clock.t += 5
    await env.router.match()
    await env.router.answered("fast")                     # answered after 5 s
    await env.offer("slow")
    env.clock.t += 20
    await env.router.match()
    await env.router.answered("slow")                     # after 20 s: outside the service level
    await env.offer("gone", caller="13900005678")
    await env.offer("waits", lane="enterprise")
    env.clock.t += 30
    await env.router.cancel("gone")                       # abandoned after 30 s
    env.clock.t += 60
    await env.router.ended("fast")

    for name in ("op1", "op2"):
        r = await env.req(name, "GET", "/api/wallboard")
        assert r.status == 403
    assert (await env.req("admin", "GET", "/api/wallboard")).status == 200
    r = await env.req("sup", "GET", "/api/wallboard")
    assert r.status == 200, await r.text()
    board = await r.json()
    assert board["waiting"] == {"general": 0, "enterprise": 1}
    assert board["longest_wait_s"] == {"enterprise": 90.0}
    assert board["seats"]["on_call"] == 1 and board["seats"]["wrap_up"] == 1
    g = board["lanes"]["general"]
    assert g["figures"]["offered"] == 3 and g["figures"]["answered"] == 2 and g["figures"]["abandoned"] == 1
    assert g["figures"]["answer_rate"] == pytest.approx(2 / 3, abs=1e-3)
    assert g["figures"]["service_level"] == pytest.approx(1 / 3, abs=1e-3)
    assert g["figures"]["avg_answer_s"] == 12.5
    assert g["targets"]["answer_rate"]["missed"] is True and g["targets"]["answer_rate"]["target"] == 0.95
    assert g["targets"]["service_level"]["missed"] is True
    assert g["targets"]["abandon_rate"]["missed"] is True
    assert g["targets"]["avg_answer_s"]["missed"] is False
    e = board["lanes"]["enterprise"]
    assert e["figures"]["offered"] == 1 and e["figures"]["answer_rate"] is None
    assert e["targets"]["answer_rate"]["missed"] is False                  # nothing measured yet
    assert board["all"]["figures"]["offered"] == 4
    assert sum(h["offered"] for h in g["hours"].values()) == 3

    for name in ("op1", "op2"):
        assert (await env.req(name, "GET", "/api/wallboard/missed")).status == 403
    r = await env.req("sup", "GET", "/api/wallboard/missed")
    assert r.status == 200
    calls = (await r.json())["calls"]
    assert [c["call_id"] for c in calls] == ["gone"] and calls[0]["caller"] == "13900005678"
    r = await env.req("admin", "GET", "/api/wallboard/missed?reveal=false")
    assert (await r.json())["calls"][0]["caller"] == "139****5678"
    assert len(await env.audit("callbacks.read")) == 2
