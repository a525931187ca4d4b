"""The web API on a real Redis through aiohttp's test server: login, lockout,
sessions, CSRF, every role against every route, audit, metrics, OpenAPI."""
from __future__ import annotations

import io
import re
from dataclasses import dataclass, field, replace

import pytest
from aiohttp import DummyCookieJar, web
from aiohttp.test_utils import TestClient, TestServer

from web.access import RouteTable, json_ok, own_operator_only
from web.accounts import Role, User
from web.app import create_app
from web.auth import PasswordHasher
from web.config import WebConfig
from web.keys import ACCOUNTS, AUDIT, SPECS

PASSWORDS = {"admin": "admin-pass-123", "sup": "sup-pass-1234", "op1": "op1-pass-1234", "op2": "op2-pass-1234"}
BASE_CONFIG = WebConfig(hasher=PasswordHasher(n=2 ** 4, r=8, p=1), validate_responses=True,
                        session_idle_s=600, session_absolute_s=3600, login_user_max=3, login_ip_max=1000,
                        lockout_base_s=60, lockout_max_s=600)
COOKIE = BASE_CONFIG.cookie


class Clock:
    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Who:
    name: str
    user: User | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Env:
    app: web.Application
    client: TestClient
    clock: Clock
    users: dict[str, User]

    async def login(self, name: str, password: str | None = None, **headers: str) -> Who:
        r = await self.client.post("/api/login", json={"username": name, "password": password or PASSWORDS[name]},
                                   headers=headers)
        assert r.status == 200, await r.text()
        data = await r.json()
        return Who(name, self.users.get(name),
                   {"Cookie": f"{COOKIE}={r.cookies[COOKIE].value}", "X-CSRF-Token": data["csrf_token"]})

    async def call(self, who: Who | None, method: str, path: str, **kw):
        headers = {**(who.headers if who else {}), **kw.pop("headers", {})}
        return await self.client.request(method, path, headers=headers, allow_redirects=False, **kw)

    async def audit(self, action: str | None = None) -> list[dict]:
        entries = [e.to_dict() for e in await self.app[AUDIT].entries(count=1000)]
        return [e for e in entries if action is None or e["action"] == action]


@pytest.fixture
async def make_env(redis_client):
    made: list[TestClient] = []

    async def make(routes=(), status=None, **config) -> Env:
        clock = Clock()
        app = create_app(status or (lambda: {"redis": {"ok": True}, "ami": {"ok": False}}), redis=redis_client,
                         config=replace(BASE_CONFIG, **config), clock=clock, routes=routes)
        client = TestClient(TestServer(app), cookie_jar=DummyCookieJar())
        await client.start_server()
        made.append(client)
        accounts = app[ACCOUNTS]
        users = {
            "admin": await accounts.create("admin", PASSWORDS["admin"], Role.ADMIN, "管理员甲"),
            "sup": await accounts.create("sup", PASSWORDS["sup"], Role.SUPERVISOR, "班长乙"),
            "op1": await accounts.create("op1", PASSWORDS["op1"], Role.OPERATOR, "话务员一", operator_id="7001"),
            "op2": await accounts.create("op2", PASSWORDS["op2"], Role.OPERATOR, "话务员二", operator_id="7002"),
        }
        return Env(app, client, clock, users)

    yield make
    for client in made:
        await client.close()


@pytest.fixture
async def env(make_env) -> Env:
    return await make_env()


def assert_error(data: dict, error_id: str) -> None:
    assert set(data) == {"error", "message", "details"} and data["error"] == error_id
    assert re.search(r"[\u4e00-\u9fff]", data["message"]), "messages are zh-CN"


