"""The reports API on a real Redis: counters seeded in the routing engine's
day hashes and tickets filed through the real TicketStore, expected sums
computed here from the seed; roles; CSV export; the weekly category trend;
and the figures of a call run through the real Router."""
from __future__ import annotations

import csv
import io
import random
from datetime import date, datetime, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

import pytest
from aiohttp import DummyCookieJar
from aiohttp.test_utils import TestClient, TestServer

from agents.config import SeatsConfig
from agents.model import Operator, Seat, WaitingCall
from agents.service import Router, SeatService
from agents.store import RoutingStore
from ivr.model import Lane
from tickets.model import DraftTicket
from tickets.store import TicketStore
from web.accounts import Role
from web.app import create_app
from web.auth import PasswordHasher
from web.config import WebConfig
from web.keys import ACCOUNTS, AUDIT
from web.routes_reports import reports_routes

TZ = ZoneInfo("Asia/Shanghai")
PASSWORDS = {"admin": "admin-pass-123", "sup": "sup-pass-1234", "op1": "op1-pass-1234"}
CONFIG = WebConfig(hasher=PasswordHasher(n=2 ** 4, r=8, p=1), validate_responses=True, login_ip_max=1000)
LANES = [Lane("general", "综合受理", 1), Lane("enterprise", "政企通专席", 5)]
SEATS = ("1001", "1002")
TODAY = date(2026, 12, 1)                              # a Tuesday
WAGES, ROADS, NOISE = ("人力资源社会保障", "欠薪"), ("交通运输与交通秩序", "道路交通"), ("城市管理", "噪音扰民")


def noon(day: date) -> float:
    return datetime(day.year, day.month, day.day, 12, tzinfo=TZ).timestamp()


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
async def env(redis_client):
    clock = Clock(noon(TODAY))
    cfg = SeatsConfig(seats=MappingProxyType({s: Seat(s, f"坐席{s}", s) for s in SEATS}),
                      operators=MappingProxyType({"7001": Operator("7001", "工号7001",
                                                                   MappingProxyType({"general": 5}))}),
                      repeat_caller=None, wrap_up_s=0)
    store = RoutingStore(redis_client, cfg, prefix="hotline", clock=clock)
    await store.load_scripts()
    router = Router(store, LANES)
    tickets = TicketStore(redis_client, clock=clock)
    app = create_app(lambda: {"redis": {"ok": True}}, redis=redis_client, config=CONFIG,
                     routes=[reports_routes(router, tickets, redis_client)])
    client = TestClient(TestServer(app), cookie_jar=DummyCookieJar())
    await client.start_server()
    accounts = app[ACCOUNTS]
    await accounts.create("admin", PASSWORDS["admin"], Role.ADMIN, "管理员")
    await accounts.create("sup", PASSWORDS["sup"], Role.SUPERVISOR, "班长")
    await accounts.create("op1", PASSWORDS["op1"], Role.OPERATOR, "话务员一", operator_id="7001")
    headers = {}
    for name, pw in PASSWORDS.items():
        r = await client.post("/api/login", json={"username": name, "password": pw})
        headers[name] = {"Cookie": f"{CONFIG.cookie}={r.cookies[CONFIG.cookie].value}"}

    async def get(name, path):
        return await client.get(path, headers=headers.get(name, {}), allow_redirects=False)
    yield {"get": get, "redis": redis_client, "tickets": tickets, "router": router, "clock": clock,
           "seats": SeatService(store, notify=router.poke), "app": app}
    await client.close()


# A seed: 30 days of counters ending today for each scope, random but fixed.
SCOPES = ("all", "lane:general", "lane:enterprise", "seat:1001", "seat:1002")
NAMES = ("offered", "answered", "answered_sl", "abandoned", "wait_ms", "answer_wait_ms", "talk_ms", "wrap_ms",
         "rang", "no_answer")


