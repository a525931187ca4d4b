"""The /reports API from SQL (records database on): calls run through the real Router on a real
Redis over several days, the routing events followed into PostgreSQL, and the same report
requests answered by a Redis-backed and a SQL-backed app give the same figures, per lane, seat
and category, day, week and quarter, and the category trend; after Redis is flushed the SQL
one still does."""
from __future__ import annotations

import asyncio
from datetime import date, timedelta
from types import MappingProxyType

from aiohttp import DummyCookieJar
from aiohttp.test_utils import TestClient, TestServer

from agents.config import SeatsConfig
from agents.model import CancelReason, Operator, Seat, WaitingCall
from agents.service import Router, SeatService
from agents.store import RoutingStore
from records.reports import SqlReportFigures
from records.route_counts import event_counts, follow_route_events
from records.spool import Spool
from records.writer import RecordWriter
from tests.redis.test_web_reports import CONFIG, LANES, NOISE, ROADS, TZ, WAGES, Clock, noon
from tickets.model import DraftTicket
from tickets.store import TicketStore
from web.accounts import Role
from web.app import create_app
from web.routes_reports import reports_routes

SEATS = ("1001", "1002")
FIRST = date(2026, 11, 27)                   # a Friday: the days run over an ISO week's end


async def _app(redis, router, tickets, figures):
    """A reports app and a `get` that logs a supervisor in first (again after Redis lost the account)."""
    from web.accounts import AccountError
    from web.keys import ACCOUNTS

    app = create_app(lambda: {"redis": {"ok": True}}, redis=redis, config=CONFIG,
                     routes=[reports_routes(router, tickets, redis, figures)])
    client = TestClient(TestServer(app), cookie_jar=DummyCookieJar())
    await client.start_server()
    cookie: dict = {}

    async def get(path):
        resp = await client.get(path, headers=cookie)
        if resp.status == 401:
            try:
                await app[ACCOUNTS].create("sup", "sup-pass-1234", Role.SUPERVISOR, "班长")
            except AccountError:
                pass
            r = await client.post("/api/login", json={"username": "sup", "password": "sup-pass-1234"})
            cookie["Cookie"] = f"{CONFIG.cookie}={r.cookies[CONFIG.cookie].value}"
            resp = await client.get(path, headers=cookie)
        assert resp.status == 200, await resp.text()
        return await resp.json()
    return client, get


async def _traffic(router: Router, seats: SeatService, tickets: TicketStore, clock: Clock) -> None:
    """Four days of calls: answered in and out of the service level, abandoned, rung and not
    answered, with wrap-up, on both lanes; tickets with confirmed and drafted categories."""
    n = 0
    for d in range(4):
        clock.t = noon(FIRST + timedelta(days=d))
        for sid, op in zip(SEATS, ("7001", "7002")):
            await seats.login(sid, op)
        for i in range(3 + d):
            n += 1
            cid = f"c{n}"
            lane = "enterprise" if i % 3 == 2 else "general"
            await router.enqueue(WaitingCall(cid, lane, f"1380000{n:04d}", clock.t))
            clock.t += 3 + 10 * i
            if i % 4 == 3:                                  # the caller hangs up while waiting
                await router.cancel(cid, CancelReason.ABANDONED)
                continue
            got = await router.match()
            assert got, f"no seat for {cid}"
            if i % 4 == 1:                                  # the seat does not answer, the next one does
                clock.t += 5
                await router.requeue_front(cid)
                await seats.ready(got[0].seat_id)
                got = await router.match()
            clock.t += 2
            await router.answered(cid)
            clock.t += 40 + i
            await router.ended(cid, wrap_up_s=30)
            clock.t += 7
            await seats.ready(got[0].seat_id)              # wrap-up ended by the operator
            cat = (WAGES, ROADS, NOISE)[n % 3]
            t = await tickets.create_draft(cid, f"1380000{n:04d}", DraftTicket(category=list(cat)))
            if n % 2:
                await tickets.confirm(t.id, "7001", {"category": list((ROADS, NOISE)[n % 2])})
        for sid in SEATS:
            await seats.logout(sid)