# -- login -------------------------------------------------------------------
async def test_login_sets_a_strict_httponly_session_cookie(env):
    r = await env.client.post("/api/login", json={"username": " OP1 ", "password": PASSWORDS["op1"]})
    assert r.status == 200
    data = await r.json()
    assert data["user"]["username"] == "op1" and data["user"]["role"] == "operator"
    assert data["user"]["operator_id"] == "7001" and data["role_label"] == "话务员"
    assert "password" not in str(data)
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Path=/" in cookie and "Secure" not in cookie
    who = Who("op1", headers={"Cookie": f"{COOKIE}={r.cookies[COOKIE].value}"})
    me = await env.call(who, "GET", "/api/me")
    assert me.status == 200 and (await me.json())["csrf_token"] == data["csrf_token"]
    assert (await env.audit("login.ok"))[0]["who"] == "op1"


async def test_secure_cookie_when_configured(make_env):
    env = await make_env(cookie_secure=True)
    r = await env.client.post("/api/login", json={"username": "admin", "password": PASSWORDS["admin"]})
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("__Host-hotline_session=") and "Secure" in cookie and "HttpOnly" in cookie
    assert r.headers["Strict-Transport-Security"]


async def test_bad_password_and_unknown_user_look_the_same(env):
    bad = await env.client.post("/api/login", json={"username": "op1", "password": "wrong-password"})
    unknown = await env.client.post("/api/login", json={"username": "nobody", "password": "wrong-password"})
    assert bad.status == unknown.status == 401
    b, u = await bad.json(), await unknown.json()
    assert_error(b, "bad_credentials")
    assert b == u
    assert "Set-Cookie" not in bad.headers
    failed = await env.audit("login.failed")
    assert {e["who"] for e in failed} == {"op1", "nobody"} and all(e["ip"] == "127.0.0.1" for e in failed)


async def test_lockout_after_failures_with_doubling_backoff(env):
    async def attempt(password):
        return await env.client.post("/api/login", json={"username": "op1", "password": password})

    assert (await attempt("nope-1")).status == 401
    assert (await attempt("nope-2")).status == 401
    third = await attempt("nope-3")
    assert third.status == 429 and third.headers["Retry-After"] == "60"
    assert_error(await third.json(), "login_locked")
    locked = await attempt(PASSWORDS["op1"])          # even the right password waits
    assert locked.status == 429 and (await locked.json())["details"]["retry_after_s"] == 60
    env.clock.advance(30)
    assert (await attempt(PASSWORDS["op1"])).status == 429
    env.clock.advance(31)
    for _ in range(3):
        last = await attempt("nope-again")
    assert last.status == 429 and last.headers["Retry-After"] == "120"   # second lockout: doubled
    env.clock.advance(121)
    assert (await attempt(PASSWORDS["op1"])).status == 200
    # other users were never locked
    assert (await env.client.post("/api/login", json={"username": "op2", "password": PASSWORDS["op2"]})).status == 200
    assert await env.audit("login.locked")


async def test_lockout_per_client_address(make_env):
    env = await make_env(login_ip_max=4, login_user_max=100)
    statuses = [(await env.client.post("/api/login", json={"username": f"guess{i}", "password": "x"})).status
                for i in range(4)]
    assert statuses == [401, 401, 401, 429]
    r = await env.client.post("/api/login", json={"username": "op2", "password": PASSWORDS["op2"]})
    assert r.status == 429


async def test_disabled_user_cannot_log_in_and_loses_sessions(env):
    op = await env.login("op1")
    admin = await env.login("admin")
    r = await env.call(admin, "PATCH", f"/api/admin/users/{env.users['op1'].id}", json={"disabled": True})
    assert r.status == 200 and (await r.json())["disabled"] is True
    assert (await env.call(op, "GET", "/api/me")).status == 401
    r = await env.client.post("/api/login", json={"username": "op1", "password": PASSWORDS["op1"]})
    assert r.status == 403
    assert_error(await r.json(), "account_disabled")
    r = await env.client.post("/api/login", json={"username": "op1", "password": "wrong-one"})
    assert r.status == 401                              # no hint without the right password