async def seed_counters(redis, days: int = 30) -> dict[tuple[date, str], dict[str, int]]:
    rng = random.Random(6)
    seeded = {}
    for i in range(days):
        day = TODAY - timedelta(days=i)
        for scope in SCOPES:
            values = {n: rng.randint(0, 50) for n in NAMES}
            values["wait_ms"] *= 1000
            key = f"hotline:stats:{day.strftime('%Y%m%d')}:{scope}"
            await redis.hset(key, mapping={**values, "offered@09": 999, "answered@10": 999})   # hours: not summed
            seeded[(day, scope)] = values
    return seeded


async def test_weekly_figures_per_lane_and_seat_are_the_sums_of_the_days(env):
    seeded = await seed_counters(env["redis"])
    r = await env["get"]("sup", "/api/reports?period=week&from=2026-11-16&to=2026-12-01")
    assert r.status == 200, await r.text()
    data = await r.json()
    assert [p["key"] for p in data["periods"]] == ["2026-W47", "2026-W48", "2026-W49"]
    assert data["periods"][2] == {"key": "2026-W49", "label": "2026年第49周", "from": "2026-11-30",
                                  "to": "2026-12-01"}
    rows = {(row["period"], row["kind"], row["id"]): row for row in data["rows"]}
    assert len(rows) == 3 * len(SCOPES)
    weeks = {"2026-W47": (date(2026, 11, 16), 7), "2026-W48": (date(2026, 11, 23), 7),
             "2026-W49": (date(2026, 11, 30), 2)}
    for week, (first, n) in weeks.items():
        for scope in SCOPES:
            kind, _, ident = scope.partition(":")
            row = rows[(week, kind, ident)]
            want = {name: sum(seeded[(first + timedelta(days=k), scope)][name] for k in range(n)) for name in NAMES}
            for name in ("offered", "answered", "abandoned", "rang", "no_answer"):
                assert row[name] == want[name], (week, scope, name)
            ended = want["answered"] + want["abandoned"]
            assert row["answer_rate"] == (round(want["answered"] / ended, 4) if ended else None)
            assert row["service_level"] == (round(want["answered_sl"] / ended, 4) if ended else None)
            assert row["avg_wait_s"] == (round(want["wait_ms"] / ended / 1000, 1) if ended else None)
    assert rows[("2026-W49", "lane", "general")]["name"] == "综合受理"
    assert rows[("2026-W49", "seat", "1002")]["name"] == "坐席1002"


async def test_daily_and_quarterly_periods(env):
    seeded = await seed_counters(env["redis"], days=40)
    r = await env["get"]("admin", "/api/reports?period=day&from=2026-11-28&to=2026-12-01")
    data = await r.json()
    daily = [row for row in data["rows"] if row["kind"] == "all"]
    assert [row["period"] for row in daily] == ["2026-11-28", "2026-11-29", "2026-11-30", "2026-12-01"]
    assert [row["offered"] for row in daily] == [seeded[(date(2026, 11, d), "all")]["offered"] for d in (28, 29, 30)] \
        + [seeded[(TODAY, "all")]["offered"]]
    r = await env["get"]("sup", "/api/reports?period=quarter&from=2026-09-25&to=2026-12-01")
    data = await r.json()
    assert [p["key"] for p in data["periods"]] == ["2026-Q3", "2026-Q4"]
    rows = {(row["period"], row["kind"], row["id"]): row for row in data["rows"]}
    q3 = sum(v["answered"] for (d, s), v in seeded.items() if s == "seat:1001" and date(2026, 9, 25) <= d <= date(2026, 9, 30))
    q4 = sum(v["answered"] for (d, s), v in seeded.items() if s == "seat:1001" and d >= date(2026, 10, 1))
    assert rows[("2026-Q3", "seat", "1001")]["answered"] == q3
    assert rows[("2026-Q4", "seat", "1001")]["answered"] == q4


