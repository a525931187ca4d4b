"""The browser fixtures work: a real account logs in through the login page."""
from __future__ import annotations

from tests.e2e.browser.helpers import login, shot


async def test_operator_logs_in_through_the_login_page(page, make_user):
    username, password = await make_user("operator")
    await login(page, username, password)
    me = await page.evaluate("fetch('/api/me').then(r => r.json())")
    assert me["user"]["username"] == username and me["user"]["role"] == "operator"
    assert (await shot(page, "smoke_after_login")).stat().st_size > 0


async def test_wrong_password_is_refused_in_the_page(page, make_user):
    username, _ = await make_user("operator")
    await page.goto("/login")
    await page.fill("#username", username)
    await page.fill("#password", "not-the-password-1")
    await page.click("#login-submit")
    await page.wait_for_selector("#login-error:not([hidden])")
    assert "错误" in await page.text_content("#login-error")