# -- sessions ------------------------------------------------------------------
async def test_session_idle_expiry(env):
    who = await env.login("op1")
    env.clock.advance(590)
    assert (await env.call(who, "GET", "/api/me")).status == 200    # activity extends the idle deadline
    env.clock.advance(590)
    assert (await env.call(who, "GET", "/api/me")).status == 200
    env.clock.advance(601)
    r = await env.call(who, "GET", "/api/me")
    assert r.status == 401
    assert_error(await r.json(), "unauthenticated")


async def test_session_absolute_expiry(env):
    who = await env.login("op1")
    for _ in range(7):                                  # active every 500 s for 3500 s
        env.clock.advance(500)
        assert (await env.call(who, "GET", "/api/me")).status == 200
    env.clock.advance(101)                              # 3601 s after login
    assert (await env.call(who, "GET", "/api/me")).status == 401


async def test_logout_ends_the_session(env):
    who = await env.login("sup")
    r = await env.call(who, "POST", "/api/logout")
    assert r.status == 204 and f"{COOKIE}=\"\"" in r.headers["Set-Cookie"]
    assert (await env.call(who, "GET", "/api/me")).status == 401
    assert (await env.audit("logout"))[0]["who"] == "sup"


async def test_a_new_login_gets_a_new_session_id(env):
    first = await env.login("op1")
    r = await env.client.post("/api/login", json={"username": "op1", "password": PASSWORDS["op1"]},
                              headers={"Cookie": first.headers["Cookie"]})
    assert r.status == 200 and r.cookies[COOKIE].value not in first.headers["Cookie"]
    assert (await env.call(first, "GET", "/api/me")).status == 401


async def test_change_own_password_ends_other_sessions(env):
    here, there = await env.login("op1"), await env.login("op1")
    r = await env.call(here, "POST", "/api/me/password",
                       json={"old_password": "wrong-old-pass", "new_password": "a-new-password-1"})
    assert r.status == 403
    r = await env.call(here, "POST", "/api/me/password", json={"old_password": PASSWORDS["op1"], "new_password": "short"})
    assert r.status == 400 and (await r.json())["error"] == "weak_password"
    r = await env.call(here, "POST", "/api/me/password",
                       json={"old_password": PASSWORDS["op1"], "new_password": "a-new-password-1"})
    assert r.status == 204
    assert (await env.call(here, "GET", "/api/me")).status == 200
    assert (await env.call(there, "GET", "/api/me")).status == 401
    assert (await env.client.post("/api/login", json={"username": "op1", "password": PASSWORDS["op1"]})).status == 401
    await env.login("op1", "a-new-password-1")


# -- CSRF ----------------------------------------------------------------------
async def test_csrf_token_required_on_changing_requests(env):
    who = await env.login("admin")
    target = f"/api/admin/users/{env.users['op2'].id}"
    no_token = {"Cookie": who.headers["Cookie"]}
    r = await env.call(None, "PATCH", target, json={"display_name": "改名"}, headers=no_token)
    assert r.status == 403 and (await r.json())["details"]["reason"] == "missing"
    r = await env.call(None, "PATCH", target, json={"display_name": "改名"},
                       headers={**no_token, "X-CSRF-Token": "forged-token"})
    assert r.status == 403 and (await r.json())["details"]["reason"] == "mismatch"
    other = await env.login("op1")                      # someone else's token does not do either
    r = await env.call(None, "PATCH", target, json={"display_name": "改名"},
                       headers={**no_token, "X-CSRF-Token": other.headers["X-CSRF-Token"]})
    assert r.status == 403
    assert_error(await r.json(), "csrf_failed")
    assert (await env.app[ACCOUNTS].get(env.users["op2"].id)).display_name == "话务员二"
    r = await env.call(who, "PATCH", target, json={"display_name": "改名"})
    assert r.status == 200 and (await r.json())["display_name"] == "改名"


