"""The knowledge API (web/routes_knowledge.py) on the real PostgreSQL and Redis: admins write, operators
read and search; import and export; a search from the transcript; 直接办结 closes the draft ticket with
the article as its resolution; an expired article cannot be cited; audit entries; the report."""
from __future__ import annotations

import json
from datetime import date

from aiohttp import DummyCookieJar
from aiohttp.test_utils import TestClient, TestServer

from records.knowledge import KnowledgeStore
from tests.records.test_records_web import CONFIG
from tickets.store import TicketStore
from web.accounts import Role
from web.app import create_app
from web.keys import ACCOUNTS, AUDIT
from web.routes_knowledge import Knowledge, knowledge_routes

USERS = {"admin": (Role.ADMIN, "admin-pass-123"), "sup": (Role.SUPERVISOR, "sup-pass-1234"),
         "op1": (Role.OPERATOR, "op1-pass-1234")}


async def test_knowledge_api(pg_db, redis_client):
    db, _ = pg_db
    tickets = TicketStore(redis_client)
    app = create_app(lambda: {"redis": {"ok": True}}, redis=redis_client, config=CONFIG,
                     routes=[knowledge_routes(Knowledge(KnowledgeStore(db.pool), tickets))])
    client = TestClient(TestServer(app), cookie_jar=DummyCookieJar())
    await client.start_server()
    try:
        h = {}
        for name, (role, pw) in USERS.items():
            await app[ACCOUNTS].create(name, pw, role, name, **({"operator_id": "8001"} if name == "op1" else {}))
            r = await client.post("/api/login", json={"username": name, "password": pw})
            h[name] = {"Cookie": f"{CONFIG.cookie}={r.cookies[CONFIG.cookie].value}",
                       "X-CSRF-Token": (await r.json())["csrf_token"]}

        doc = {"question": "社保卡丢失了如何补办？", "answer": "携带身份证到市民中心社保窗口补办。", "department": "市人社局",
               "keywords": "社保卡、补卡", "source": "株人社发〔2024〕3号"}
        assert (await client.post("/api/admin/knowledge/articles", json=doc, headers=h["op1"])).status == 403
        assert (await client.post("/api/admin/knowledge/articles", json=doc, headers=h["sup"])).status == 403
        r = await client.post("/api/admin/knowledge/articles", json=doc, headers=h["admin"])
        assert r.status == 201, await r.text()
        art = await r.json()
        assert art["keywords"] == ["社保卡", "补卡"]
        r = await client.post("/api/admin/knowledge/articles", json={"question": "", "answer": "x", "valid_from": "2026-13-01"},
                              headers=h["admin"])
        assert r.status == 400
        fields = {p["field"] for p in (await r.json())["details"]["problems"]}
        assert fields == {"question", "valid_from"}
        old = await (await client.post("/api/admin/knowledge/articles", headers=h["admin"], json={
            "question": "社保卡补办要钱吗？", "answer": "收工本费20元。", "valid_until": "2020-12-31"})).json()

        # import: CSV, all or nothing; export JSON and CSV
        csv_text = "question,answer,keywords\n公积金提取需要什么材料？,购房合同和身份证。,公积金、提取\n"
        r = await client.post("/api/admin/knowledge/import", json={"format": "csv", "text": csv_text}, headers=h["admin"])
        assert (await r.json()) == {"added": 1, "updated": 0}
        r = await client.post("/api/admin/knowledge/import", json={"format": "csv", "text": "question,answer\n问,\n"},
                              headers=h["admin"])
        assert r.status == 400 and (await r.json())["details"]["problems"][0]["line"] == 2
        exported = json.loads(await (await client.get("/api/admin/knowledge/export?format=json", headers=h["admin"])).text())
        assert [a["question"] for a in exported][::2] == ["社保卡丢失了如何补办？", "公积金提取需要什么材料？"]
        csv_out = await (await client.get("/api/admin/knowledge/export?format=csv", headers=h["admin"])).text()
        assert csv_out.startswith("\ufeffid,question,answer")
        assert (await client.get("/api/admin/knowledge/export", headers=h["op1"])).status == 403

        # the console's search: the current article only, highlighted
        r = await client.post("/api/knowledge/suggest", headers=h["op1"],
                              json={"text": "您好我的社宝卡丢了要补办", "call_id": "c-1", "keep": True})
        found = (await r.json())["articles"]
        assert [a["id"] for a in found] == [art["id"]]
        assert any(s["hit"] for s in found[0]["passage"]["question"])
        await client.post("/api/knowledge/suggest", headers=h["op1"], json={"text": "楼下烧烤店油烟太大", "keep": True})

        # 直接办结 (an admin reaches any call; the operator's own-call check is the console's)
        t = await tickets.create_draft("c-1", "13800001111", "社保卡丢了怎么补办")
        r = await client.post("/api/knowledge/answered", headers=h["admin"],
                              json={"ticket_id": t.id, "article_id": old["id"]})
        assert r.status == 400                              # expired: never quoted
        r = await client.post("/api/knowledge/answered", headers=h["admin"],
                              json={"ticket_id": t.id, "article_id": art["id"], "fields": {"appeal_type": "咨询"}})
        assert r.status == 200, await r.text()
        stored = await tickets.get(t.id)
        assert stored.status == "confirmed"
        assert stored.confirmed["resolution"] == "直接办结" and stored.confirmed["kb_article"] == str(art["id"])
        assert stored.confirmed["appeal_type"] == "咨询"
        r = await client.post("/api/knowledge/answered", headers=h["admin"],
                              json={"ticket_id": t.id, "article_id": art["id"]})
        assert r.status == 409

        actions = [e.action for e in await app[AUDIT].entries()]
        for a in ("knowledge.create", "knowledge.import", "knowledge.export", "knowledge.answered"):
            assert a in actions, (a, actions)

        assert (await client.get("/api/reports/knowledge", headers=h["op1"])).status == 403
        rep = await (await client.get(f"/api/reports/knowledge?from={date.today().isoformat()}", headers=h["sup"])).json()
        assert rep["answered_on_call"] == 1 and rep["share"] == 1.0
        assert rep["articles"][0]["id"] == art["id"]
        assert [n["query"] for n in rep["not_found"]] == ["楼下烧烤店油烟太大"]
        assert (await client.delete(f"/api/admin/knowledge/articles/{old['id']}", headers=h["admin"])).status == 200
    finally:
        await client.close()