async def file_tickets(env) -> list[tuple[date, tuple[str, ...], bool]]:
    """Tickets on several days; some confirmed with the category corrected. Returns (day, category, confirmed)."""
    tickets: TicketStore = env["tickets"]
    plan = [(date(2026, 11, 17), WAGES, None), (date(2026, 11, 18), ROADS, WAGES), (date(2026, 11, 24), WAGES, None),
            (date(2026, 11, 25), WAGES, WAGES), (date(2026, 11, 25), NOISE, None), (date(2026, 11, 30), WAGES, None),
            (date(2026, 12, 1), WAGES, ROADS), (date(2026, 12, 1), WAGES, WAGES), (date(2026, 12, 1), ROADS, None)]
    out = []
    for i, (day, drafted, confirmed_as) in enumerate(plan):
        t = await tickets.create_draft(f"call-{i}", f"1380000{i:04d}", DraftTicket(category=drafted),
                                       received_at=noon(day) + i)
        if confirmed_as is not None:
            await tickets.confirm(t.id, "7001", {"category": list(confirmed_as)})
        out.append((day, confirmed_as or drafted, confirmed_as is not None))
    return out


async def test_categories_per_week_use_the_confirmed_category(env):
    filed = await file_tickets(env)
    r = await env["get"]("sup", "/api/reports?period=week&from=2026-11-16&to=2026-12-01")
    data = await r.json()
    got = {(c["period"], c["category"]): (c["tickets"], c["confirmed"]) for c in data["categories"]}
    want: dict[tuple[str, str], list[int]] = {}
    for day, cat, confirmed in filed:
        y, w, _ = day.isocalendar()
        k = want.setdefault((f"{y}-W{w:02d}", "/".join(cat)), [0, 0])
        k[0] += 1
        k[1] += int(confirmed)
    assert got == {k: tuple(v) for k, v in want.items()}
    r = await env["get"]("sup", "/api/reports?period=quarter&from=2026-10-01&to=2026-12-01&level=1")
    cats = {c["category"]: c["tickets"] for c in (await r.json())["categories"]}
    assert cats == {"人力资源社会保障": 6, "交通运输与交通秩序": 2, "城市管理": 1}


async def test_settled_days_are_cached_and_not_read_again(env):
    await file_tickets(env)
    r = await env["get"]("sup", "/api/reports?period=week&from=2026-11-16&to=2026-12-01")
    before = (await r.json())["categories"]
    cached = sorted(await env["redis"].keys("hotline:reports:cat2:*"))
    assert "hotline:reports:cat2:20261117" in cached
    assert "hotline:reports:cat2:20261130" not in cached and "hotline:reports:cat2:20261201" not in cached
    # a ticket of an old day removed from its index: the cached count stands; today's is read afresh
    await env["redis"].delete("tickets:day:20261117")
    t = await env["tickets"].create_draft("late", "13800009999", DraftTicket(category=NOISE),
                                          received_at=noon(TODAY) + 100)
    assert t.id
    r = await env["get"]("sup", "/api/reports?period=week&from=2026-11-16&to=2026-12-01")
    after = {(c["period"], c["category"]): c["tickets"] for c in (await r.json())["categories"]}
    old = {(c["period"], c["category"]): c["tickets"] for c in before}
    assert after[("2026-W47", "人力资源社会保障/欠薪")] == old[("2026-W47", "人力资源社会保障/欠薪")] == 2
    assert after[("2026-W49", "城市管理/噪音扰民")] == 1 and ("2026-W49", "城市管理/噪音扰民") not in old


async def test_trend_of_categories_over_weeks(env):
    filed = await file_tickets(env)
    r = await env["get"]("sup", "/api/reports/trend?from=2026-11-16&to=2026-12-01&top=1&focus=城市管理/噪音扰民")
    assert r.status == 200, await r.text()
    t = await r.json()
    assert [w["key"] for w in t["weeks"]] == ["2026-W47", "2026-W48", "2026-W49"]
    series = {s["category"]: s["counts"] for s in t["series"]}
    wages = [sum(1 for d, c, _ in filed if c == WAGES and d.isocalendar()[1] == w) for w in (47, 48, 49)]
    assert series["人力资源社会保障/欠薪"] == wages
    assert series["城市管理/噪音扰民"] == [0, 1, 0]
    assert series["其他类别"] == [0, 0, 2]                 # the roads tickets (not in the top 1)
    assert t["totals"] == [sum(1 for d, _, _ in filed if d.isocalendar()[1] == w) for w in (47, 48, 49)]