async def test_origin_is_checked(env):
    who = await env.login("admin")
    own = f"http://{env.client.server.host}:{env.client.server.port}"
    r = await env.call(who, "POST", "/api/logout", headers={"Origin": "https://evil.example"})
    assert r.status == 403 and (await r.json())["details"]["reason"] == "origin"
    r = await env.call(who, "POST", "/api/logout", headers={"Referer": "https://evil.example/page"})
    assert r.status == 403
    r = await env.client.post("/api/login", json={"username": "op1", "password": PASSWORDS["op1"]},
                              headers={"Origin": "https://evil.example"})
    assert r.status == 403 and "Set-Cookie" not in r.headers          # no login CSRF
    r = await env.call(who, "POST", "/api/logout", headers={"Origin": own})
    assert r.status == 204


async def test_websocket_handshakes_from_other_sites_are_refused(env):
    who = await env.login("op1")
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    r = await env.call(who, "GET", "/api/me", headers={**upgrade, "Origin": "https://evil.example"})
    assert r.status == 403 and (await r.json())["details"]["reason"] == "origin"


async def test_allowed_origins_from_config(make_env):
    env = await make_env(allowed_origins=("https://hotline.example",))
    who = await env.login("admin", Origin="https://hotline.example")
    assert (await env.call(who, "POST", "/api/logout", headers={"Origin": "https://hotline.example"})).status == 204


# -- authorisation: each role against each route -------------------------------
# The expected minimum role of every route, written out here on purpose (not
# read from the routes' metadata): a route added without a row fails the test.
EXPECTED = {
    ("GET", "/healthz"): None,
    ("GET", "/metrics"): None,
    ("GET", "/api/openapi.json"): None,
    ("POST", "/api/login"): None,
    ("POST", "/api/logout"): Role.OPERATOR,
    ("GET", "/api/me"): Role.OPERATOR,
    ("POST", "/api/me/password"): Role.OPERATOR,
    ("GET", "/api/admin/users"): Role.ADMIN,
    ("POST", "/api/admin/users"): Role.ADMIN,
    ("GET", "/api/admin/users/{id}"): Role.ADMIN,
    ("PATCH", "/api/admin/users/{id}"): Role.ADMIN,
    ("POST", "/api/admin/users/{id}/password"): Role.ADMIN,
    ("GET", "/api/admin/audit"): Role.ADMIN,
    ("GET", "/api/operators"): Role.SUPERVISOR,
    ("GET", "/api/operators/{operator_id}"): Role.OPERATOR,
    ("GET", "/"): Role.OPERATOR,
    ("GET", "/login"): None,
}


async def test_every_route_against_every_role(make_env):
    env = await make_env(status=lambda: {"redis": {"ok": True}})
    specs = list(env.app[SPECS].values())
    assert {(s.method, s.path) for s in specs} == set(EXPECTED)
    for spec in specs:
        assert spec.role == EXPECTED[(spec.method, spec.path)], spec.path
    checked = 0
    for spec in specs:
        for name in (None, "op1", "sup", "admin"):
            who = await env.login(name) if name else None
            acting = env.users[name or "admin"]
            path = spec.path.replace("{id}", acting.id).replace("{operator_id}", "7001")
            kw = {"json": {}} if spec.method not in ("GET", "HEAD") else {}
            r = await env.call(who, spec.method, path, **kw)
            role = who.user.role if who else None
            need = spec.role
            label = f"{spec.method} {spec.path} as {name or 'anonymous'}: {r.status}"
            if need is None:
                assert r.status not in (401, 403) and r.status < 500, label
            elif role is None:
                assert r.status == (401 if spec.api else 302), label
            elif role < need:
                assert r.status == 403, label
                assert_error(await r.json(), "forbidden")
            else:
                assert r.status not in (401, 403) and r.status < 500, label
            checked += 1
    assert checked == 4 * len(EXPECTED)


async def test_operators_see_only_their_own_record(env):
    op1, sup = await env.login("op1"), await env.login("sup")
    assert (await env.call(op1, "GET", "/api/operators/7001")).status == 200
    r = await env.call(op1, "GET", "/api/operators/7002")
    assert r.status == 403 and (await r.json())["details"]["reason"] == "own_data_only"
    assert (await env.call(op1, "GET", "/api/operators")).status == 403
    r = await env.call(sup, "GET", "/api/operators/7002")
    assert r.status == 200 and (await r.json())["display_name"] == "话务员二"
    r = await env.call(sup, "GET", "/api/operators")
    assert [o["operator_id"] for o in (await r.json())["operators"]] == ["7001", "7002"]


