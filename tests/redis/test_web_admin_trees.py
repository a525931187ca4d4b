"""The admin editor's API on more than one tree (issue 17): every /api/admin/ivr/* route takes
``?tree=``, looked up in the registry features add their trees to (the call tree as ``calls``, the
default; the revisit feature's ``revisit``). Real Redis, aiohttp's test server, a private copy of
the product's config folder and its two trees (config/ivr/zhuzhou.yaml, config/ivr/revisit.yaml)."""
from __future__ import annotations

import copy
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import DummyCookieJar
from aiohttp.test_utils import TestClient, TestServer

from ivr.loader import parse_file
from ivr.trees import TreeSource
from ivr.versions import VersionStore, canonical
from recordings.prompts import PromptResolver
from recordings.tts import PromptCache
from web.accounts import Role
from web.app import create_app
from web.auth import PasswordHasher
from web.config import WebConfig
from web.ivr_trees import TreeRegistry
from web.keys import ACCOUNTS, AUDIT
from web.routes_admin_ivr import admin_ivr_routes

REPO = Path(__file__).resolve().parents[2]
CONFIG = WebConfig(hasher=PasswordHasher(n=2 ** 4, r=8, p=1), validate_responses=True)
PASSWORD = "admin-pass-123"

# Every tree route: (method, path, JSON body or None)
TREE_ROUTES = [
    ("GET", "/api/admin/ivr/tree", None), ("GET", "/api/admin/ivr/tree.yaml", None),
    ("POST", "/api/admin/ivr/import", {"text": "version: 1\n"}), ("POST", "/api/admin/ivr/validate", {"doc": {}}),
    ("POST", "/api/admin/ivr/simulate", {"keys": "3"}), ("PUT", "/api/admin/ivr/draft", {"doc": {}}),
    ("GET", "/api/admin/ivr/draft", None), ("POST", "/api/admin/ivr/publish", {"doc": {}, "comment": "x"}),
    ("GET", "/api/admin/ivr/versions", None), ("GET", "/api/admin/ivr/diff", None),
    ("POST", "/api/admin/ivr/diff", {"doc": {}}), ("POST", "/api/admin/ivr/rollback", {"version": 1}),
]


@dataclass
class Env:
    client: TestClient
    app: object
    calls: VersionStore
    revisit: VersionStore
    headers: dict[str, str]

    async def call(self, method: str, path: str, **kw):
        return await self.client.request(method, path, headers=self.headers, allow_redirects=False, **kw)

    async def ok(self, method: str, path: str, status: int = 200, **kw):
        r = await self.call(method, path, **kw)
        assert r.status == status, (method, path, r.status, await r.text())
        return await r.json() if r.content_type == "application/json" else await r.text()

    async def audit(self, action: str) -> list[dict]:
        return [e.to_dict() for e in await self.app[AUDIT].entries(count=1000) if e.action == action]


async def serve(redis_client, tmp_path: Path, *, with_revisit: bool):
    config = tmp_path / "config"
    if not config.exists():
        shutil.copytree(REPO / "config", config, ignore=shutil.ignore_patterns("*.prev"))
    calls = VersionStore(redis_client, TreeSource.validator(config), name="trees-test")
    if await calls.current_number() is None:
        await calls.publish(parse_file(config / "ivr" / "zhuzhou.yaml").data, "system", "default tree")
    revisit = VersionStore(redis_client, TreeSource.validator(config), name="trees-test-revisit")
    if await revisit.current_number() is None:
        await revisit.publish(parse_file(config / "ivr" / "revisit.yaml").data, "system", "default revisit tree")
    editable = TreeRegistry()
    resolver = PromptResolver(PromptCache(tmp_path / "tts"), config, uploads_dir=tmp_path / "uploads")
    bundle = admin_ivr_routes(calls, config, resolver, trees=editable)
    if with_revisit:       # as hotline/features/revisit.py does, after the ivr feature made the registry
        editable.add("revisit", "回访流程", revisit, audit="ivr:revisit")
    app = create_app(lambda: {}, redis=redis_client, config=CONFIG, routes=[bundle])
    client = TestClient(TestServer(app), cookie_jar=DummyCookieJar())
    await client.start_server()
    await app[ACCOUNTS].create("admin", PASSWORD, Role.ADMIN, "管理员")
    r = await client.post("/api/login", json={"username": "admin", "password": PASSWORD})
    assert r.status == 200, await r.text()
    headers = {"Cookie": f"{CONFIG.cookie}={r.cookies[CONFIG.cookie].value}",
               "X-CSRF-Token": (await r.json())["csrf_token"]}
    return Env(client, app, calls, revisit, headers)


