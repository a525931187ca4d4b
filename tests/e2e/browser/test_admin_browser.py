"""The admin IVR editor in headless Chromium: an admin changes a prompt and a
menu key, sees the validation error of a bad key on the node at fault, fixes
it, simulates, publishes, and a new real call through Asterisk follows the
new tree (the version it pinned is the one published from the page)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from devstack.simcall import place_call
from ivr.loader import parse_file
from tests.e2e.browser.helpers import login, shot
from tests.e2e.helpers import publish

TREE = Path(__file__).resolve().parents[3] / "config" / "ivr" / "zhuzhou.yaml"
NEW_GREETING = "您好，这里是株洲12345测试热线，通话将录音。"


async def test_admin_edits_validates_simulates_publishes_and_a_real_call_follows(page, fresh, make_user):
    product = parse_file(TREE).data
    start_version = await publish(fresh, product, "browser test: the product tree")
    username, password = await make_user("admin", display_name="测试管理员")
    await login(page, username, password, next_path="/admin")
    await page.wait_for_selector("body[data-ready=true]")
    assert (await page.text_content("[data-testid=tree-version]")).startswith(f"{start_version}（")
    await page.wait_for_selector("[data-testid=validate-status].good")

    # the greeting's prompt: edit the text, and the preview plays the generated audio
    await page.click("[data-node-id=welcome]")
    await page.fill("[data-testid=node-prompt-text]", NEW_GREETING)
    async with page.expect_response(lambda r: "/api/admin/prompts/preview" in r.url) as preview:
        await page.click("[data-testid=prompt-play]")
    response = await preview.value
    assert response.status == 200 and response.headers["content-type"] == "audio/wav"
    assert (await response.body())[:4] == b"RIFF"
    assert NEW_GREETING in await page.text_content("[data-node-id=welcome]")     # the tree box follows the form
    assert await page.is_visible("[data-testid=dirty-mark]")                      # 有未发布的修改

    # the menu: a new key with a bad value is caught on the menu node
    await page.click("[data-node-id=menu]")
    await page.click("[data-testid=menu-add-option]")
    await page.select_option("[data-testid=menu-target-2]", "bye")
    await page.fill("[data-testid=menu-key-2]", "A")
    await page.wait_for_selector("[data-node-id=menu].bad [data-testid=node-problem]:has-text('options.A')")
    assert "发现 1 处问题" == await page.text_content("[data-testid=validate-status]")
    problem = await page.text_content("[data-node-id=menu] [data-testid=node-problem]")
    assert "options.A" in problem and "按键无效" in problem
    assert "按键无效" in await page.text_content("[data-testid=node-problems]")
    assert await page.locator(".node.bad").count() == 1                 # only the node at fault
    await shot(page, "admin_validation_error")

    # fixed: key 3 ends the call politely
    await page.fill("[data-testid=menu-key-2]", "3")
    await page.wait_for_selector("[data-testid=validate-status].good")
    assert await page.locator(".node.bad").count() == 0

    # simulate a caller pressing 3: the path is shown and highlighted in the tree
    await page.fill("[data-testid=sim-caller]", "13912345678")
    await page.fill("[data-testid=sim-did]", "12345")
    await page.fill("[data-testid=sim-keys]", "3")
    await page.click("[data-testid=simulate-button]")
    await page.wait_for_selector("[data-testid=sim-path][data-path='start,welcome,menu,bye']")
    assert await page.locator(".node.on-path").count() == 4
    assert "挂机" in await page.text_content("[data-testid=sim-path]")
    await shot(page, "admin_simulated")

    # publish with a comment
    await page.fill("[data-testid=publish-comment]", "浏览器测试：新问候语，按键3结束")
    await page.click("[data-testid=publish-button]")
    await page.wait_for_selector("[data-testid=publish-status][data-version]:not([data-version=''])")
    new_version = int(await page.get_attribute("[data-testid=publish-status]", "data-version"))
    assert new_version == start_version + 1
    assert await fresh.hotline.ivr.versions.current_number() == new_version
    assert await page.is_hidden("[data-testid=dirty-mark]")
    first_row = page.locator("[data-testid=versions] tr").first
    assert "浏览器测试：新问候语，按键3结束" in await first_row.text_content() and "当前" in await first_row.text_content()
    await page.click(f"[data-testid=diff-{new_version}]")
    await page.wait_for_selector("[data-testid=version-diff] li")
    diff = await page.text_content("[data-testid=version-diff]")
    assert "节点 menu：新增按键 3 → bye" in diff and "节点 welcome 的 prompt：" in diff and f"“{NEW_GREETING}”" in diff
    await shot(page, "admin_published")

    # a new real call through Asterisk follows the new tree
    handler = fresh.hotline.ivr.handler
    handler.clock = lambda: dt.datetime.now(dt.UTC)
    fresh.use(handler)
    try:
        result = await place_call(fresh.ami, caller="13912345678", keys="3", answer_prompts=True, hold=40, timeout=60)
        record = await fresh.hotline.ivr.calls.get(result.ivr_uniqueid)
        assert result.completed and not result.fallback
        assert record["version"] == str(new_version)
        assert record["path"] == ["start", "welcome", "menu", "bye"]
        assert record["end_reason"] == "hangup"
    finally:
        await publish(fresh, product, "browser test: back to the product tree")


async def test_admin_config_tabs_and_a_csv_import_refused_line_by_line(page, fresh, make_user):
    deputies = TREE.parents[1] / "lists" / "deputies.csv"
    before = deputies.read_bytes()
    username, password = await make_user("admin")
    await login(page, username, password, next_path="/admin")
    await page.wait_for_selector("body[data-ready=true]")

    await page.click("[data-testid=tab-seats]")
    assert await page.input_value("[data-testid=operator-id-0]") == "8001"
    assert await page.input_value("[data-testid=skill-0-deputy]") == "9"
    await shot(page, "admin_tab_seats")
    await page.click("[data-testid=tab-transfers]")
    await page.wait_for_selector("[data-testid=transfer-id-0]")
    assert await page.locator("[data-testid^=transfer-id-]").count() >= 5
    await shot(page, "admin_tab_transfers")
    await page.click("[data-testid=tab-lanes]")
    await page.wait_for_selector("tr[data-lane]")
    assert await page.locator("tr[data-lane]").count() == 3
    await shot(page, "admin_tab_lanes")
    await page.click("[data-testid=tab-calendars]")
    await page.wait_for_selector("[data-testid=calendar-days] .day")
    await shot(page, "admin_tab_calendars")

    await page.click("[data-testid=tab-deputies]")
    await page.fill("[data-testid=csv-text]", "号码,姓名,备注\n13700002001,钱代表,\nabc,坏号码,\n13700002002,孙代表,\n,无号码,\n")
    await page.click("[data-testid=csv-import]")
    await page.wait_for_selector("[data-testid=csv-errors]")
    lines = await page.locator("[data-testid=csv-errors] tbody tr").evaluate_all("rows => rows.map(r => r.dataset.line)")
    assert lines == ["3", "5"]
    assert "未导入" in await page.text_content("[data-testid=csv-report]")
    assert deputies.read_bytes() == before                 # refused: nothing written
    await shot(page, "admin_csv_errors")