async def test_role_changes_apply_to_live_sessions(env):
    sup, admin = await env.login("sup"), await env.login("admin")
    assert (await env.call(sup, "GET", "/api/admin/users")).status == 403
    r = await env.call(admin, "PATCH", f"/api/admin/users/{env.users['sup'].id}", json={"role": "admin"})
    assert r.status == 200
    assert (await env.call(sup, "GET", "/api/admin/users")).status == 200


# -- other modules' routes: metadata-driven audit and own-data checks -----------
async def test_routes_from_another_module_with_audit_metadata(make_env):
    tickets = RouteTable(tag="tickets")
    owners = {"t1": "7001", "t2": "7002"}

    @tickets.get("/api/tickets/{id}", summary="读取工单", role=Role.OPERATOR, audit="ticket.read",
                 response={"type": "object", "required": ["id"]}, errors=(404,))
    async def get_ticket(request):
        ticket_id = request.match_info["id"]
        own_operator_only(request, owners.get(ticket_id))
        return json_ok({"id": ticket_id})

    env = await make_env(routes=[tickets])
    op1 = await env.login("op1")
    assert (await env.call(op1, "GET", "/api/tickets/t1")).status == 200
    assert (await env.call(op1, "GET", "/api/tickets/t2")).status == 403
    assert (await env.call(None, "GET", "/api/tickets/t1")).status == 401
    reads = await env.audit("ticket.read")
    assert [(e["who"], e["role"], e["target"], e["ip"]) for e in reads] == [
        ("op1", "operator", "/api/tickets/t1", "127.0.0.1")]
    doc = await (await env.client.get("/api/openapi.json")).json()
    assert doc["paths"]["/api/tickets/{id}"]["get"]["x-roles"] == ["operator", "supervisor", "admin"]


async def test_two_routes_cannot_share_an_operation_id(redis_client):
    table = RouteTable()

    @table.get("/api/other-me", summary="重名", role=None)
    async def me(request):
        return json_ok({})

    with pytest.raises(ValueError, match="operationId"):
        create_app(lambda: {}, redis=redis_client, routes=[table])


async def test_a_route_breaking_its_response_schema_is_caught(make_env):
    table = RouteTable()

    @table.get("/api/broken", summary="坏", role=None, response={"type": "object", "required": ["n"]})
    async def broken(request):
        return json_ok({"m": 1})

    env = await make_env(routes=[table])
    r = await env.client.get("/api/broken")
    assert r.status == 500 and (await r.json())["error"] == "response_invalid"


async def test_api_routes_without_metadata_are_refused():
    async def raw(request):
        return web.json_response({"secret": 1})

    app = create_app(lambda: {}, config=BASE_CONFIG)
    app.router.add_get("/api/raw", raw)      # bypassing RouteTable: denied by default
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        r = await client.get("/api/raw")
        assert r.status == 403 and (await r.json())["details"]["reason"] == "route_without_metadata"
    finally:
        await client.close()


