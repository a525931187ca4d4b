"""The admin API (IVR tree, versions, prompts, seats, calendars, deputies,
transfer numbers) on a real Redis through aiohttp's test server, with a
private copy of the product's config folder."""
from __future__ import annotations

import base64
import copy
import io
import math
import re
import shutil
import struct
import wave
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import DummyCookieJar
from aiohttp.test_utils import TestClient, TestServer

from agents.config import load_seats
from agents.transfer import load_transfers
from ivr.loader import parse_file, parse_text
from ivr.model import Prompt
from ivr.trees import TreeSource
from ivr.versions import VersionStore, canonical
from recordings.prompts import PromptResolver
from recordings.tts import PromptCache
from web.accounts import Role
from web.app import create_app
from web.auth import PasswordHasher
from web.config import WebConfig
from web.keys import ACCOUNTS, AUDIT, SPECS
from web.routes_admin_config import admin_config_routes
from web.routes_admin_ivr import admin_ivr_routes

REPO = Path(__file__).resolve().parents[2]
CONFIG = WebConfig(hasher=PasswordHasher(n=2 ** 4, r=8, p=1), validate_responses=True)
COOKIE = CONFIG.cookie
PASSWORDS = {"admin": "admin-pass-123", "sup": "sup-pass-1234", "op": "op-pass-12345"}
MONDAY_10 = "2026-11-30T10:00"        # office hours (a Monday)


@dataclass
class Env:
    client: TestClient
    app: object
    config: Path
    versions: VersionStore
    resolver: PromptResolver
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    async def login(self, name: str) -> dict[str, str]:
        r = await self.client.post("/api/login", json={"username": name, "password": PASSWORDS[name]})
        assert r.status == 200, await r.text()
        data = await r.json()
        self.headers[name] = {"Cookie": f"{COOKIE}={r.cookies[COOKIE].value}", "X-CSRF-Token": data["csrf_token"]}
        return self.headers[name]

    async def call(self, who: str | None, method: str, path: str, **kw):
        headers = {**(self.headers[who] if who else {}), **kw.pop("headers", {})}
        return await self.client.request(method, path, headers=headers, allow_redirects=False, **kw)

    async def ok(self, method: str, path: str, status: int = 200, **kw):
        r = await self.call("admin", method, path, **kw)
        assert r.status == status, (r.status, await r.text())
        return await r.json() if r.content_type == "application/json" else await r.read()

    async def audit(self, action: str) -> list[dict]:
        return [e.to_dict() for e in await self.app[AUDIT].entries(count=1000) if e.action == action]


@pytest.fixture
async def env(redis_client, tmp_path):
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config, ignore=shutil.ignore_patterns("*.prev"))
    versions = VersionStore(redis_client, TreeSource.validator(config), name="admin-test")
    await versions.publish(parse_file(config / "ivr" / "zhuzhou.yaml").data, "system", "default tree")
    resolver = PromptResolver(PromptCache(tmp_path / "tts"), config, uploads_dir=tmp_path / "uploads")
    routes = [admin_ivr_routes(versions, config, resolver),
              admin_config_routes(versions, config, config / "seats.yaml", config / "transfers.yaml")]
    app = create_app(lambda: {}, redis=redis_client, config=CONFIG, routes=routes)
    client = TestClient(TestServer(app), cookie_jar=DummyCookieJar())
    await client.start_server()
    accounts = app[ACCOUNTS]
    await accounts.create("admin", PASSWORDS["admin"], Role.ADMIN, "管理员")
    await accounts.create("sup", PASSWORDS["sup"], Role.SUPERVISOR, "班长")
    await accounts.create("op", PASSWORDS["op"], Role.OPERATOR, "话务员", operator_id="8001")
    e = Env(client, app, config, versions, resolver)
    for name in PASSWORDS:
        await e.login(name)
    yield e
    await client.close()


async def current_doc(env: Env) -> dict:
    return (await env.ok("GET", "/api/admin/ivr/tree"))["doc"]


def tone_wav(seconds: float = 1.0, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
                               for i in range(int(seconds * rate))))
    return buf.getvalue()