async def test_csv_export_opens_in_excel_as_utf8(env):
    seeded = await seed_counters(env["redis"], days=3)
    await file_tickets(env)
    r = await env["get"]("sup", "/api/reports/export?period=day&from=2026-11-30&to=2026-12-01")
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in r.headers["Content-Disposition"]
    raw = await r.read()
    assert raw[:3] == b"\xef\xbb\xbf"
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    head = table[0]
    assert head[:3] == ["统计周期", "周期名称", "维度"] and "接通率" in head
    rows = [dict(zip(head, line)) for line in table[1:]]
    assert len(rows) == 2 * len(SCOPES)
    lane = next(x for x in rows if x["统计周期"] == "2026-12-01" and x["编号"] == "general")
    assert lane["维度"] == "队列" and lane["名称"] == "综合受理"
    assert int(lane["呼入量"]) == seeded[(TODAY, "lane:general")]["offered"]
    r = await env["get"]("admin", "/api/reports/export?period=week&from=2026-11-30&to=2026-12-01&part=categories")
    table = list(csv.reader(io.StringIO((await r.read()).decode("utf-8-sig"))))
    assert table[0] == ["统计周期", "周期名称", "诉求类别", "工单数", "已确认工单", "占比"]
    assert sorted(line[2:5] for line in table[1:]) == [["交通运输与交通秩序/道路交通", "2", "1"],
                                                       ["人力资源社会保障/欠薪", "2", "1"]]
    audit = [e for e in await env["app"][AUDIT].entries(count=100) if e.action == "reports.export"]
    assert len(audit) == 2


async def test_a_real_call_through_the_router_shows_in_todays_report(env):
    router, clock = env["router"], env["clock"]
    await env["seats"].login("1001", "7001")
    await router.enqueue(WaitingCall("c1", "general", "13800001234", clock.t))
    clock.t += 4
    await router.match()
    await router.answered("c1")
    clock.t += 60
    await router.ended("c1")
    r = await env["get"]("sup", "/api/reports?period=day&from=2026-12-01&to=2026-12-01")
    rows = {(row["kind"], row["id"]): row for row in (await r.json())["rows"]}
    assert rows[("lane", "general")]["offered"] == 1 and rows[("lane", "general")]["answered"] == 1
    assert rows[("lane", "general")]["service_level"] == 1.0 and rows[("lane", "general")]["avg_answer_s"] == 4.0
    assert rows[("seat", "1001")]["answered"] == 1 and rows[("seat", "1001")]["avg_talk_s"] == 60.0
    assert rows[("seat", "1002")]["answered"] == 0 and rows[("lane", "enterprise")]["offered"] == 0


async def test_roles_and_bad_requests(env):
    get = env["get"]
    assert (await get(None, "/api/reports")).status == 401
    assert (await get(None, "/reports")).status == 302
    for path in ("/api/reports", "/api/reports/trend", "/api/reports/export", "/reports"):
        assert (await get("op1", path)).status == 403, path
        assert (await get("sup", path)).status == 200, path
    page = await get("admin", "/reports")
    assert "统计报表" in await page.text()
    for query, error in (("from=2026-12-02&to=2026-12-01", "invalid_range"), ("from=2025-01-01", "range_too_long"),
                         ("from=2026-02-30", "invalid_date"), ("period=month", "invalid_request")):
        r = await get("sup", f"/api/reports?{query}")
        assert r.status == 400, query
        assert (await r.json())["error"] == error, query
    r = await get("sup", "/api/reports")                       # defaults: the last 12 weeks
    data = await r.json()
    assert data["period"] == "week" and data["to"] == "2026-12-01" and len(data["periods"]) == 12
