"""Issue #12 item 7 on a real Redis: login back-off slows guessing without letting an
attacker lock the right user out, or a whole office behind one NAT address; blocked attempts
do not flood the audit trail; `trust_forwarded` takes the address a trusted proxy saw."""
from __future__ import annotations

from hotline.settings import load
from tests.redis.test_web_api import PASSWORDS, make_env  # noqa: F401  (make_env is a fixture)
from web.keys import CONFIG


async def login(env, username, password, device=None, headers=None):
    cookies = {env.app[CONFIG].device_cookie: device} if device else {}
    h = dict(headers or {})
    if cookies:
        h["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    return await env.client.post("/api/login", json={"username": username, "password": password}, headers=h)


async def device_of(env, username) -> str:
    r = await login(env, username, PASSWORDS[username])
    assert r.status == 200
    return r.cookies[env.app[CONFIG].device_cookie].value


async def test_guessing_elsewhere_does_not_lock_the_user_out_of_their_own_browser(make_env):
    env = await make_env()                                 # login_user_max=3
    mine = await device_of(env, "op1")
    for i in range(3):
        await login(env, "op1", f"guess-{i}")              # the attacker has no device token
    assert (await login(env, "op1", PASSWORDS["op1"])).status == 429      # guessing is slowed...
    assert (await login(env, "op1", PASSWORDS["op1"], device=mine)).status == 200   # ...the user is not


async def test_one_address_failing_does_not_lock_out_the_office_behind_it(make_env):
    env = await make_env(login_ip_max=4, login_user_max=100)
    admin = await device_of(env, "admin")
    op2 = await device_of(env, "op2")
    for i in range(4):
        await login(env, f"guess{i}", "x")                  # a NAT'd call centre: one address
    assert (await login(env, "sup", PASSWORDS["sup"])).status == 429      # a new browser waits
    assert (await login(env, "admin", PASSWORDS["admin"], device=admin)).status == 200
    assert (await login(env, "op2", PASSWORDS["op2"], device=op2)).status == 200


async def test_a_device_token_only_vouches_for_its_own_user_and_backs_off_itself(make_env):
    env = await make_env()
    op1 = await device_of(env, "op1")
    for i in range(3):
        await login(env, "op2", f"guess-{i}", device=op1)  # op1's token is nothing for op2
    assert (await login(env, "op2", PASSWORDS["op2"])).status == 429
    for i in range(5):                                      # device_max failures with op1's own token
        await login(env, "op1", f"guess-{i}", device=op1)
    assert (await login(env, "op1", PASSWORDS["op1"], device=op1)).status == 429
    env.clock.advance(61)
    assert (await login(env, "op1", PASSWORDS["op1"], device=op1)).status == 200


async def test_blocked_attempts_do_not_each_write_an_audit_entry(make_env):
    env = await make_env()
    for i in range(3):
        await login(env, "op1", f"guess-{i}")
    before = len(await env.audit())
    for i in range(30):
        assert (await login(env, "op1", f"more-{i}")).status == 429
    assert len(await env.audit()) == before
    assert len(await env.audit("login.locked")) == 1      # the back-off itself is on record


async def test_trust_forwarded_uses_the_proxy_address_only_from_the_proxy(make_env):
    env = await make_env(trust_forwarded=True, login_ip_max=2, login_user_max=100)
    for i in range(2):
        await login(env, f"guess{i}", "x", headers={"X-Forwarded-For": "203.0.113.7"})
    assert (await login(env, "sup", PASSWORDS["sup"], headers={"X-Forwarded-For": "203.0.113.7"})).status == 429
    assert (await login(env, "sup", PASSWORDS["sup"], headers={"X-Forwarded-For": "203.0.113.8"})).status == 200
    assert {e["ip"] for e in await env.audit("login.failed")} == {"203.0.113.7"}


async def test_a_peer_that_is_not_the_proxy_cannot_choose_its_address(make_env):
    env2 = await make_env(trust_forwarded=True, trusted_proxies=("10.9.9.9",), login_ip_max=2, login_user_max=100)
    for i in range(2):
        await login(env2, f"guess{i}", "x", headers={"X-Forwarded-For": f"198.51.100.{i}"})
    assert (await login(env2, "sup", PASSWORDS["sup"], headers={"X-Forwarded-For": "198.51.100.9"})).status == 429


def test_trust_forwarded_is_wired_from_the_settings():
    from hotline.runtime import web_config
    s = load(env={}, overrides={"web": {"trust_forwarded": True, "trusted_proxies": "10.0.0.5, ::1"}})
    c = web_config(s)
    assert c.trust_forwarded is True and c.trusted_proxies == ("10.0.0.5", "::1")
    assert web_config(load(env={})).trust_forwarded is False