# -- authorisation ----------------------------------------------------------------------
async def test_only_admins_reach_the_admin_routes(env):
    specs = [s for s in env.app[SPECS].values() if s.path.startswith(("/api/admin/ivr", "/api/admin/prompts",
                                                                      "/api/admin/seats", "/api/admin/calendars",
                                                                      "/api/admin/lists", "/api/admin/transfers",
                                                                      "/admin"))]
    assert len(specs) >= 25
    for spec in specs:
        path = re.sub(r"\{[^}]+\}", "x", spec.path)
        anonymous = await env.call(None, spec.method, path)
        assert anonymous.status == (302 if not spec.api else 401), (spec.path, anonymous.status)
        for who in ("op", "sup"):
            r = await env.call(who, spec.method, path)
            assert r.status == 403, (who, spec.method, spec.path, r.status)
        assert spec.role is Role.ADMIN


async def test_changes_need_the_csrf_token(env):
    doc = await current_doc(env)
    r = await env.call("admin", "POST", "/api/admin/ivr/publish", json={"doc": doc, "comment": "x"},
                       headers={"X-CSRF-Token": "wrong"})
    assert r.status == 403 and (await r.json())["error"] == "csrf_failed"
    assert await env.versions.current_number() == 1


async def test_admin_routes_are_in_the_openapi_document(env):
    doc = await env.ok("GET", "/api/openapi.json")
    for path, method in (("/api/admin/ivr/publish", "post"), ("/api/admin/ivr/simulate", "post"),
                         ("/api/admin/ivr/diff", "get"), ("/api/admin/ivr/rollback", "post"),
                         ("/api/admin/prompts/preview", "get"), ("/api/admin/prompts/upload", "post"),
                         ("/api/admin/seats", "put"), ("/api/admin/lists/{id}/import", "post"),
                         ("/api/admin/calendars/overrides", "put"), ("/api/admin/transfers", "put")):
        op = doc["paths"][path][method]
        assert op["x-roles"] == ["admin"], path
    assert "/admin" not in doc["paths"]


# -- the tree ---------------------------------------------------------------------------
async def test_tree_as_json_and_yaml(env):
    data = await env.ok("GET", "/api/admin/ivr/tree")
    assert data["version"]["number"] == 1 and data["version"]["current"] is True
    assert list(data["doc"])[:4] == ["version", "name", "description", "entry"]
    r = await env.call("admin", "GET", "/api/admin/ivr/tree.yaml")
    assert r.status == 200 and r.content_type == "application/yaml"
    text = await r.text()
    assert "欢迎" in text or "株洲12345" in text
    assert canonical(parse_text(text).data) == canonical(data["doc"])     # YAML round trip
    imported = await env.ok("POST", "/api/admin/ivr/import", json={"text": text})
    assert imported["ok"] and canonical(imported["doc"]) == canonical(data["doc"])
    broken = await env.ok("POST", "/api/admin/ivr/import", json={"text": "nodes: [\n"})
    assert not broken["ok"] and broken["doc"] is None and broken["problems"][0]["code"] == "syntax"


async def test_validate_names_every_problem_and_its_node(env):
    doc = await current_doc(env)
    doc["nodes"]["menu"]["options"]["A"] = "general_q"          # a key no phone has
    doc["nodes"]["menu"]["options"]["3"] = "nowhere"            # a node that does not exist
    doc["nodes"]["welcome"]["prompt"]["text"] = ""
    data = await env.ok("POST", "/api/admin/ivr/validate", json={"doc": doc})
    assert not data["ok"]
    got = {(p["path"], p["code"], p["node"]) for p in data["problems"]}
    assert got == {("nodes.menu.options.A", "invalid_dtmf", "menu"), ("nodes.menu.options.3", "unknown_node", "menu"),
                   ("nodes.welcome.prompt.text", "pattern", "welcome")}
    assert all(re.search(r"[\u4e00-\u9fff]", p["text"]) for p in data["problems"])
    good = await env.ok("POST", "/api/admin/ivr/validate", json={"doc": await current_doc(env)})
    assert good == {"ok": True, "problems": []}


async def test_a_broken_tree_is_refused_with_all_problems_and_never_published(env):
    doc = await current_doc(env)
    doc["nodes"]["menu"]["options"]["X"] = "general_q"
    doc["nodes"]["menu"]["on_timeout"] = "gone"
    del doc["nodes"]["bye"]                                       # survey.next now dangles
    r = await env.call("admin", "POST", "/api/admin/ivr/publish", json={"doc": doc, "comment": "坏的"})
    assert r.status == 400
    err = await r.json()
    assert err["error"] == "tree_invalid"
    paths = {p["path"] for p in err["details"]["problems"]}
    assert {"nodes.menu.options.X", "nodes.menu.on_timeout", "nodes.survey.next"} <= paths
    assert await env.versions.current_number() == 1 and len(await env.versions.history()) == 1
    refused = await env.audit("ivr.publish_refused")
    assert refused and refused[0]["who"] == "admin" and refused[0]["details"]["problems"] == len(err["details"]["problems"])
    assert not await env.audit("ivr.publish")


