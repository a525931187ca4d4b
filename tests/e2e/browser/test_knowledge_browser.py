"""The knowledge base on a real call, in headless Chromium (issue 17).

An admin imports articles on the admin page's 知识库 tab (CSV), one of them out of date. A real SIP call
comes in through the carrier trunk (SIPp plays the carrier, tests/sip.py) and is answered by baresip,
a real SIP phone registered as seat 1005, where the browser's operator is logged in. While the call is
up the conversation grows turn by turn through the live transcriber's own path (LiveTranscriber._final:
the `transcript` event on Redis -> web/live.py -> the console's WebSocket, and the draft ticket made
and refreshed): the test model of the recogniser is Korean, so the Chinese turns are handed to the
transcriber where the recogniser's finals enter it, not spoken. The console's top suggestions change
as the transcript grows, with the matching words highlighted (<mark> text nodes), never the expired
article; the operator closes the call as answered on the call (直接办结) citing an article; the ticket
is confirmed with that resolution, and the reports page counts it.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import subprocess

import pytest

from recordings.live import LiveCall
from recordings.stt.engine import Final
from tests import sip
from tests.e2e.browser.helpers import console_ready, login, shot
from tests.e2e.helpers import use_tree
from tests.e2e.test_routing_calls import Events, arrange, restore_seats, until

pytestmark = [pytest.mark.timeout(240)]

if sip.SIPP is None or sip.BARESIP is None:
    pytest.skip("sipp and baresip are needed", allow_module_level=True)

SEAT, OPERATOR = "1005", "8005"
TREE = {
    "version": 1, "name": "e2e-knowledge", "entry": "general_q",
    "lanes": {"deputy": {"label": "人大代表通道", "priority": 9}, "enterprise": {"label": "政企通专席", "priority": 5},
              "general": {"label": "综合受理", "priority": 1}},
    "nodes": {"general_q": {"type": "queue", "lane": "general", "announce_every_s": 0, "after": "bye", "on_fail": "bye"},
              "bye": {"type": "hangup", "prompt": {"text": "再见。"}}},
}
CSV = """question,answer,category,department,valid_from,valid_until,source,keywords
社保卡丢失了如何补办？,携带本人身份证到市民中心社保窗口办理挂失和补卡，也可以在湘税社保APP申请补办。,人力资源社会保障,市人社局,2024-01-01,,株人社发〔2024〕3号,社保卡、挂失、补卡
社保卡补办要交费吗？,补办社保卡收取工本费20元。,人力资源社会保障,市人社局,2019-01-01,2020-12-31,旧文件,社保卡、补办、工本费
公积金提取需要带什么材料？,购房提取需购房合同、发票和身份证；租房提取需租赁备案证明。,住房与城乡建设,市住房公积金中心,,,株公积金〔2025〕1号,公积金、提取、材料
"""


@pytest.fixture
async def kb_stack(fresh):
    await use_tree(fresh, TREE, "e2e knowledge")
    await arrange(fresh, ready=[])                  # demo seats paused: only the browser's seat takes the call
    try:
        yield fresh
    finally:
        await restore_seats(fresh)


async def ids(page) -> list[str]:
    return [i for i in (await page.get_attribute("#kb-list", "data-ids") or "").split(",") if i]


async def test_suggestions_follow_a_real_call_and_an_article_answers_it(kb_stack, page, chromium, web_url,
                                                                        make_user, tmp_path):
    from agents.secrets import seat_credentials
    from hotline.app import data_dir
    from tests.e2e.test_sip_trunk_calls import carrier, finished, line

    stack = kb_stack
    kb, tickets = stack.hotline.knowledge.store, stack.hotline.tickets.store
    assert kb is not None

    # -- the admin imports the articles on the admin page -------------------------------------------
    admin, admin_pw = await make_user("admin", display_name="管理员")
    ctx = await chromium.new_context(base_url=web_url, locale="zh-CN", timezone_id="Asia/Shanghai")
    apage = await ctx.new_page()
    try:
        await login(apage, admin, admin_pw, next_path="/admin")
        await apage.wait_for_selector("body[data-ready=true]")
        await apage.click("[data-testid=tab-knowledge]")
        await apage.wait_for_selector("[data-testid=kb-import-text]")
        before = len(await kb.articles())
        await apage.fill("[data-testid=kb-import-text]", CSV)
        await apage.click("[data-testid=kb-import]")
        await apage.wait_for_selector("[data-testid=kb-import-ok]")
        await apage.wait_for_function(f"() => document.querySelectorAll('[data-testid=kb-rows] tr').length >= {before + 3}")
        assert "已失效" in (await apage.text_content("[data-testid=kb-rows]") or "")
        assert "现行有效 " in (await apage.text_content("[data-testid=kb-title]") or "")
        await shot(apage, "knowledge_admin_imported")
    finally:
        await ctx.close()
    arts = {a["question"]: a for a in await kb.articles()}
    card, card_old, fund = (arts["社保卡丢失了如何补办？"]["id"], arts["社保卡补办要交费吗？"]["id"],
                            arts["公积金提取需要带什么材料？"]["id"])

    # -- the operator at seat 1005 (baresip), ready --------------------------------------------------
    username, secret = seat_credentials(stack.hotline.routing.config, data_dir(stack.settings))[SEAT]
    voice = tmp_path / "seat.wav"
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(voice), "synth", "60", "sine", "440",
                    "vol", "0.3"], check=True)
    user, password = await make_user("operator", operator_id=OPERATOR, display_name="王芳")
    with sip.Baresip(tmp_path / "baresip", username, secret, stack.asterisk.ports.sip, voice) as phone:
        async def registered():
            return f"{SEAT}/sip:" in (await asyncio.to_thread(stack.asterisk.cli, "pjsip show contacts") or "")
        await until(registered, 45, "baresip to register seat 1005", every=0.3)
        await console_ready(page, user, password, SEAT)

        # -- a real call in through the carrier trunk, answered by the SIP phone ---------------------
        ev = Events(stack)
        await ev.mark()
        caller = "13700007777"
        with carrier(tmp_path, stack, line(key=None, total_s=90), caller=caller, talk_ms=90000) as uac:
            call_id = await ev.call_id(caller, timeout=20)
            await ev.wait(lambda e: e["type"] == "call_answered" and e["call_id"] == call_id, 20, "baresip to answer")
            await page.wait_for_function(
                "n => document.getElementById('call-caller').textContent.trim() === n", arg=caller, timeout=20_000)
            await page.wait_for_selector('#seat-state[data-state="on_call"]', timeout=20_000)

            transcriber = stack.hotline.live.transcriber
            live = transcriber.active.get(call_id) or LiveCall(call_id, "")
            clock = [0.0]

            async def say(text: str, speaker: str = "caller") -> None:
                clock[0] += 3
                await transcriber._final(live, speaker, Final(text, clock[0] - 3, clock[0]))

            await say("您好，这里是12345热线，请讲。", "operator")
            await say("你好，我想问一下，我的社宝卡丢了")          # the recogniser's 社宝 for 社保
            await page.wait_for_function("id => document.getElementById('kb-list').dataset.ids?.split(',')[0] === id",
                                         arg=str(card), timeout=15_000)
            first = await ids(page)
            assert str(card_old) not in first                      # expired in 2020: never suggested
            marks = await page.locator("#kb-list li:first-child mark").all_text_contents()
            assert marks and any("社保" in m for m in marks), marks
            assert await page.locator("#kb-list li").count() <= 3
            await page.wait_for_function("() => document.getElementById('ticket-id').textContent.startsWith('ZZ')",
                                         timeout=15_000)
            ticket_id = (await page.text_content("#ticket-id") or "").strip()
            await shot(page, "knowledge_console_first_suggestions")

            await say("还有，公积经提取要带什么材料，我是买房子")
            await page.wait_for_function("id => document.getElementById('kb-list').dataset.ids?.split(',')[0] === id",
                                         arg=str(fund), timeout=15_000)
            assert await ids(page) != first                         # the suggestions followed the transcript
            assert str(card_old) not in await ids(page)
            marks = await page.locator("#kb-list li:first-child mark").all_text_contents()
            assert any("提取" in m or "材料" in m or "公积" in m for m in marks), marks
            await shot(page, "knowledge_console_suggestions_changed")

            # -- 直接办结 citing the article -------------------------------------------------------
            button = page.locator(f"[data-testid=kb-answer-{fund}]")
            await page.wait_for_function(f"() => !document.querySelector('[data-testid=kb-answer-{fund}]').disabled",
                                         timeout=15_000)
            await button.click()
            await page.wait_for_function("() => document.getElementById('kb-message').textContent.includes('直接办结')")
            await page.wait_for_function(
                "() => document.getElementById('ticket-status').textContent.includes('直接办结')")
            stored = await tickets.get(ticket_id)
            assert stored.call_id == call_id and stored.status == "confirmed" and stored.confirmed_by == OPERATOR
            assert stored.confirmed["resolution"] == "直接办结" and stored.confirmed["kb_article"] == str(fund)
            await shot(page, "knowledge_console_answered_on_call")
            await asyncio.to_thread(phone.hangup)
            assert await finished(uac, 30) == 0, uac.log_tail()

    # -- the report counts it ------------------------------------------------------------------------
    sup, sup_pw = await make_user("supervisor", display_name="班长")
    ctx = await chromium.new_context(base_url=web_url, locale="zh-CN", timezone_id="Asia/Shanghai")
    rpage = await ctx.new_page()
    try:
        await login(rpage, sup, sup_pw, next_path="/reports")
        await rpage.wait_for_function("() => document.getElementById('kb-share').textContent.includes('直接办结')",
                                      timeout=20_000)
        share = await rpage.text_content("#kb-share") or ""
        assert "直接办结率" in share
        rows = await rpage.locator("#table-kb-articles tr").all_text_contents()
        assert any("公积金提取需要带什么材料" in r for r in rows), rows
        await shot(rpage, "knowledge_report")
    finally:
        await ctx.close()
    today = dt.datetime.now(tickets.tz).date()
    rep = await kb.report(today, today)
    assert rep["answered_on_call"] >= 1 and any(a["id"] == fund for a in rep["articles"])
