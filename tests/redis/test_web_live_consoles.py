"""Issue 6's load figure with console pages and real call events: 200 operator
consoles, each logged in to its own seat, while calls arrive at 50 per second
through the real routing engine (enqueue -> assign -> answer -> end, each a
Lua step writing its events to the Redis stream); a supervisor page that never
reads (a hung wallboard browser) receives every event. Each console must get
its own call's events, p99 from the event's time to the console under 200 ms,
and only the blocked page falls behind."""
from __future__ import annotations

import asyncio
import socket
import time
from types import MappingProxyType

import aiohttp
import pytest
from aiohttp import DummyCookieJar
from aiohttp.test_utils import TestClient, TestServer

from agents.config import SeatsConfig
from agents.model import Operator, Seat, WaitingCall
from agents.service import Router, SeatService
from agents.store import RoutingStore
from ivr.model import Lane
from tests.redis.test_web_live import blocked_page, events_of
from web.accounts import Role
from web.app import create_app
from web.auth import PasswordHasher
from web.config import WebConfig
from web.keys import ACCOUNTS, METRICS
from web.live import LIVE, LiveSettings, live_routes

CONFIG = WebConfig(hasher=PasswordHasher(n=2 ** 4, r=8, p=1), login_ip_max=100_000)
N = 200
CALL_EVENTS = ("call_assigned", "call_answered", "call_ended")


@pytest.mark.timeout(120)
async def test_200_consoles_with_real_call_events_at_50_per_second_and_a_blocked_page(redis_client):
    seats_ids = [str(3000 + i) for i in range(N)]
    ops = [str(6000 + i) for i in range(N)]
    cfg = SeatsConfig(seats=MappingProxyType({s: Seat(s, s, s) for s in seats_ids}),
                      operators=MappingProxyType({o: Operator(o, o, MappingProxyType({"general": 5})) for o in ops}),
                      repeat_caller=None, wrap_up_s=0)
    store = RoutingStore(redis_client, cfg, prefix="hotline")
    await store.load_scripts()
    router = Router(store, [Lane("general", "综合受理", 1)])
    seats = SeatService(store, notify=router.poke)
    live = live_routes(redis_client, router=router, settings=LiveSettings(queue_size=64, send_timeout_s=2.0))
    app = create_app(lambda: {}, redis=redis_client, config=CONFIG, routes=[live])
    client = TestClient(TestServer(app), cookie_jar=DummyCookieJar())
    await client.start_server()
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    try:
        accounts = app[ACCOUNTS]
        await accounts.create("sup", "sup-pass-1234", Role.SUPERVISOR, "班长")
        cookies = []
        for op, seat in zip(ops, seats_ids):
            await accounts.create(f"op{op}", "op-pass-12345", Role.OPERATOR, op, operator_id=op)
            await seats.login(seat, op)
            r = await client.post("/api/login", json={"username": f"op{op}", "password": "op-pass-12345"})
            cookies.append(f"{CONFIG.cookie}={r.cookies[CONFIG.cookie].value}")
        r = await client.post("/api/login", json={"username": "sup", "password": "sup-pass-1234"})
        blocked = await blocked_page(client.server.port, f"{CONFIG.cookie}={r.cookies[CONFIG.cookie].value}")
        hub = app[LIVE]
        for _ in range(100):
            if hub.clients:
                break
            await asyncio.sleep(0.01)
        (stuck,) = hub.clients
        stuck.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        stuck.transport.set_write_buffer_limits(high=4096)
        pages = [await session.ws_connect(client.make_url("/ws"), headers={"Cookie": c}) for c in cookies]
        for _ in range(200):
            if len(hub.clients) == N + 1 and all(c.seat for c in hub.clients if not c.sees_all):
                break
            await asyncio.sleep(0.01)
        assert sorted(c.seat for c in hub.clients if not c.sees_all) == seats_ids   # each console on its seat

        latencies: list[float] = []
        by_type: dict[str, list[float]] = {}
        got: list[dict[str, set[str]]] = [{} for _ in pages]

        async def read(i, ws):
            async for msg in ws:
                now = time.time()
                for data in events_of(msg.data):
                    if data["type"] in CALL_EVENTS:
                        latencies.append(now - data["ts"])
                        by_type.setdefault(data["type"], []).append(now - data["ts"])
                        got[i].setdefault(data["call_id"], set()).add(data["type"])
                        if data["type"] == "call_ended":
                            return

        readers = [asyncio.create_task(read(i, ws)) for i, ws in enumerate(pages)]
        rate = 50.0

        async def one_call(i: int) -> None:
            cid = f"load-{i:04d}"
            await router.enqueue(WaitingCall(cid, "general", f"1380000{i:04d}"))
            await router.match()
            await asyncio.sleep(0.5)
            await router.answered(cid)
            await asyncio.sleep(1.0)
            await router.ended(cid, wrap_up_s=0)

        start = time.monotonic()
        calls = []
        for i in range(N):                              # 4 s of calls at 50 per second
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            calls.append(asyncio.create_task(one_call(i)))
        await asyncio.gather(*calls)
        await asyncio.wait_for(asyncio.gather(*readers), 20)
        latencies.sort()
        p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
        print(f"\n{N} consoles, {N} calls at {rate:.0f}/s ({len(latencies)} call events): "
              f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms")
        # every console got exactly its own call's assigned/answered/ended, nobody else's
        for k, v in by_type.items():
            v.sort()
            print(k, f"p50 {v[len(v) // 2] * 1000:.1f} ms, p99 {v[int(len(v) * 0.99)] * 1000:.1f} ms")
        assert all(len(g) == 1 and set(next(iter(g.values()))) == set(CALL_EVENTS) for g in got)
        assert len({next(iter(g)) for g in got}) == N
        assert p99 < 0.2
        discarded = app[METRICS].get("hotline_ws_messages_total").value(result="discarded")
        print(f"blocked supervisor page: {discarded:.0f} messages discarded")
        assert discarded > 0                            # the blocked page fell behind, alone
        blocked.close()
        await asyncio.gather(*(ws.close() for ws in pages))
    finally:
        await session.close()
        await client.close()