async def test_simulate_the_published_and_an_edited_tree(env):
    sim = await env.ok("POST", "/api/admin/ivr/simulate",
                       json={"caller": "13912345678", "did": "12345", "at": MONDAY_10, "keys": "2"})
    assert sim["path"] == ["start", "welcome", "menu", "ent_hours", "enterprise_q"]
    assert sim["outcome"] == {"type": "queue", "lane": "enterprise"}
    night = await env.ok("POST", "/api/admin/ivr/simulate",
                         json={"caller": "13912345678", "did": "12345", "at": "2026-11-30T22:00", "keys": "2"})
    assert night["path"][-2:] == ["ent_hours", "general_q"]
    deputy = await env.ok("POST", "/api/admin/ivr/simulate", json={"caller": "13800001001", "at": MONDAY_10})
    assert deputy["path"] == ["start", "deputy_q"]
    doc = await current_doc(env)
    doc["nodes"]["menu"]["options"]["3"] = "deputy_q"
    edited = await env.ok("POST", "/api/admin/ivr/simulate", json={"doc": doc, "caller": "13912345678", "keys": "3"})
    assert edited["path"] == ["start", "welcome", "menu", "deputy_q"]
    doc["nodes"]["menu"]["options"]["3"] = "nowhere"
    r = await env.call("admin", "POST", "/api/admin/ivr/simulate", json={"doc": doc, "keys": "3"})
    assert r.status == 400 and (await r.json())["details"]["problems"][0]["node"] == "menu"
    r = await env.call("admin", "POST", "/api/admin/ivr/simulate", json={"keys": "2A"})
    assert r.status == 400 and (await r.json())["error"] == "invalid_request"


async def test_publish_history_diff_and_rollback(env):
    v1 = await current_doc(env)
    doc = copy.deepcopy(v1)
    doc["nodes"]["menu"]["options"]["3"] = "deputy_q"
    doc["nodes"]["welcome"]["prompt"]["text"] = "您好，这里是株洲12345。"
    pub = await env.ok("POST", "/api/admin/ivr/publish", 201, json={"doc": doc, "comment": "加按键3"})
    assert pub["number"] == 2 and pub["author"] == "admin" and pub["comment"] == "加按键3"
    assert await env.versions.current_number() == 2
    entry = (await env.audit("ivr.publish"))[0]
    assert entry["target"] == "ivr:version:2" and entry["details"]["previous"] == 1
    same = await env.call("admin", "POST", "/api/admin/ivr/publish", json={"doc": doc, "comment": "again"})
    assert same.status == 409 and (await same.json())["error"] == "unchanged"
    again = await env.ok("POST", "/api/admin/ivr/publish", 201, json={"doc": doc, "comment": "名单更新", "republish": True})
    assert again["number"] == 3

    hist = await env.ok("GET", "/api/admin/ivr/versions")
    assert hist["current"] == 3 and [v["number"] for v in hist["versions"]] == [3, 2, 1]
    diff = await env.ok("GET", "/api/admin/ivr/diff?from=1&to=2")
    changed = diff["diff"]["nodes"]["changed"]
    assert changed["menu"]["options"]["added"] == {"3": "deputy_q"}
    assert changed["welcome"]["fields"]["prompt"]["new"] == {"text": "您好，这里是株洲12345。"}
    assert any("options.3" in line for line in diff["summary"])
    pending = copy.deepcopy(doc)
    pending["nodes"]["menu"]["timeout_s"] = 6
    draft_diff = await env.ok("POST", "/api/admin/ivr/diff", json={"doc": pending})
    assert draft_diff["from"] == 3 and draft_diff["diff"]["nodes"]["changed"]["menu"]["fields"]["timeout_s"] == {"old": 4, "new": 6}

    rb = await env.ok("POST", "/api/admin/ivr/rollback", 201, json={"version": 1, "comment": "撤回"})
    assert rb["number"] == 4 and rb["rollback_of"] == 1
    assert canonical(await current_doc(env)) == canonical(v1)
    assert (await env.audit("ivr.rollback"))[0]["details"]["rollback_of"] == 1
    missing = await env.call("admin", "POST", "/api/admin/ivr/rollback", json={"version": 99})
    assert missing.status == 404
    old = await env.ok("GET", "/api/admin/ivr/tree?version=2")
    assert old["version"]["current"] is False and "3" in old["doc"]["nodes"]["menu"]["options"]


