"""The holiday-schedule notice where people look, in headless Chromium, with the controller's
clock set 60 days before 2027 (the holiday library installed has data up to 2026): the admin page
and the wallboard show it; its link opens the calendar tab with the form for the year; a day
before that window neither shows anything."""
from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from ivr.loader import parse_file
from tests.e2e.browser.helpers import ROOT, login, shot
from tests.e2e.helpers import publish

WINDOW_OPENS = datetime(2026, 11, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()


@pytest.fixture
async def holidays(fresh):
    """The product tree published (its office calendar has `holidays: cn`; earlier tests publish others)."""
    await publish(fresh, parse_file(ROOT / "config" / "ivr" / "zhuzhou.yaml").data, "notices test: product tree")
    watch = fresh.hotline.notices.holidays
    yield watch
    watch.clock = time.time


async def test_admin_page_and_wallboard_say_2027_is_not_loaded(page, fresh, make_user, holidays):
    holidays.clock = lambda: WINDOW_OPENS
    username, password = await make_user("admin")
    await login(page, username, password, next_path="/admin")
    await page.wait_for_selector("body[data-ready=true]")
    notice = page.locator("#notices [data-testid=notice]")
    await notice.first.wait_for()
    text = await notice.first.text_content()
    assert "2027 年国家法定节假日和调休安排" in text and "60 天后（2027-01-01）" in text
    await shot(page, "admin_holiday_notice")
    await notice.first.locator("a").click()
    await page.wait_for_selector("#tab-calendars:not([hidden]) [data-testid=cn-years]")

    await page.goto("/wallboard")
    await page.locator("#notices [data-testid=notice]").first.wait_for()
    assert "2027" in await page.locator("#notices").text_content()


async def test_before_the_window_the_banner_stays_hidden(page, fresh, make_user, holidays):
    holidays.clock = lambda: WINDOW_OPENS - 86400
    username, password = await make_user("supervisor")
    await login(page, username, password, next_path="/wallboard")
    answer = await page.request.get("/api/notices")
    assert answer.ok and (await answer.json())["notices"] == []
    await page.reload()
    await page.wait_for_selector("#notices[data-loaded=true]", state="attached")
    assert await page.locator("#notices").is_hidden()
