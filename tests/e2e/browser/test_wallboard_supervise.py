"""A supervisor listens in from the wallboard: clicking 监听 on a seat's live
call rings the supervisor's own phone (a demo seat here: it answers by
itself) and its ChanSpy joins the seat's channel — seen as Asterisk's
ChanSpyStart event on AMI — and the request is in the audit trail."""
from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from devstack.simcall import place_call
from tests.e2e.browser.helpers import login, shot
from tests.e2e.helpers import publish
from tests.e2e.test_routing_calls import Events, ami_events, arrange, new_number, restore_seats, until
from web.keys import AUDIT

SEAT, PHONE = "1004", "1003"             # the seat listened to; the supervisor's phone

TREE = {
    "version": 1,
    "name": "e2e-supervise",
    "entry": "general_q",
    "lanes": {"deputy": {"label": "人大代表通道", "priority": 9},
              "enterprise": {"label": "政企通专席", "priority": 5},
              "general": {"label": "综合受理", "priority": 1}},
    "nodes": {
        "general_q": {"type": "queue", "lane": "general", "announce_every_s": 0, "after": "bye", "on_fail": "bye"},
        "bye": {"type": "hangup", "prompt": {"text": "再见。"}},
    },
}


@pytest.fixture
async def supervise_stack(fresh):
    version = await publish(fresh, TREE, "e2e supervise")
    handler = fresh.hotline.ivr.handler
    handler.clock = lambda: dt.datetime.now(dt.UTC)
    fresh.use(handler)

    async def rules_follow():
        return fresh.hotline.routing.lanes.version == version
    await until(rules_follow, 5, "the router to take the lanes of the published tree")
    await arrange(fresh, ready=[SEAT])
    try:
        yield fresh
    finally:
        await restore_seats(fresh)


async def test_supervisor_listens_to_a_live_call_from_the_wallboard(supervise_stack, page, make_user):
    stack = supervise_stack
    user, password = await make_user("supervisor", seat=PHONE, display_name="王班长")
    ev = Events(stack)
    await ev.mark()
    number = new_number()
    placed = asyncio.ensure_future(place_call(stack.ami, caller=number, answer_prompts=True, hold=60, timeout=90,
                                              variables={"__DEMO_TALK_S": "20"}))
    try:
        with ami_events(stack, "ChanSpy*") as spied:
            call_id = await ev.call_id(number, timeout=20)
            await ev.wait(lambda e: e["type"] == "call_answered" and e["call_id"] == call_id, 15, "seat 1004 to answer")
            await login(page, user, password, next_path="/wallboard")
            listen = page.locator(f'#seat-list tr[data-seat="{SEAT}"] button[data-mode="listen"]')
            await listen.wait_for(timeout=15_000)
            await listen.click()
            await page.wait_for_function(
                "() => document.getElementById('supervise-message').textContent.includes('正在接通本人话机')")

            async def started():        # (the live transcriber's own ChanSpy captures are not ours)
                return next((e for e in spied if e.name == "ChanSpyStart"
                             and e.get("SpyerChannel", "").startswith(f"Local/{PHONE}@hotline-demo-seat-")), None)
            start = await until(started, 30, "ChanSpy to join the call")
            await shot(page, "wallboard_supervisor_listening")
        assert start.get("SpyeeChannel", "").startswith(f"Local/{SEAT}@hotline-demo-seat-")
        result = await placed
    finally:
        if not placed.done():
            placed.cancel()
    assert result.completed
    entries = [e for e in await stack.web_runner.app[AUDIT].entries(count=200)
               if e.action == "call.supervise" and e.who == user]
    assert len(entries) == 1 and entries[0].to_dict()["details"]["call_id"] == call_id
    assert entries[0].to_dict()["details"]["mode"] == "listen"