async def test_reports_from_sql_match_the_routing_counters_and_survive_redis_loss(pg_db, redis_client, tmp_path):
    db, _ = pg_db
    clock = Clock(noon(FIRST))
    ops = {o: Operator(o, f"工号{o}", MappingProxyType({"general": 5, "enterprise": 5})) for o in ("7001", "7002")}
    cfg = SeatsConfig(seats=MappingProxyType({s: Seat(s, f"坐席{s}", s) for s in SEATS}),
                      operators=MappingProxyType(ops), repeat_caller=None, wrap_up_s=0)
    store = RoutingStore(redis_client, cfg, prefix="hotline", clock=clock)
    await store.load_scripts()
    router = Router(store, LANES)
    writer = RecordWriter(Spool(tmp_path / "spool.sqlite"), db.pool, TZ, idle_s=0.02)
    tickets = TicketStore(redis_client, clock=clock, sink=writer.ticket)
    wtask = asyncio.create_task(writer.run())
    position = tmp_path / "route.last"
    tap = asyncio.create_task(follow_route_events(redis_client, writer, prefix="hotline", position=position,
                                                  block_ms=50))
    redis_client_app = sql_app = None
    try:
        await _traffic(router, SeatService(store, notify=router.poke), tickets, clock)
        clock.t = noon(FIRST + timedelta(days=3))
        last_id = (await redis_client.xrevrange("hotline:events", count=1))[0][0]

        async def caught_up():
            while position.read_text() != last_id if position.exists() else True:
                await asyncio.sleep(0.05)
        await asyncio.wait_for(caught_up(), 20)
        assert await writer.drain(10)
        redis_client_app, from_redis = await _app(redis_client, router, tickets, None)
        sql_app, from_sql = await _app(redis_client, router, tickets, SqlReportFigures(db.pool))
        paths = [f"/api/reports?period={p}&from=2026-11-01&to=2026-12-31&level={lv}"
                 for p in ("day", "week", "quarter") for lv in (1, 2)]
        paths.append("/api/reports/trend?from=2026-11-23&to=2026-12-06&level=2")
        expected = {p: await from_redis(p) for p in paths}
        got = {p: await from_sql(p) for p in paths}
        for p in paths:
            assert got[p] == expected[p], p
        week = {(r["period"], r["kind"], r["id"]): r for r in expected[paths[2]]["rows"]}
        w48, w49 = week[("2026-W48", "all", "")], week[("2026-W49", "all", "")]
        assert w48["offered"] == 3 + 4 + 5 and w49["offered"] == 6    # what the traffic made (not all zeros)
        assert w48["abandoned"] + w49["abandoned"] >= 3 and w48["no_answer"] + w49["no_answer"] >= 4
        assert w48["wrap_ms"] > 0 and week[("2026-W49", "seat", "1002")]["answered"] > 0
        assert {c["category"] for c in expected[paths[3]]["categories"]} == {"/".join(ROADS), "/".join(NOISE),
                                                                            "/".join(WAGES)}
        # Redis lost: the SQL figures stay
        await redis_client.flushall()
        for p in paths:
            assert await from_sql(p) == expected[p], p
        clock.t = noon(FIRST + timedelta(days=40))     # the days are over: the same figures from the rollup
        for _ in range(2):
            for p in paths:
                assert await from_sql(p) == expected[p], p
        async with db.pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(DISTINCT day) FROM ticket_days WHERE n > 0") >= 4
    finally:
        tap.cancel()
        wtask.cancel()
        for app in (redis_client_app, sql_app):
            if app is not None:
                await app.close()
    # written twice (another controller, a replay after a crash): counted once
    async with db.pool.acquire() as conn:
        before = await conn.fetchval("SELECT sum(n) FROM route_counts")
        events = await conn.fetch("SELECT id, data FROM route_events")
    replay = RecordWriter(Spool(tmp_path / "spool2.sqlite"), db.pool, TZ, idle_s=0.02)
    for r in events:
        replay.put("route", r["id"], {"id": r["id"], "ev": r["data"]})
    rtask = asyncio.create_task(replay.run())
    assert await replay.drain(10)
    rtask.cancel()
    async with db.pool.acquire() as conn:
        assert await conn.fetchval("SELECT sum(n) FROM route_counts") == before


def test_event_counts_go_to_the_scopes_the_routing_script_counted_them_in():
    ev = {"type": "call_answered", "day": "20261201",
          "counts": [["general", "1001", "answered", "1"], ["general", "", "offered", "1"],
                     ["", "", "lost", "2"], ["general", "1001", "bogus", "9"]]}
    d = date(2026, 12, 1)
    assert event_counts(ev) == {(d, "all", "answered"): 1, (d, "lane:general", "answered"): 1,
                                (d, "seat:1001", "answered"): 1, (d, "all", "offered"): 1,
                                (d, "lane:general", "offered"): 1, (d, "all", "lost"): 2}
    assert event_counts({"type": "seat_state"}) == {} and event_counts({"counts": [], "day": "bad"}) == {}
