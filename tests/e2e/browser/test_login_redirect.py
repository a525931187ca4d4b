"""Issue #12 item 8: after login the page only follows a `next` on its own origin."""
from __future__ import annotations

from urllib.parse import urlsplit

from tests.e2e.browser.helpers import login

OFF_SITE = ["/%09/evil.example/x", "/%0A/evil.example/x", "/%0D%0A/evil.example/x", "/%5Cevil.example/x",
            "/%5C%09evil.example", "//evil.example/x", "/\\/evil.example", "http://evil.example/",
            "javascript:alert(1)", "%2F%2Fevil.example"]


async def test_login_with_a_tab_in_next_stays_on_the_site(page, make_user, web_url):
    username, password = await make_user("operator")
    await login(page, username, password, next_path="/%09/evil.example/x")
    assert urlsplit(page.url).netloc == urlsplit(web_url).netloc, page.url


async def test_safe_next_compares_origins(page, web_url):
    await page.goto("/login")
    for raw in OFF_SITE:
        decoded = await page.evaluate("(v) => decodeURIComponent(v)", raw)
        got = await page.evaluate("(v) => import('/static/api.js').then(m => m.safeNext(v))", decoded)
        assert got == "/", (raw, got)
    got = await page.evaluate("() => import('/static/api.js').then(m => m.safeNext('/console?tab=1#t'))")
    assert got == "/console?tab=1#t"