@pytest.fixture
async def env(redis_client, tmp_path):
    e = await serve(redis_client, tmp_path, with_revisit=True)
    yield e
    await e.client.close()


async def test_the_registered_trees_are_listed_with_their_labels(env):
    got = await env.ok("GET", "/api/admin/ivr/trees")
    assert got == {"trees": [{"name": "calls", "label": "来电流程", "current": 1},
                             {"name": "revisit", "label": "回访流程", "current": 1}]}


async def test_an_unknown_tree_is_a_404_on_every_tree_route(env):
    for method, path, body in TREE_ROUTES:
        for name in ("nope", "Calls", "revisit2", "../calls"):
            kw = {"json": body} if body is not None else {}
            r = await env.call(method, f"{path}?tree={name}", **kw)
            assert r.status == 404, (method, path, name, r.status, await r.text())
            err = await r.json()
            assert err["error"] == "unknown_tree", (method, path, err)
            assert err["message"] == "没有这个流程树，可选：来电流程（calls）、回访流程（revisit）"
            assert err["details"]["trees"] == ["calls", "revisit"]
    assert await env.calls.current_number() == 1 and await env.revisit.current_number() == 1
    assert not await env.audit("ivr.publish") and not await env.audit("ivr.publish_refused")


async def test_revisit_is_unknown_when_no_feature_registered_it(redis_client, tmp_path):
    e = await serve(redis_client, tmp_path, with_revisit=False)
    try:
        assert (await e.ok("GET", "/api/admin/ivr/trees"))["trees"] == [
            {"name": "calls", "label": "来电流程", "current": 1}]
        r = await e.call("GET", "/api/admin/ivr/tree?tree=revisit")
        assert r.status == 404 and (await r.json())["message"] == "没有这个流程树，可选：来电流程（calls）"
        assert (await e.ok("GET", "/api/admin/ivr/tree"))["doc"]["name"] == "zhuzhou-12345"
    finally:
        await e.client.close()


async def test_the_call_tree_is_unchanged_by_default_and_by_name(env):
    plain = await env.ok("GET", "/api/admin/ivr/tree")
    named = await env.ok("GET", "/api/admin/ivr/tree?tree=calls")
    assert plain == named and plain["version"]["number"] == 1 and plain["version"]["current"] is True
    assert canonical(plain["doc"]) == canonical(await env.calls.document(1))
    sim = await env.ok("POST", "/api/admin/ivr/simulate",
                       json={"caller": "13912345678", "did": "12345", "at": "2026-11-30T10:00", "keys": "2"})
    assert sim["path"] == ["start", "welcome", "menu", "ent_hours", "enterprise_q"]

    doc = copy.deepcopy(plain["doc"])
    doc["nodes"]["menu"]["options"]["3"] = "deputy_q"
    pub = await env.ok("POST", "/api/admin/ivr/publish", 201, json={"doc": doc, "comment": "加按键3"})
    assert pub["number"] == 2 and await env.revisit.current_number() == 1        # only the call tree
    entry = (await env.audit("ivr.publish"))[0]
    assert entry["target"] == "ivr:version:2" and entry["details"]["tree"] == "calls"
    text = await env.ok("GET", "/api/admin/ivr/tree.yaml")
    assert text.startswith("# 来电流程 版本 2\n")
    r = await env.call("GET", "/api/admin/ivr/tree.yaml")
    assert 'filename="ivr-v2.yaml"' in r.headers["Content-Disposition"]


