"""The revisit (回访) tree in the admin's visual editor, the revisit campaign page with its do-not-call
list, and the leader page, in headless Chromium against the e2e stack (the product's composition:
the revisit and leader features are on, with the stack's private PostgreSQL).

- An admin switches the editor to 回访流程, edits a prompt, is shown a bad key on the node at fault,
  fixes it, simulates a citizen pressing 3, publishes (audited, the call tree untouched, the revisit
  calls' tree source serving the new version), exports it, rolls back, and switches back.
- The campaign page shows the tasks (numbers masked); an admin adds and removes do-not-call numbers;
  a supervisor sees the list masked, without the controls.
- An admin schedules a leader-answering session on /leader (a refused form shows why), a supervisor
  reads its report, and the admin cancels it.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from zoneinfo import ZoneInfo

import pytest

from agents import revisit_plan as P
from ivr.versions import canonical
from kernel.privacy import mask_number
from tests.e2e.browser.helpers import another_user, login, publish_in_editor, shot, simulate_in_editor
from web.keys import AUDIT

pytestmark = [pytest.mark.timeout(240)]

CN = ZoneInfo("Asia/Shanghai")
NEW_THANKS = "感谢您的评价，祝您生活愉快，再见。"


def accept_dialogs(page) -> None:
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))


async def audit_of(stack, action: str) -> list:
    return [e for e in await stack.web_runner.app[AUDIT].entries(count=500) if e.action == action]


async def test_the_editor_edits_simulates_publishes_and_rolls_back_the_revisit_tree(page, fresh, make_user):
    assert fresh.hotline.revisit.revisits is not None, "the revisit feature is on (records database up)"
    versions = fresh.hotline.ivr.editable.get("revisit").versions
    start = await versions.current_number()
    calls_before = await fresh.hotline.ivr.versions.current_number()
    admin, password = await make_user("admin", display_name="回访管理员")
    accept_dialogs(page)
    await login(page, admin, password, next_path="/admin")
    await page.wait_for_selector("body[data-ready=true]")
    await page.wait_for_selector("#tab-tree[data-loaded=calls]")
    assert await page.is_visible("[data-node-id=welcome]")
    options = await page.eval_on_selector_all("[data-testid=tree-select] option", "os => os.map(o => o.textContent)")
    assert options == ["来电流程", "回访流程"]

    # the selector reloads the editor on the revisit tree
    await page.select_option("[data-testid=tree-select]", "revisit")
    await page.wait_for_selector("#tab-tree[data-loaded=revisit]")
    assert "tree=revisit" in page.url
    assert (await page.text_content("[data-testid=tree-version]")).startswith(f"{start}（")
    await page.wait_for_selector("[data-testid=validate-status].good")
    assert await page.locator("[data-node-id=welcome]").count() == 0
    assert await page.is_visible("[data-node-id=ask]") and await page.is_visible("[data-node-id=unsatisfied]")
    first = page.locator("[data-testid=versions] tr").first
    assert await first.get_attribute("data-version") == str(start)

    # a prompt edited on the form, shown on the node's box
    await page.click("[data-node-id=satisfied]")
    await page.fill("[data-testid=node-prompt-text]", NEW_THANKS)
    assert NEW_THANKS in await page.text_content("[data-node-id=satisfied]")
    assert await page.is_visible("[data-testid=dirty-mark]")

    # a bad key on the question is caught on that node, then fixed
    await page.click("[data-node-id=ask]")
    keys = [await page.input_value(f"[data-testid=menu-key-{i}]") for i in range(4)]
    assert keys == ["1", "2", "3", "9"]
    await page.click("[data-testid=menu-add-option]")
    await page.select_option("[data-testid=menu-target-4]", "bye")
    await page.fill("[data-testid=menu-key-4]", "A")
    await page.wait_for_selector("[data-node-id=ask].bad [data-testid=node-problem]:has-text('options.A')")
    assert await page.locator(".node.bad").count() == 1
    assert "发现 1 处问题" == await page.text_content("[data-testid=validate-status]")
    await page.click("[data-testid=menu-remove-4]")
    await page.wait_for_selector("[data-testid=validate-status].good")
    assert await page.locator(".node.bad").count() == 0

    # a citizen pressing 3 (不满意): recorded reason, reopened
    assert "挂机" in await simulate_in_editor(page, "3", ["ask", "unsatisfied", "reopened"])
    await shot(page, "revisit_tree_simulated")

    # publish: the revisit tree's next version, audited; the call tree is not touched
    assert "回访流程" in await publish_in_editor(page, "浏览器测试：满意提示语", start + 1)
    assert await versions.current_number() == start + 1
    doc = await versions.document(start + 1)
    assert doc["nodes"]["satisfied"]["prompt"]["text"] == NEW_THANKS
    assert doc["nodes"]["ask"]["options"] == {"1": "satisfied", "2": "basic", "3": "unsatisfied", "9": "opt_out"}
    assert await fresh.hotline.ivr.versions.current_number() == calls_before
    pinned = await fresh.hotline.revisit.trees.current()               # what the next revisit call walks
    assert pinned.version == start + 1 and pinned.tree.nodes["satisfied"].prompt.text == NEW_THANKS
    published = [e for e in await audit_of(fresh, "ivr.publish") if e.target == f"ivr:revisit:version:{start + 1}"]
    assert published and published[0].who == admin and published[0].details["tree"] == "revisit"
    assert await page.is_hidden("[data-testid=dirty-mark]")

    # the export link is the revisit tree's
    href = await page.get_attribute("[data-testid=yaml-export]", "href")
    assert "tree=revisit" in href
    exported = await page.request.get(href)
    assert exported.status == 200 and (await exported.text()).startswith(f"# 回访流程 版本 {start + 1}\n")

    # its version diff, then roll back to where it was
    await page.click(f"[data-testid=diff-{start + 1}]")
    await page.wait_for_selector("[data-testid=version-diff] li")
    assert f"“{NEW_THANKS}”" in await page.text_content("[data-testid=version-diff]")
    await page.click(f"[data-testid=rollback-{start}]")
    await page.wait_for_selector(f"[data-testid=versions] tr[data-version='{start + 2}']")
    await page.wait_for_selector(f"[data-testid=tree-version]:text-matches('^{start + 2}（')")
    assert "已回滚回访流程" in await page.text_content("[data-testid=admin-message]")
    assert canonical(await versions.document(start + 2)) == canonical(await versions.document(start))
    assert NEW_THANKS not in await page.text_content("[data-node-id=satisfied]")
    rolled = [e for e in await audit_of(fresh, "ivr.rollback") if e.target == f"ivr:revisit:version:{start + 2}"]
    assert rolled and rolled[0].details["rollback_of"] == start
    assert await fresh.hotline.ivr.versions.current_number() == calls_before
    await shot(page, "revisit_tree_rolled_back")

    # a reload keeps the tree; switching back shows the call tree again
    await page.reload()
    await page.wait_for_selector("#tab-tree[data-loaded=revisit]")
    assert await page.input_value("[data-testid=tree-select]") == "revisit"
    await page.select_option("[data-testid=tree-select]", "calls")
    await page.wait_for_selector("#tab-tree[data-loaded=calls]")
    assert await page.is_visible("[data-node-id=welcome]") and "tree=" not in page.url
    assert (await page.text_content("[data-testid=tree-version]")).startswith(f"{calls_before}（")


async def test_the_campaign_page_shows_tasks_and_manages_the_do_not_call_list(page, fresh, make_user, chromium,
                                                                              web_url):
    revisits = fresh.hotline.revisit.revisits
    assert revisits is not None
    store = revisits.store
    tag = uuid.uuid4().hex[:6]
    pending_id, failed_id = f"RV-{tag}-1", f"RV-{tag}-2"
    task_number, dnc_number = "13912345678", f"1380000{int(tag, 16) % 10000:04d}"
    now = dt.datetime.now(CN)
    # a task due in a month (the scheduler leaves it alone) and one that failed
    assert await store.add(pending_id, f"ev-{pending_id}", task_number, now, P.State.PENDING,
                           now + dt.timedelta(days=30), None, {})
    assert await store.add(failed_id, f"ev-{failed_id}", "13912340000", now, P.State.FAILED, None,
                           str(P.Skip.DO_NOT_CALL), {})
    admin, admin_pw = await make_user("admin", display_name="回访管理员")
    sup, sup_pw = await make_user("supervisor", display_name="班长")
    accept_dialogs(page)
    try:
        await login(page, admin, admin_pw, next_path="/revisit")
        await page.wait_for_selector("body[data-loaded='1']")
        await page.wait_for_selector("#dnc[data-loaded='1']")
        row = page.locator(f"#tasks tr[data-ticket='{pending_id}']")
        cells = await row.locator("td").all_text_contents()
        assert cells[:4] == [pending_id, mask_number(task_number), "待回访", "0"], cells
        failed = await page.locator(f"#tasks tr[data-ticket='{failed_id}'] td").all_text_contents()
        assert failed[2] == "失败" and failed[6] == "免打扰号码", failed
        assert task_number not in await page.content()
        await page.select_option("#filter", "failed")
        await page.wait_for_selector(f"#tasks tr[data-ticket='{pending_id}']", state="detached")
        assert await page.locator(f"#tasks tr[data-ticket='{failed_id}']").count() == 1

        # the admin adds a number (written as people write it), once; a bad one is refused
        assert await page.is_visible("[data-testid=dnc-add]")
        await page.fill("[data-testid=dnc-number]", f"{dnc_number[:3]}-{dnc_number[3:7]}-{dnc_number[7:]}")
        await page.fill("[data-testid=dnc-reason]", "本人来电要求")
        await page.click("[data-testid=dnc-add]")
        await page.wait_for_selector(f"[data-testid=dnc-list] tr[data-number='{dnc_number}']")
        assert "已加入免打扰" in await page.text_content("[data-testid=dnc-message]")
        cells = await page.locator(f"[data-testid=dnc-list] tr[data-number='{dnc_number}'] td").all_text_contents()
        assert cells[:3] == [dnc_number, "本人来电要求", admin], cells
        assert await store.do_not_call(dnc_number)
        await page.fill("[data-testid=dnc-number]", dnc_number)
        await page.click("[data-testid=dnc-add]")
        await page.wait_for_selector("[data-testid=dnc-message]:has-text('已在免打扰名单中')")
        await page.fill("[data-testid=dnc-number]", "abc")
        await page.click("[data-testid=dnc-add]")
        await page.wait_for_selector("[data-testid=dnc-message]:text-matches('^未加入')")
        await shot(page, "revisit_do_not_call_added")

        # a supervisor: the list masked, no controls
        async with another_user(chromium, web_url, sup, sup_pw, "/revisit") as spage:
            await spage.wait_for_selector("#dnc[data-loaded='1']")
            assert await spage.is_hidden("[data-testid=dnc-add]")
            masked = spage.locator(f"[data-testid=dnc-list] tr[data-number='{mask_number(dnc_number)}']")
            assert await masked.count() == 1 and await masked.locator("button").count() == 0
            assert "号码已隐去中间几位" in await spage.text_content("[data-testid=dnc-total]")
            assert dnc_number not in await spage.content()
            r = await spage.request.delete(f"/api/revisit/do-not-call?number={dnc_number}")
            assert r.status == 403                                     # (and no CSRF token either)

        # the admin removes it
        await page.click(f"[data-testid=dnc-list] tr[data-number='{dnc_number}'] [data-testid=dnc-remove]")
        await page.wait_for_selector(f"[data-testid=dnc-list] tr[data-number='{dnc_number}']", state="detached")
        assert "已移出免打扰" in await page.text_content("[data-testid=dnc-message]")
        assert not await store.do_not_call(dnc_number)
        token = (await (await page.request.get("/api/me")).json())["csrf_token"]
        again = await page.request.delete(f"/api/revisit/do-not-call?number={dnc_number}",
                                          headers={"X-CSRF-Token": token, "Origin": web_url})
        assert again.status == 404 and (await again.json())["message"] == "该号码不在免打扰名单中"
        target = f"do_not_call:{mask_number(dnc_number)}"
        added = [e for e in await audit_of(fresh, "revisit.do_not_call") if e.target == target]
        removed = [e for e in await audit_of(fresh, "revisit.do_not_call_remove") if e.target == target]
        assert [e.details["added"] for e in added] == [False, True] and added[-1].who == admin   # newest first
        assert len(removed) == 1 and removed[0].who == admin and removed[0].details["reason"] == "本人来电要求"
        assert dnc_number not in json.dumps([e.to_dict() for e in added + removed], ensure_ascii=False)
    finally:
        await store.pool.execute("DELETE FROM revisit_tasks WHERE ticket_id = ANY($1::text[])", [pending_id, failed_id])
        await store.remove_do_not_call(dnc_number)


async def test_the_leader_page_schedules_a_session(page, fresh, make_user, chromium, web_url):
    days = fresh.hotline.leader.days
    assert days is not None, "the leader feature is on (records database up)"
    day = (dt.datetime.now(CN) + dt.timedelta(days=45)).date().isoformat()   # far from any call of the tests
    admin, admin_pw = await make_user("admin", display_name="管理员")
    sup, sup_pw = await make_user("supervisor", display_name="班长")
    accept_dialogs(page)
    made = None
    try:
        await login(page, admin, admin_pw, next_path="/leader")
        await page.wait_for_selector("body[data-loaded='1']")
        assert await page.is_visible("#schedule")

        # a form with the end before the start: refused, saying why
        await page.fill("#date", day)
        await page.fill("#start", "10:30")
        await page.fill("#end", "09:00")
        await page.fill("#leader_name", "李明")
        await page.fill("#leader_title", "市长")
        await page.fill("#seat", "1009")
        await page.click("#form button[type=submit]")
        await page.wait_for_selector("#message:has-text('结束时间应晚于开始时间')")
        assert await page.get_attribute("#message", "class") == "error"

        await page.fill("#start", "09:00")
        await page.fill("#end", "10:30")
        await page.fill("#lanes", "general")
        await page.click("#form button[type=submit]")
        await page.wait_for_selector("#message[data-saved]")
        made = await page.get_attribute("#message", "data-saved")
        row = page.locator(f"#sessions tr[data-id='{made}']")
        await row.wait_for()
        cells = await row.locator("td").all_text_contents()
        assert cells[:6] == [day, "09:00-10:30", "市长李明", "1009", "队列 general", "0"], cells
        assert cells[6] == "有效"
        listed = next(s for s in await days.listing() if s["id"] == made)
        assert listed["seat"] == "1009" and listed["lanes"] == ["general"] and not listed["cancelled"]
        assert [e for e in await audit_of(fresh, "leader.schedule") if e.who == admin]
        await shot(page, "leader_scheduled")

        # a supervisor reads its report, and cannot schedule
        async with another_user(chromium, web_url, sup, sup_pw, "/leader") as spage:
            await spage.wait_for_selector("body[data-loaded='1']")
            assert await spage.is_hidden("#schedule")
            srow = spage.locator(f"#sessions tr[data-id='{made}']")
            assert await srow.locator("button", has_text="取消").count() == 0
            await srow.locator("button", has_text="报表").click()
            await spage.wait_for_selector("#report:not([hidden])")
            assert "受理 0 件" in await spage.text_content("#report-summary")
            assert "市长李明" in await spage.text_content("#report-title")

        # the admin cancels it
        await row.locator("button", has_text="取消").click()
        await page.wait_for_selector(f"#sessions tr[data-id='{made}'][data-cancelled=true]")
        assert "已取消" in await page.text_content("#message")
        assert next(s for s in await days.listing() if s["id"] == made)["cancelled"]
    finally:
        if made:
            await days.cancel(made)