# -- admin user management and the audit trail ----------------------------------
async def test_admin_manages_users_and_every_change_is_audited(env):
    admin = await env.login("admin")
    r = await env.call(admin, "POST", "/api/admin/users",
                       json={"username": "op3", "password": "op3-pass-1234", "role": "operator",
                             "display_name": "话务员三", "seat": "8003"})
    assert r.status == 201
    op3 = await r.json()
    assert op3["operator_id"] == "op3" and op3["seat"] == "8003"
    r = await env.call(admin, "POST", "/api/admin/users",
                       json={"username": "op3", "password": "op3-pass-1234", "role": "operator"})
    assert r.status == 409 and (await r.json())["error"] == "username_taken"
    r = await env.call(admin, "POST", "/api/admin/users", json={"username": "op4", "password": "123", "role": "operator"})
    assert r.status == 400 and (await r.json())["error"] == "weak_password"
    r = await env.call(admin, "POST", "/api/admin/users", json={"username": "op4", "role": "boss", "password": "x" * 12})
    assert r.status == 400 and {p["path"] for p in (await r.json())["details"]["problems"]} == {"role"}

    user3 = await env.login("op3", "op3-pass-1234")
    r = await env.call(admin, "POST", f"/api/admin/users/{op3['id']}/password", json={"password": "reset-pass-9876"})
    assert r.status == 204
    assert (await env.call(user3, "GET", "/api/me")).status == 401
    await env.login("op3", "reset-pass-9876")
    r = await env.call(admin, "PATCH", f"/api/admin/users/{op3['id']}", json={"seat": None, "operator_id": "7003"})
    assert (await r.json())["seat"] is None and (await r.json())["operator_id"] == "7003"
    assert (await env.call(admin, "GET", "/api/admin/users/u999")).status == 404

    entries = await env.audit()
    actions = [e["action"] for e in entries if e["who"] == "admin" and e["action"].startswith("user.")]
    assert actions == ["user.update", "user.password_reset", "user.create"]       # newest first
    update = entries[[e["action"] for e in entries].index("user.update")]
    assert update["target"] == f"user:{op3['id']}" and update["role"] == "admin" and update["ip"] == "127.0.0.1"
    assert update["details"]["seat"] == {"from": "8003", "to": None}
    assert "reset-pass" not in str(entries) and "op3-pass" not in str(entries)

    page = await (await env.call(admin, "GET", "/api/admin/audit?count=2")).json()
    assert [e["action"] for e in page["entries"]] == ["user.update", "login.ok"]
    rest = await (await env.call(admin, "GET", f"/api/admin/audit?count=500&before={page['next_before']}")).json()
    assert rest["entries"][0]["action"] == "user.password_reset" and rest["next_before"] is None
    assert (await env.call(admin, "GET", "/api/admin/audit?count=0")).status == 400


async def test_the_last_admin_cannot_be_disabled_or_demoted(env):
    admin = await env.login("admin")
    me = env.users["admin"].id
    for change in ({"disabled": True}, {"role": "supervisor"}):
        r = await env.call(admin, "PATCH", f"/api/admin/users/{me}", json=change)
        assert r.status == 409 and (await r.json())["error"] == "last_admin"
    r = await env.call(admin, "PATCH", f"/api/admin/users/{env.users['sup'].id}", json={"role": "admin"})
    assert r.status == 200
    r = await env.call(admin, "PATCH", f"/api/admin/users/{me}", json={"role": "supervisor"})
    assert r.status == 200
    assert (await env.call(admin, "GET", "/api/admin/users")).status == 403


# -- errors, pages, metrics, OpenAPI ------------------------------------------
async def test_errors_are_json_with_an_id_and_a_chinese_message(env):
    admin = await env.login("admin")
    r = await env.call(admin, "GET", "/api/nothing-here")
    assert r.status == 404
    assert_error(await r.json(), "not_found")
    r = await env.call(admin, "PUT", "/api/me")
    assert r.status == 405
    assert_error(await r.json(), "method_not_allowed")
    r = await env.call(admin, "POST", "/api/admin/users", data="username=x", headers={"Content-Type": "text/plain"})
    assert r.status == 415
    r = await env.call(admin, "POST", "/api/admin/users", data="{bad json",
                       headers={"Content-Type": "application/json"})
    assert r.status == 400 and (await r.json())["error"] == "invalid_json"
    r = await env.call(admin, "POST", "/api/admin/users", json={"username": "x"})
    data = await r.json()
    assert_error(data, "invalid_request")
    assert {p["path"] for p in data["details"]["problems"]} == {"password", "role", "username"}
    r = await env.call(admin, "POST", "/api/admin/users", data=b"{" + b" " * (2 * 1024 * 1024) + b"}",
                       headers={"Content-Type": "application/json"})
    assert r.status == 413
    assert r.headers["Cache-Control"] == "no-store"


