"""The reports page in headless chromium: a supervisor opens 统计报表 from the
shell, sees today's lanes, seats and the ticket categories (a ticket filed for
the test), the ECharts trend chart is drawn, and the CSV export is a download."""
from __future__ import annotations

import time
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from tests.e2e.browser.helpers import login, shot
from tickets.model import DraftTicket


async def test_supervisor_sees_reports_chart_and_csv(page, make_user, stack):
    tickets = stack.hotline.tickets.store
    call_id = f"rep-{uuid.uuid4().hex[:8]}"
    await tickets.create_draft(call_id, "13800007777", DraftTicket(category=("人力资源社会保障", "欠薪")),
                               received_at=time.time())
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    username, password = await make_user("supervisor")
    await login(page, username, password)
    await page.click("#nav a[href='/reports']")
    await page.wait_for_url("**/reports")
    await page.select_option("#period", "day")
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    await page.wait_for_selector(f"#table-lanes td:has-text('{today.year}年{today.month}月{today.day}日')")
    assert "周\t" not in await page.inner_text("#table-lanes")       # the weekly answer never lands late
    await page.wait_for_selector("#table-categories td:has-text('人力资源社会保障/欠薪')")
    lanes = await page.inner_text("#table-lanes")
    assert "全部" in lanes and "综合受理" in lanes and "接通率" in lanes
    assert "坐席" in await page.inner_text("#table-seats")
    await page.wait_for_selector("#chart-trend canvas")
    async with page.expect_download() as info:
        await page.click("#btn-csv-categories")
    download = await info.value
    data = open(await download.path(), "rb").read()
    assert data.startswith(b"\xef\xbb\xbf") and "人力资源社会保障/欠薪" in data.decode("utf-8-sig")
    await shot(page, "reports_page")
    assert not errors, errors