async def test_the_revisit_tree_edited_validated_simulated_published_diffed_and_rolled_back(env):
    got = await env.ok("GET", "/api/admin/ivr/tree?tree=revisit")
    v1 = got["doc"]
    assert v1["name"] == "revisit" and got["version"]["number"] == 1
    assert (await env.ok("POST", "/api/admin/ivr/validate?tree=revisit", json={"doc": v1}))["ok"] is True

    sim = await env.ok("POST", "/api/admin/ivr/simulate?tree=revisit", json={"keys": "3"})
    assert sim["path"] == ["ask", "unsatisfied", "reopened"] and sim["outcome"] == {"type": "hangup"}, sim
    assert (await env.ok("POST", "/api/admin/ivr/simulate?tree=revisit", json={"keys": "1"}))["path"] == \
        ["ask", "satisfied"]

    doc = copy.deepcopy(v1)
    doc["nodes"]["satisfied"]["prompt"]["text"] = "感谢您的评价，祝您生活愉快，再见。"
    edited = await env.ok("POST", "/api/admin/ivr/simulate?tree=revisit", json={"doc": doc, "keys": "1"})
    assert edited["path"] == ["ask", "satisfied"]
    pending = await env.ok("POST", "/api/admin/ivr/diff?tree=revisit", json={"doc": doc})
    assert pending["from"] == 1 and "satisfied" in pending["diff"]["nodes"]["changed"]

    # drafts are per tree
    await env.ok("PUT", "/api/admin/ivr/draft?tree=revisit", json={"doc": doc})
    assert (await env.ok("GET", "/api/admin/ivr/draft?tree=revisit"))["doc"]["nodes"]["satisfied"] == \
        doc["nodes"]["satisfied"]
    r = await env.call("GET", "/api/admin/ivr/draft")
    assert r.status == 404 and (await r.json())["error"] == "no_draft"

    pub = await env.ok("POST", "/api/admin/ivr/publish?tree=revisit", 201, json={"doc": doc, "comment": "改满意提示"})
    assert pub["number"] == 2 and await env.calls.current_number() == 1
    entry = (await env.audit("ivr.publish"))[0]
    assert entry["target"] == "ivr:revisit:version:2" and entry["who"] == "admin"
    assert entry["details"]["tree"] == "revisit" and entry["details"]["previous"] == 1
    hist = await env.ok("GET", "/api/admin/ivr/versions?tree=revisit")
    assert hist["current"] == 2 and [v["number"] for v in hist["versions"]] == [2, 1]
    assert [v["number"] for v in (await env.ok("GET", "/api/admin/ivr/versions"))["versions"]] == [1]
    diff = await env.ok("GET", "/api/admin/ivr/diff?tree=revisit&from=1&to=2")
    assert diff["diff"]["nodes"]["changed"]["satisfied"]["fields"]["prompt"]["new"] == \
        {"text": "感谢您的评价，祝您生活愉快，再见。"}
    text = await env.ok("GET", "/api/admin/ivr/tree.yaml?tree=revisit&version=2")
    assert text.startswith("# 回访流程 版本 2\n") and "祝您生活愉快" in text
    r = await env.call("GET", "/api/admin/ivr/tree.yaml?tree=revisit")
    assert 'filename="ivr-revisit-v2.yaml"' in r.headers["Content-Disposition"]
    imported = await env.ok("POST", "/api/admin/ivr/import?tree=revisit", json={"text": text})
    assert imported["ok"] is True and imported["doc"]["nodes"]["satisfied"] == doc["nodes"]["satisfied"]

    back = await env.ok("POST", "/api/admin/ivr/rollback?tree=revisit", 201, json={"version": 1})
    assert back["number"] == 3 and back["rollback_of"] == 1
    assert canonical(await env.revisit.document(3)) == canonical(await env.revisit.document(1))
    rolled = (await env.audit("ivr.rollback"))[0]
    assert rolled["target"] == "ivr:revisit:version:3" and rolled["details"]["tree"] == "revisit"
    assert await env.calls.current_number() == 1


async def test_a_broken_revisit_tree_is_refused_with_every_problem_and_its_path(env):
    doc = (await env.ok("GET", "/api/admin/ivr/tree?tree=revisit"))["doc"]
    doc["nodes"]["ask"]["options"]["3"] = "nowhere"           # a key to a node that is not there
    doc["nodes"]["ask"]["options"]["X"] = "satisfied"         # not a key
    del doc["nodes"]["bye"]                                    # on_timeout and on_invalid dangle
    doc["nodes"]["unsatisfied"]["max_s"] = -5                  # a negative recording length

    checked = await env.ok("POST", "/api/admin/ivr/validate?tree=revisit", json={"doc": doc})
    r = await env.call("POST", "/api/admin/ivr/publish?tree=revisit", json={"doc": doc, "comment": "坏的"})
    assert r.status == 400
    err = await r.json()
    assert err["error"] == "tree_invalid"
    problems = err["details"]["problems"]
    paths = {p["path"] for p in problems}
    assert {"nodes.ask.options.3", "nodes.ask.options.X", "nodes.ask.on_timeout", "nodes.ask.on_invalid",
            "nodes.unsatisfied.max_s"} <= paths, paths
    assert all(p["node"] for p in problems if p["path"].startswith("nodes.")), problems
    assert all(p["text"] and p["message"] for p in problems), problems
    assert sorted(p["path"] for p in checked["problems"]) == sorted(p["path"] for p in problems)
    assert await env.revisit.current_number() == 1 and len(await env.revisit.history()) == 1
    refused = await env.audit("ivr.publish_refused")
    assert refused and refused[0]["target"] == "ivr:revisit" and refused[0]["details"]["tree"] == "revisit"
    assert refused[0]["details"]["problems"] == len(problems)
    assert not await env.audit("ivr.publish")
