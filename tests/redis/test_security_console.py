"""Issue #12 items 6 and 14 on a real Redis through the console API: a call (and its ticket)
belongs to the operator it was given to, not to whoever sits at that seat next; earlier
tickets the caller asked to keep confidential are shown as such, without their content."""
from __future__ import annotations

from tests.redis.test_web_console import CALLER, assert_error, env, ringing_call  # noqa: F401 (env: fixture)


async def hand_over_the_seat(env) -> None:
    """op1 took call c1 on seat 1001, the call ended, op1 left; op2 logs in to seat 1001."""
    await env.router.answered("c1", "1001")
    await env.router.ended("c1", wrap_up_s=0)
    r = await env.req("op1", "POST", "/api/console/seat/logout", json={})
    assert r.status == 200, await r.text()
    r = await env.req("op2", "POST", "/api/console/seat/login", json={"seat": "1001"})
    assert r.status == 200, await r.text()


async def test_the_next_operator_at_the_seat_cannot_read_or_confirm_the_previous_call(env):
    call_id = await ringing_call(env)
    ticket = (await (await env.req("op1", "GET", f"/api/console/call/{call_id}")).json())["ticket"]
    await hand_over_the_seat(env)
    r = await env.req("op2", "GET", f"/api/console/call/{call_id}")
    assert r.status == 403
    assert_error(await r.json(), "forbidden")
    r = await env.req("op2", "POST", f"/api/tickets/{ticket['id']}/confirm", json={"fields": {}})
    assert r.status == 403
    # the operator who took it still can (wrap-up from another seat), and supervisors by role
    assert (await env.req("op1", "GET", f"/api/console/call/{call_id}")).status == 200
    assert (await env.req("sup", "GET", f"/api/console/call/{call_id}")).status == 200
    assert (await env.router.call(call_id)).operator_id == "7001"


async def test_confidential_earlier_tickets_show_as_such_without_content(env):
    call_id = await ringing_call(env)                # c0: an earlier ticket of the same caller
    earlier = (await env.tickets.list_by_caller(CALLER, limit=5))
    c0 = next(t for t in earlier if t.call_id == "c0")
    await env.tickets.confirm(c0.id, "7003", {"title": "举报邻居违建（请保密）", "confidential": True})
    view = await (await env.req("op1", "GET", f"/api/console/call/{call_id}")).json()
    brief = next(t for t in view["earlier_tickets"] if t["call_id"] == "c0")
    assert brief["confidential"] is True and brief["id"] == c0.id
    assert brief["title"] is None and brief["category"] is None and brief["district"] is None
    assert "违建" not in str(view)