async def test_draft_is_kept_even_when_broken(env):
    doc = await current_doc(env)
    doc["nodes"]["menu"]["options"]["A"] = "general_q"
    saved = await env.ok("PUT", "/api/admin/ivr/draft", json={"doc": doc})
    assert not saved["ok"] and saved["problems"][0]["node"] == "menu"
    back = await env.ok("GET", "/api/admin/ivr/draft")
    assert back["doc"]["nodes"]["menu"]["options"]["A"] == "general_q"
    assert await env.versions.current_number() == 1


# -- prompts ----------------------------------------------------------------------------
async def test_prompt_preview_and_upload(env):
    text = "您好，株洲12345，通话将录音。危及生命请拨110、119、120。"
    r = await env.call("admin", "GET", "/api/admin/prompts/preview", params={"text": text})
    assert r.status == 200 and r.content_type == "audio/wav" and r.headers["X-Prompt-Source"] == "tts"
    spoken = await r.read()
    with wave.open(io.BytesIO(spoken)) as w:
        assert w.getframerate() == 8000 and w.getnframes() / 8000 > 1.0
    assert (await env.ok("GET", f"/api/admin/prompts?text={text}"))["uploaded"] is False

    up = await env.ok("POST", "/api/admin/prompts/upload", 201,
                      json={"text": text, "audio_base64": base64.b64encode(tone_wav(1.5)).decode()})
    assert up["uploaded"] and abs(up["duration_s"] - 1.5) < 0.05
    status = await env.ok("GET", "/api/admin/prompts", params={"text": text})
    assert status["uploaded"] is True
    r = await env.call("admin", "GET", "/api/admin/prompts/preview", params={"text": text})
    assert r.headers["X-Prompt-Source"] == "upload"
    with wave.open(io.BytesIO(await r.read())) as w:
        assert w.getframerate() == 8000 and w.getnchannels() == 1       # converted for Asterisk
    assert env.resolver.resolve(Prompt(text=text)) == str(env.resolver.upload_path(text))   # calls play it
    assert (await env.audit("prompt.upload"))[0]["details"]["seconds"] == 1.5

    for bad in (base64.b64encode(b"not a wav file at all").decode(), "@@@not-base64@@@"):
        r = await env.call("admin", "POST", "/api/admin/prompts/upload", json={"text": text, "audio_base64": bad})
        assert r.status == 400 and (await r.json())["error"] == "audio_invalid"
    assert env.resolver.resolve(Prompt(text=text)) == str(env.resolver.upload_path(text))   # still the good one

    r = await env.call("admin", "DELETE", "/api/admin/prompts/upload", params={"text": text})
    assert r.status == 204
    assert (await env.ok("GET", "/api/admin/prompts", params={"text": text}))["uploaded"] is False


# -- seats and operators ------------------------------------------------------------------
async def test_seats_and_operators_are_checked_and_saved_with_comments_kept(env):
    path = env.config / "seats.yaml"
    before = path.read_text(encoding="utf-8")
    data = await env.ok("GET", "/api/admin/seats")
    assert {ln["id"] for ln in data["lanes"]} == {"deputy", "enterprise", "general"}
    assert data["seats"][0] == {"id": "1001", "name": "人大代表专席"} and len(data["operators"]) == 12
    ops = data["operators"] + [{"id": "8013", "name": "新同事", "skills": {"generl": 5}}]
    r = await env.call("admin", "PUT", "/api/admin/seats", json={"seats": data["seats"], "operators": ops})
    assert r.status == 400
    err = await r.json()
    assert err["error"] == "config_invalid"
    assert [p["path"] for p in err["details"]["problems"]] == ["operators.12.skills.generl"]
    assert path.read_text(encoding="utf-8") == before                 # nothing written
    ops[-1]["skills"] = {"general": 5, "enterprise": 3}
    seats = data["seats"][:-1]                                        # seat 1010 removed
    saved = await env.ok("PUT", "/api/admin/seats", json={"seats": seats, "operators": ops})
    assert saved["operators"][-1] == {"id": "8013", "name": "新同事", "skills": {"general": 5, "enterprise": 3}}
    text = path.read_text(encoding="utf-8")
    assert "# Operators log in to any seat" in text and "pause_reasons: [小休, 培训, 会议, 用餐]" in text
    cfg = load_seats(path, lanes=["deputy", "enterprise", "general"])
    assert "8013" in cfg.operators and "1010" not in cfg.seats and cfg.wrap_up_s == 15
    entry = (await env.audit("config.seats.update"))[0]
    assert entry["details"]["operators_added"] == ["8013"] and entry["details"]["seats_removed"] == ["1010"]


