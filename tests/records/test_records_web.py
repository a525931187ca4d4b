"""The records API (web/routes_records.py) on the real PostgreSQL and Redis: tickets, call
records and the audit trail still listed after Redis is flushed; roles; masking."""
from __future__ import annotations

import asyncio
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from aiohttp import DummyCookieJar
from aiohttp.test_utils import TestClient, TestServer

from records.spool import Spool
from records.writer import RecordWriter
from tickets.store import TicketStore
from web.accounts import Role
from web.app import create_app
from web.auth import PasswordHasher
from web.config import WebConfig
from web.keys import ACCOUNTS, AUDIT
from web.routes_records import records_routes

TZ = ZoneInfo("Asia/Shanghai")
CONFIG = WebConfig(hasher=PasswordHasher(n=2 ** 4, r=8, p=1), validate_responses=True, login_ip_max=1000)
PASSWORDS = {"admin": "admin-pass-123", "sup": "sup-pass-1234", "op1": "op1-pass-1234"}


async def test_records_listed_after_redis_is_flushed(pg_db, redis_client, tmp_path):
    db, _ = pg_db
    writer = RecordWriter(Spool(tmp_path / "spool.sqlite"), db.pool, TZ, idle_s=0.02)
    task = asyncio.create_task(writer.run())
    app = create_app(lambda: {"redis": {"ok": True}}, redis=redis_client, config=CONFIG,
                     routes=[records_routes(db.pool)])
    client = TestClient(TestServer(app), cookie_jar=DummyCookieJar())
    await client.start_server()
    app[AUDIT].sink = writer.audit            # as the runtime passes it (create_app audit_sink)
    try:
        accounts = app[ACCOUNTS]
        await accounts.create("admin", PASSWORDS["admin"], Role.ADMIN, "管理员")
        await accounts.create("sup", PASSWORDS["sup"], Role.SUPERVISOR, "班长")
        await accounts.create("op1", PASSWORDS["op1"], Role.OPERATOR, "话务员一", operator_id="8001")
        headers = {}
        for name, pw in PASSWORDS.items():
            r = await client.post("/api/login", json={"username": name, "password": pw})
            headers[name] = {"Cookie": f"{CONFIG.cookie}={r.cookies[CONFIG.cookie].value}"}

        tickets = TicketStore(redis_client, sink=writer.ticket)
        now = time.time()
        t1 = await tickets.create_draft("w-1", "13800001111", "芦淞区路灯不亮。", received_at=now)
        t2 = await tickets.create_draft("w-2", "13800002222", "荷塘区噪音扰民。", received_at=now + 1,
                                        confidential=True)
        writer.call("w-1", {"call_id": "w-1", "caller": "13800001111", "started": now, "status": "answered",
                            "seat": "1001", "lane": "general", "ticket": t1.id})
        assert await writer.drain(10)
        await redis_client.flushall()                  # Redis lost (sessions too: log in again)
        for name, pw in PASSWORDS.items():
            await accounts.create(name, pw, {"admin": Role.ADMIN, "sup": Role.SUPERVISOR, "op1": Role.OPERATOR}[name],
                                  name, **({"operator_id": "8001"} if name == "op1" else {}))
            r = await client.post("/api/login", json={"username": name, "password": pw})
            headers[name] = {"Cookie": f"{CONFIG.cookie}={r.cookies[CONFIG.cookie].value}"}

        day = datetime.fromtimestamp(now, TZ).date().isoformat()
        r = await client.get(f"/api/records/tickets?day={day}", headers=headers["sup"])
        assert r.status == 200, await r.text()
        listed = {t["id"]: t for t in (await r.json())["tickets"]}
        assert set(listed) == {t1.id, t2.id}
        assert listed[t1.id]["caller"] == "13800001111"
        assert listed[t2.id]["caller"] != "13800002222" and listed[t2.id]["transcript"] is None   # confidential
        r = await client.get(f"/api/records/calls?day={day}", headers=headers["sup"])
        calls = (await r.json())["calls"]
        assert [c["call_id"] for c in calls] == ["w-1"] and "13800001111" not in str(calls)
        r = await client.get("/api/records/calls/w-1", headers=headers["sup"])
        assert r.status == 200 and (await r.json())["seat"] == "1001"
        assert (await client.get("/api/records/calls/nope", headers=headers["sup"])).status == 404
        r = await client.get(f"/api/records/reports?period=day&from={day}&to={day}", headers=headers["sup"])
        assert r.status == 200, await r.text()
        rep = await r.json()
        assert {(x["kind"], x["id"], x["offered"]) for x in rep["rows"]} == {("all", "", 1), ("lane", "general", 1),
                                                                              ("seat", "1001", 1)}
        assert sum(c["tickets"] for c in rep["categories"]) == 2
        assert (await client.get(f"/api/records/reports?from={day}&to=2020-01-01", headers=headers["sup"])).status == 400
        assert (await client.get(f"/api/records/tickets?day={day}", headers=headers["op1"])).status == 403
        assert (await client.get("/api/records/audit", headers=headers["sup"])).status == 403
        assert await writer.drain(10)
        r = await client.get("/api/records/audit", headers=headers["admin"])
        assert r.status == 200
        actions = [(e["who"], e["action"]) for e in (await r.json())["entries"]]
        # the reads before the flush, kept in PostgreSQL although the Redis stream is gone
        assert ("sup", "records.tickets.read") in actions and ("sup", "records.call.read") in actions
    finally:
        task.cancel()
        await client.close()
