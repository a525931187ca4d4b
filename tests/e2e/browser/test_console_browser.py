"""The operator console and the wallboard in headless Chromium, with a real
call through Asterisk.

An operator logs in to the console, logs in to seat 1004 and goes ready (F2).
A real call (devstack/simcall.py) records the caller's account (describe step),
waits in the general lane and is put through to seat 1004 — a demo seat that
answers by itself and stays on the line DEMO_TALK_S seconds, so the call is up
while the operator works. The call pops up with the caller's number, lane,
IVR path, wait, an earlier ticket and the draft ticket; the operator corrects
the category and district and confirms (Ctrl+Enter); the ticket in Redis
carries the correction. The operator hangs up (F9, through the transfer
helper's /api/console/hangup); the wrap-up countdown shows and F2 ends it
early, and F3 pauses with the reason chosen. A supervisor's wallboard then shows the call counts the call
produced. Screenshots go to artifacts/screenshots/.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import time

import pytest

from agents.events import stats_today
from agents.model import SeatState
from devstack.simcall import place_call
from kernel.notify import LIVE_CHANNEL
from tests.e2e.browser.helpers import console_ready, login, shot
from tests.e2e.helpers import publish
from tests.e2e.test_routing_calls import Events, arrange, new_number, restore_seats, until

SEAT, OPERATOR = "1004", "8007"
TALK_S = 90                               # the demo seat would stay on the line this long; the operator hangs up

TREE = {
    "version": 1,
    "name": "e2e-console",
    "entry": "general_q",
    "lanes": {"deputy": {"label": "人大代表通道", "priority": 9},
              "enterprise": {"label": "政企通专席", "priority": 5},
              "general": {"label": "综合受理", "priority": 1}},
    "nodes": {
        "general_q": {"type": "queue", "lane": "general", "announce_every_s": 0,
                      "describe": {"prompt": {"text": "请说。"}, "max_s": 6, "silence_s": 1},
                      "after": "bye", "on_fail": "bye"},
        "bye": {"type": "hangup", "prompt": {"text": "再见。"}},
    },
}


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("say") / "say.wav"
    raw = out.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", "cmn", "-w", str(raw), "芦淞区建设路的路灯坏了三天了。"], check=True)
    subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(out)], check=True)
    return str(out.with_suffix(""))


@pytest.fixture
async def console_stack(fresh):
    version = await publish(fresh, TREE, "e2e console")
    handler = fresh.hotline.ivr.handler
    handler.clock = lambda: dt.datetime.now(dt.UTC)
    fresh.use(handler)

    async def rules_follow():
        return fresh.hotline.routing.lanes.version == version
    await until(rules_follow, 5, "the router to take the lanes of the published tree")
    await arrange(fresh, ready=[])                          # demo seats paused: only the browser's seat takes calls
    await fresh.hotline.routing.seats.logout(SEAT)              # its demo operator leaves; ours logs in from the page
    try:
        yield fresh
    finally:
        await restore_seats(fresh)


async def text(page, selector: str) -> str:
    return (await page.text_content(selector) or "").strip()


async def test_operator_takes_a_real_call_and_confirms_the_corrected_ticket(console_stack, page, chromium,
                                                                           web_url, make_user, speech_wav):
    stack = console_stack
    tickets, seats = stack.hotline.tickets.store, stack.hotline.routing.seats
    router = stack.hotline.routing.router
    number = new_number()
    earlier = await tickets.create_draft(f"e2e-earlier-{number}", number, "上周反映的小区停水问题。")
    user, password = await make_user("operator", operator_id=OPERATOR, display_name="李明")

    # -- log in, seat, ready ------------------------------------------------------------
    await console_ready(page, user, password, SEAT)
    st = await seats.status(SEAT)
    assert (st.state, st.operator_id) == (SeatState.READY, OPERATOR)

    def today():
        return stats_today(stack.redis, None, clock=router.store.clock, timezone=router.config.timezone,
                           service_level_s=router.config.service_level_s)
    before = await today()

    # -- a real call pops up with its draft ticket --------------------------------------------
    ev = Events(stack)
    await ev.mark()
    placed = asyncio.ensure_future(place_call(
        stack.ami, caller=number, answer_prompts=True, wav=speech_wav, hold=90, timeout=120,
        variables={"__DEMO_TALK_S": str(TALK_S)}))
    try:
        call_id = await ev.call_id(number, timeout=30)
        await page.wait_for_function(
            "n => document.getElementById('call-caller').textContent.trim() === n", arg=number, timeout=30_000)
        await page.wait_for_function(
            "() => document.getElementById('ticket-id').textContent.startsWith('ZZ')", timeout=30_000)
        await page.wait_for_selector('#seat-state[data-state="on_call"]', timeout=20_000)
        assert await text(page, "#call-lane") == "综合受理"
        assert "general_q" in await text(page, "#call-path")
        assert "秒" in await text(page, "#call-waited")
        assert earlier.id in await text(page, "#earlier")
        ticket_id = await text(page, "#ticket-id")
        draft = await tickets.get(ticket_id)
        assert draft.call_id == call_id and draft.status == "draft"

        # Live transcript events (the contract recordings/live.py publishes): a partial
        # then its final replace each other in the chat list.
        for final, words in ((False, "您好，这里是"), (True, "您好，这里是12345热线。")):
            await stack.redis.publish(LIVE_CHANNEL, json.dumps(
                {"type": "transcript", "call_id": call_id, "speaker": "operator", "text": words, "final": final,
                 "seq": 9001, "ts": 0}, ensure_ascii=False))
            await page.wait_for_function(
                "w => [...document.querySelectorAll('#transcript li.operator .text')].some(e => e.textContent === w)",
                arg=words)
        assert await page.locator("#transcript li.partial").count() == 0
        assert await page.locator("#transcript li.operator").count() == 1
        await shot(page, "console_call_popped_up")

        # -- the caller's words re-draft the ticket: suggestions with confidence, and an alert -------
        said = "我 要 投诉 芦淞区 建宁 街道 小区 物业 不 管 事 楼道 里 一股 煤气 的 味道"
        await tickets.update_transcript(ticket_id, said, turn={"speaker": "caller", "text": said})
        await stack.redis.publish(LIVE_CHANNEL, json.dumps(
            {"type": "draft_ticket", "call_id": call_id, "ticket": ticket_id}))
        await page.wait_for_function(
            "() => document.querySelectorAll('select[name=category]').length"
            " && document.querySelector('select[name=category]').closest('label').querySelectorAll('.suggest .chip').length > 0",
            timeout=20_000)
        chips = await page.locator("label:has(select[name=appeal_type]) .suggest .chip").all_text_contents()
        assert 1 <= len(chips) <= 3 and all(c.strip().endswith("%") for c in chips), chips
        await page.wait_for_selector("#emergency-alert:not([hidden])", timeout=10_000)
        assert "119" in await text(page, "#emergency-alert")
        await stack.redis.publish(LIVE_CHANNEL, json.dumps(            # the event alone raises it too
            {"type": "emergency_alert", "call_id": call_id, "ticket": ticket_id, "emergency": "120",
             "cues": ["晕倒"], "confidence": 0.8}, ensure_ascii=False))
        await page.wait_for_function(
            "() => document.getElementById('emergency-alert').textContent.includes('120')", timeout=10_000)
        await shot(page, "console_suggestions_and_alert")

        # -- the operator corrects category and district, confirms with Ctrl+Enter ------------------
        taxonomy = await page.evaluate("fetch('/api/console/taxonomy').then(r => r.json())")
        drafted = (draft.draft.get("category") or [None])[0]
        new = next(c for c in taxonomy["categories"] if c["name"] != drafted and c["children"])
        await page.select_option("select[name=category]", new["name"])
        await page.select_option("select[name=category2]", new["children"][0])
        district = "石峰区" if draft.draft.get("district") != "石峰区" else "芦淞区"
        await page.select_option("select[name=district]", district)
        await page.focus("input[name=title]")
        await page.keyboard.press("Control+Enter")
        await page.wait_for_function(
            "() => document.getElementById('ticket-message').textContent.includes('已确认')")
        await shot(page, "console_ticket_confirmed")
        stored = await tickets.get(ticket_id)
        assert stored.status == "confirmed" and stored.confirmed_by == OPERATOR
        assert stored.confirmed["category"] == [new["name"], new["children"][0]]
        assert stored.corrections["category"]["confirmed"] == [new["name"], new["children"][0]]
        assert stored.confirmed["district"] == district and "district" in stored.corrections

        # -- the operator hangs up (F9): wrap-up countdown, ended early with F2 -----------------------
        assert not placed.done()
        hung_up = time.monotonic()
        await page.keyboard.press("F9")
        await page.wait_for_function("() => document.getElementById('message').textContent.includes('已挂机')")
        await page.wait_for_selector('#seat-state[data-state="wrap_up"]', timeout=15_000)
        result = await asyncio.wait_for(placed, 30)
    finally:
        if not placed.done():
            placed.cancel()
    assert result.completed and result.ended - hung_up < 20        # long before the seat's TALK_S
    assert [e for e in await ev.of(call_id, "call_ended") if e.get("seat_id") == SEAT]
    await page.wait_for_selector("#wrap-countdown:not([hidden])")
    assert "话后整理剩余" in await text(page, "#wrap-countdown")
    await shot(page, "console_wrap_up")
    await page.keyboard.press("F2")
    await page.wait_for_selector('#seat-state[data-state="ready"]')
    assert (await seats.status(SEAT)).state == SeatState.READY
    await page.select_option("#pause-reason", "培训")             # pause with a reason (F3)
    await page.keyboard.press("F3")
    await page.wait_for_selector('#seat-state[data-state="paused"]')
    assert "培训" in await text(page, "#seat-reason")
    st = await seats.status(SEAT)
    assert (st.state, st.reason) == (SeatState.PAUSED, "培训")

    # -- the wallboard shows the counts the call produced ------------------------------------------
    after = await today()
    assert after["offered"] == before["offered"] + 1 and after["answered"] == before["answered"] + 1
    sup, sup_pw = await make_user("supervisor")
    context = await chromium.new_context(base_url=web_url, locale="zh-CN", timezone_id="Asia/Shanghai",
                                         viewport={"width": 1600, "height": 1000})
    board = await context.new_page()
    try:
        await login(board, sup, sup_pw, next_path="/wallboard")
        figure = "document.querySelector('#kpi [data-figure=\"' + a[0] + '\"] .value')"
        for name in ("offered", "answered"):
            await board.wait_for_function(f"a => {figure} && {figure}.textContent === String(a[1])",
                                          arg=[name, after[name]])
        row = board.locator('#lanes tr[data-lane="general"] td[data-figure="answered"]')
        lane = await stats_today(stack.redis, "general", clock=router.store.clock,
                                 timezone=router.config.timezone)
        assert await row.text_content() == str(lane["answered"]) and lane["answered"] >= 1
        await board.wait_for_function("() => document.querySelector('#chart-hours canvas') !== null")
        await board.wait_for_function(
            "n => [...document.querySelectorAll('#seat-list tr[data-seat]')].some(r => r.dataset.seat === n)",
            arg=SEAT)
        await asyncio.sleep(0.5)                                  # chart animation
        await shot(board, "wallboard_after_call")
        await board.click("#btn-full")                            # full-screen mode for the LED wall
        await board.wait_for_selector("body.full")
        assert not await board.is_visible("#supervise-panel")
        await asyncio.sleep(0.5)
        await shot(board, "wallboard_full_screen")
    finally:
        await context.close()