# -- deputies list ----------------------------------------------------------------------
async def test_deputies_csv_import_reports_every_bad_line(env):
    path = env.config / "lists" / "deputies.csv"
    before = path.read_bytes()
    listed = await env.ok("GET", "/api/admin/lists/deputies")
    assert len(listed["entries"]) == 12 and listed["entries"][0]["number"] == "13800001001"
    assert (await env.audit("list.read"))
    csv = "number,name,note\n13700002001,钱代表,市人大代表\nabc,坏号码,\n13700002002,孙代表,\n,无号码,\n12,太短,\n"
    r = await env.call("admin", "POST", "/api/admin/lists/deputies/import", json={"csv": csv})
    assert r.status == 400
    err = await r.json()
    assert err["error"] == "list_invalid" and err["details"]["good"] == 2
    assert [p["line"] for p in err["details"]["problems"]] == [3, 5, 6]
    assert all(p["text"] for p in err["details"]["problems"])
    assert path.read_bytes() == before                                 # nothing written
    ok = await env.ok("POST", "/api/admin/lists/deputies/import", json={"csv": csv, "skip_bad": True})
    assert ok["count"] == 2 and [p["line"] for p in ok["skipped"]] == [3, 5, 6]
    assert "# 人大代表名单" in path.read_text(encoding="utf-8")        # the file's header comment kept
    # the new list applies from the next published version
    await env.ok("POST", "/api/admin/ivr/publish", 201, json={"doc": await current_doc(env), "comment": "名单",
                                                              "republish": True})
    sim = await env.ok("POST", "/api/admin/ivr/simulate", json={"caller": "13700002002", "at": MONDAY_10})
    assert sim["path"] == ["start", "deputy_q"]
    gone = await env.ok("POST", "/api/admin/ivr/simulate", json={"caller": "13800001001", "at": MONDAY_10})
    assert gone["path"][:2] == ["start", "welcome"]
    r = await env.call("admin", "POST", "/api/admin/lists/nosuch/import", json={"csv": csv})
    assert r.status == 404


# -- calendars --------------------------------------------------------------------------
async def test_calendar_overrides_and_the_resulting_days(env):
    data = await env.ok("GET", "/api/admin/calendars")
    assert data["file"] == "calendars/overrides.yaml" and "office" in data["calendars"]
    bad = {"overrides": [{"date": "2026-12-03", "closed": True, "hours": ["09:00-10:00"]},
                         {"date": "2026-12-04", "hours": ["25:00-26:00"]}],
           "cn_years": {"2027": {"holidays": ["2026-01-01"]}}}
    r = await env.call("admin", "PUT", "/api/admin/calendars/overrides", json=bad)
    assert r.status == 400
    paths = [p["path"] for p in (await r.json())["details"]["problems"]]
    assert "overrides.0" in paths and any(p.startswith("overrides.1.hours") for p in paths)
    assert any(p.startswith("cn_years.2027") for p in paths)
    good = {"overrides": [{"date": "2026-12-03", "closed": True, "note": "防汛停业"},
                          {"date": "2026-12-31", "hours": ["08:30-12:00"], "calendars": ["office"], "note": "年末半天"}],
            "cn_years": {"2027": {"holidays": ["2027-01-01"], "workdays": ["2027-01-03"]}}}
    saved = await env.ok("PUT", "/api/admin/calendars/overrides", json=good)
    assert saved["overrides"][0] == {"date": "2026-12-03", "closed": True, "note": "防汛停业"}
    assert "# Admin overrides" in (env.config / "calendars" / "overrides.yaml").read_text(encoding="utf-8")
    assert (await env.audit("config.calendar.update"))[0]["details"]["overrides"] == 2
    await env.ok("POST", "/api/admin/ivr/publish", 201, json={"doc": await current_doc(env), "comment": "日历",
                                                              "republish": True})
    days = {d["date"]: d for d in (await env.ok("GET", "/api/admin/calendars/office/days?start=2026-09-30&days=100"))["days"]}
    assert days["2026-10-01"]["reason"] == "holiday" and days["2026-10-01"]["hours"] == []
    assert days["2026-10-10"]["reason"] == "adjusted_workday" and days["2026-10-10"]["open"]   # a Saturday
    assert days["2026-12-03"]["reason"] == "override" and not days["2026-12-03"]["open"]
    assert days["2026-12-31"]["hours"] == ["08:30-12:00"]
    assert days["2026-12-01"]["hours"] == ["08:30-12:00", "14:30-17:30"]
    r = await env.call("admin", "GET", "/api/admin/calendars/nosuch/days")
    assert r.status == 404


