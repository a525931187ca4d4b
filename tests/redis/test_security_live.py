"""Issue #12 item 5 on a real Redis: an open live WebSocket does not outlive the rights it
was opened with. Logout, idle expiry, the account disabled or its role changed close it,
on every node (pushed through Redis pub/sub); oversized frames from a page close it too."""
from __future__ import annotations

import asyncio
from dataclasses import replace

import aiohttp
import pytest
from aiohttp import DummyCookieJar
from aiohttp.test_utils import TestClient, TestServer

from tests.redis.test_web_live import CONFIG, PASSWORDS
from web.accounts import Role
from web.app import create_app
from web.keys import ACCOUNTS
from web.live import LiveSettings, live_routes


async def node(redis_client, config=CONFIG, accounts=True):
    fast = {"recheck_s": 0.2} if "recheck_s" in LiveSettings.__dataclass_fields__ else {}  # (older code: none)
    live = live_routes(redis_client, settings=LiveSettings(**fast))
    app = create_app(lambda: {}, redis=redis_client, config=config, routes=[live])
    client = TestClient(TestServer(app), cookie_jar=DummyCookieJar())
    await client.start_server()
    if accounts:
        a = app[ACCOUNTS]
        await a.create("sup", PASSWORDS["sup"], Role.SUPERVISOR, "班长")
        await a.create("op1", PASSWORDS["op1"], Role.OPERATOR, "一", operator_id="7001")
    return client, app


async def login(client, name) -> tuple[str, str]:
    r = await client.post("/api/login", json={"username": name, "password": PASSWORDS[name]})
    assert r.status == 200
    return f"{CONFIG.cookie}={r.cookies[CONFIG.cookie].value}", (await r.json())["csrf_token"]


async def open_ws(client, cookie):
    ws = await client.ws_connect("/ws", headers={"Cookie": cookie, "Origin": str(client.make_url("")).rstrip("/")})
    hello = await ws.receive_json(timeout=3)
    assert hello["type"] == "hello"
    return ws


async def closed_within(ws, seconds: float) -> int | None:
    """The close code if the server closes the socket within `seconds`, else None."""
    try:
        async with asyncio.timeout(seconds):
            while True:
                msg = await ws.receive()
                if msg.type is aiohttp.WSMsgType.CLOSE:
                    return int(msg.data)
                if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):
                    return ws.close_code or 1006
    except TimeoutError:
        return None


@pytest.fixture
async def one(redis_client):
    client, app = await node(redis_client)
    yield client, app
    await client.close()


async def test_logout_closes_the_open_socket(one):
    client, _ = one
    cookie, csrf = await login(client, "op1")
    ws = await open_ws(client, cookie)
    r = await client.post("/api/logout", headers={"Cookie": cookie, "X-CSRF-Token": csrf,
                                                  "Origin": str(client.make_url("")).rstrip("/")})
    assert r.status == 204
    assert await closed_within(ws, 2.0) == 4401


@pytest.mark.parametrize("change", [{"disabled": True}, {"role": Role.SUPERVISOR}, {"operator_id": "7002"}])
async def test_an_account_change_closes_the_open_socket(one, change):
    client, app = one
    cookie, _ = await login(client, "op1")
    ws = await open_ws(client, cookie)
    user = await app[ACCOUNTS].by_username("op1")
    await app[ACCOUNTS].update(user.id, **change)
    assert await closed_within(ws, 2.0) == 4401


async def test_idle_expiry_closes_the_open_socket(redis_client):
    client, _ = await node(redis_client, config=replace(CONFIG, session_idle_s=1.0))
    try:
        cookie, _ = await login(client, "sup")
        ws = await open_ws(client, cookie)
        assert await closed_within(ws, 0.5) is None          # still within the idle time
        assert await closed_within(ws, 3.0) == 4401           # then closed by the re-check
    finally:
        await client.close()


async def test_logout_on_one_node_closes_the_socket_on_another(redis_client):
    a, _ = await node(redis_client)
    b, _ = await node(redis_client, accounts=False)             # same Redis: another controller
    try:
        cookie, csrf = await login(a, "sup")
        ws = await open_ws(b, cookie)                           # the page is connected to node B
        r = await a.post("/api/logout", headers={"Cookie": cookie, "X-CSRF-Token": csrf,
                                                 "Origin": str(a.make_url("")).rstrip("/")})
        assert r.status == 204
        assert await closed_within(ws, 2.0) == 4401
    finally:
        await a.close()
        await b.close()


async def test_an_oversized_frame_from_a_page_closes_its_socket(one):
    client, _ = one
    cookie, _ = await login(client, "op1")
    ws = await open_ws(client, cookie)
    await ws.send_str("x" * 10_000)
    assert await closed_within(ws, 2.0) is not None