async def test_pages_and_security_headers(env):
    r = await env.call(None, "GET", "/")
    assert r.status == 302 and r.headers["Location"] == "/login?next=/"
    r = await env.call(None, "GET", "/login")
    text = await r.text()
    assert r.status == 200 and 'lang="zh-CN"' in text and "登录" in text
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["X-Frame-Options"] == "DENY"
    who = await env.login("op1")
    r = await env.call(who, "GET", "/")
    assert r.status == 200 and "坐席工作台" in await r.text()
    assert (await env.call(who, "GET", "/login")).status == 302
    for name in ("api.js", "login.js", "shell.js", "app.css"):
        assert (await env.call(None, "GET", f"/static/{name}")).status == 200
    assert (await env.call(None, "GET", "/static/../app.py")).status in (403, 404)


async def test_metrics_are_served(env):
    op = await env.login("op1")
    await env.call(op, "GET", "/api/me")
    await env.client.post("/api/login", json={"username": "op1", "password": "not-it-at-all"})
    r = await env.client.get("/metrics")
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = await r.text()
    assert 'hotline_http_requests_total{method="GET",route="/api/me",status="200"} 1' in text
    assert 'hotline_web_logins_total{result="ok"} 1' in text
    assert 'hotline_web_logins_total{result="failed"} 1' in text
    assert 'hotline_component_up{component="redis"} 1' in text
    assert 'hotline_component_up{component="ami"} 0' in text
    assert 'hotline_http_request_duration_seconds_count{route="/api/login"} 2' in text