# -- transfer numbers ---------------------------------------------------------------------
async def test_external_transfer_numbers(env):
    path = env.config / "transfers.yaml"
    data = await env.ok("GET", "/api/admin/transfers")
    assert data["ring_s"] == 30 and data["applies"] == "now"
    by_id = {t["id"]: t for t in data["targets"]}
    assert by_id["police"] == {"id": "police", "name": "110 报警", "number": "110", "three_way": True}
    assert by_id["tax"]["modes"] == ["blind", "attended"]
    targets = data["targets"] + [{"id": "gas", "name": "燃气抢修", "number": "28680009", "three_way": False,
                                  "modes": ["attended", "blind"]}]
    targets[0]["name"] = "12366 税务"
    saved = await env.ok("PUT", "/api/admin/transfers", json={"targets": targets})
    assert saved["targets"] == targets
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# External transfer numbers") and "ring_s: 30" in text
    cfg = load_transfers(path)                     # what the console's transfer service reads
    assert cfg.targets["gas"].default_mode.value == "attended" and cfg.targets["tax"].label == "12366 税务"
    assert [m.value for m in cfg.targets["police"].modes] == ["three_way"]

    r = await env.call("admin", "PUT", "/api/admin/transfers", json={"targets": targets + [targets[1]]})
    assert r.status == 400
    assert [p["path"] for p in (await r.json())["details"]["problems"]] == [f"targets.{len(targets)}.id"]
    for bad in ([], [{"id": "x", "name": "坏", "number": "12a"}], [{**targets[1], "modes": ["blind", "blind"]}]):
        r = await env.call("admin", "PUT", "/api/admin/transfers", json={"targets": bad})
        assert r.status == 400, bad
    assert (await env.ok("GET", "/api/admin/transfers"))["targets"] == targets     # unchanged by the refusals
    entry = (await env.audit("config.transfers.update"))[0]
    assert "gas=28680009" in entry["details"]["after"] and "gas=28680009" not in entry["details"]["before"]


async def test_validate_never_reads_files_outside_the_config_folder(env, tmp_path):
    """Issue #12 item 4: lists, prompts and overrides outside config/ are refused, and no
    message quotes a line of any file."""
    secret = tmp_path / "data" / "seat-secrets.json"
    secret.parent.mkdir()
    secret.write_text('{"1001": "sip-secret-XYZZY"}\nroot:x:0:0:root:/root:/bin/bash\n')
    (env.config / "lists" / "escape.csv").symlink_to(secret)       # a symlink out of the folder
    doc = await current_doc(env)
    doc["lists"] = {"etc": "/etc/passwd", "up": "../data/seat-secrets.json", "link": "lists/escape.csv",
                    "deputies": doc["lists"]["deputies"]}
    doc["nodes"]["welcome"]["prompt"] = {"file": "../data/seat-secrets.json"}
    data = await env.ok("POST", "/api/admin/ivr/validate", json={"doc": doc})
    assert not data["ok"]
    got = {(p["path"], p["code"]) for p in data["problems"]}
    assert {("lists.etc", "outside_root"), ("lists.up", "outside_root"), ("lists.link", "outside_root"),
            ("nodes.welcome.prompt.file", "outside_root")} <= got
    text = repr(data)
    for leaked in ("XYZZY", "root:x", "/bin/bash", "sip-secret"):
        assert leaked not in text


async def test_a_bad_list_line_is_named_not_quoted(env):
    (env.config / "lists" / "bad.csv").write_text("13800001234\nsecret=hunter2-line\n")
    doc = await current_doc(env)
    doc["lists"]["bad"] = "lists/bad.csv"
    data = await env.ok("POST", "/api/admin/ivr/validate", json={"doc": doc})
    lines = [p for p in data["problems"] if p["code"] == "list_line"]
    assert lines and lines[0]["path"] == "lists.bad.line.2"
    assert "hunter2" not in repr(data)