async def test_metrics_token(make_env):
    env = await make_env(metrics_token="s3cret-scrape")
    assert (await env.client.get("/metrics")).status == 401
    assert (await env.client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status == 401
    assert (await env.client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape"})).status == 200


async def test_openapi_document_is_valid_and_lists_every_route(env):
    r = await env.client.get("/api/openapi.json")
    assert r.status == 200
    doc = await r.json()
    check_openapi(doc)
    listed = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert listed == {(s.method, s.path) for s in env.app[SPECS].values() if s.api}
    assert ("GET", "/") not in listed
    login = doc["paths"]["/api/login"]["post"]
    assert login["security"] == [] and "429" in login["responses"]
    assert doc["paths"]["/api/admin/users"]["post"]["x-roles"] == ["admin"]
    assert doc["paths"]["/api/admin/audit"]["get"]["parameters"][0]["schema"]["maximum"] == 500


def check_openapi(doc: dict) -> None:
    """Structural checks of an OpenAPI 3.1 document (the parts we generate)."""
    assert doc["openapi"] == "3.1.0" and doc["info"]["title"] and doc["info"]["version"]
    op_ids = []
    for path, ops in doc["paths"].items():
        assert path.startswith("/")
        templated = set(re.findall(r"\{(\w+)\}", path))
        for method, op in ops.items():
            assert method in {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
            op_ids.append(op["operationId"])
            assert op["summary"] and op["responses"]
            params = op.get("parameters", [])
            assert {p["name"] for p in params if p["in"] == "path"} == templated, path
            for p in params:
                assert p["in"] in {"path", "query", "header", "cookie"} and "schema" in p
                assert p["in"] != "path" or p["required"] is True
            for code, resp in op["responses"].items():
                assert re.fullmatch(r"[1-5]\d\d|default", code) and resp["description"]
                for media in resp.get("content", {}).values():
                    ref = media["schema"].get("$ref")
                    assert ref is None or ref.removeprefix("#/components/schemas/") in doc["components"]["schemas"]
            if "requestBody" in op:
                assert op["requestBody"]["content"]["application/json"]["schema"]["type"] == "object"
            for requirement in op["security"]:
                assert set(requirement) <= set(doc["components"]["securitySchemes"])
    assert len(op_ids) == len(set(op_ids)), "operationIds must be unique"


async def test_without_redis_login_is_unavailable_but_health_works():
    app = create_app(lambda: {"x": {"ok": True}})
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        assert (await client.get("/healthz")).status == 200
        r = await client.post("/api/login", json={"username": "admin", "password": "whatever-123"})
        assert r.status == 503 and (await r.json())["error"] == "unavailable"
        assert (await client.get("/api/me")).status == 401
    finally:
        await client.close()


async def test_health_reports_failing_components(make_env):
    env = await make_env(status=lambda: {"redis": {"ok": True}, "ami": {"ok": False}})
    r = await env.client.get("/healthz")
    assert r.status == 503 and (await r.json())["ami"] == {"ok": False}


# -- the command line ------------------------------------------------------------
class FakeStdin(io.StringIO):
    def isatty(self) -> bool:
        return False


def test_cli_creates_the_first_admin_from_stdin(redis_server):
    import argparse

    import redis as sync_redis

    from hotline.cli_users import cmd_create_admin, cmd_list

    sync_redis.Redis.from_url(redis_server.url).flushdb()

    def run(cmd, stdin="", **kw):
        out, err = io.StringIO(), io.StringIO()
        args = argparse.Namespace(redis_url=redis_server.url, config=None, display_name=None, json=True, **kw)
        code = cmd(args, stdin=FakeStdin(stdin), stdout=out, stderr=err) if stdin is not None else \
            cmd(args, stdout=out, stderr=err)
        return code, out.getvalue(), err.getvalue()

    code, out, _ = run(cmd_create_admin, "first-admin-pass\n", username="Chief")
    assert code == 0 and '"role": "admin"' in out and '"username": "chief"' in out
    assert run(cmd_create_admin, "", username="second")[0] == 1             # no password, no account
    code, _, err = run(cmd_create_admin, "short\n", username="second")
    assert code == 1 and "weak_password" in err
    code, _, err = run(cmd_create_admin, "another-pass-123\n", username="chief")
    assert code == 1 and "username_taken" in err
    code, out, _ = run(cmd_list, None)
    assert code == 0 and [u["username"] for u in __import__("json").loads(out)] == ["chief"]
    stream = sync_redis.Redis.from_url(redis_server.url, decode_responses=True).xrange("web:audit")
    assert [(f["who"], f["action"]) for _id, f in stream] == [("cli", "user.create")]


async def test_concurrent_demotions_keep_one_admin(redis_client):
    import asyncio

    from web.accounts import AccountError, Accounts

    accounts = Accounts(redis_client, BASE_CONFIG.hasher, Clock())
    a = await accounts.create("admin-a", "admin-a-pass-1", Role.ADMIN)
    b = await accounts.create("admin-b", "admin-b-pass-1", Role.ADMIN)
    for _ in range(5):
        results = await asyncio.gather(accounts.update(a.id, disabled=True), accounts.update(b.id, disabled=True),
                                       return_exceptions=True)
        errors = [r for r in results if isinstance(r, AccountError)]
        assert len(errors) == 1 and errors[0].error_id == "last_admin"
        assert [u.username for u in await accounts.list() if u.role is Role.ADMIN and not u.disabled] != []
        await accounts.update(a.id, disabled=False)
        await accounts.update(b.id, disabled=False)


async def test_an_owned_redis_is_opened_and_closed_by_the_app(redis_server, redis_client):
    async def connections() -> int:
        return len(await redis_client.client_list())

    before = await connections()
    app = create_app(lambda: {}, redis_url=redis_server.url, config=BASE_CONFIG)
    client = TestClient(TestServer(app), cookie_jar=DummyCookieJar())
    await client.start_server()
    try:
        await app[ACCOUNTS].create("solo", "solo-pass-1234", Role.ADMIN)
        r = await client.post("/api/login", json={"username": "solo", "password": "solo-pass-1234"})
        assert r.status == 200
        assert await connections() > before
    finally:
        await client.close()
    assert await connections() == before
