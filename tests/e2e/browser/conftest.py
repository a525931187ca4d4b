"""Browser fixtures: headless Debian chromium driven by Playwright, against
the e2e `stack` (same pytest-asyncio session loop).

    async def test_x(page, web_url, make_user):
        username, password = await make_user("operator")      # a real account
        await login(page, username, password)                  # tests/e2e/browser/helpers.py
        await page.goto("/console")                            # relative to web_url

Fixtures:
- `chromium`: one Browser for the session, the system /usr/bin/chromium
  (never a downloaded build; the machine's network is closed), fresh profile.
- `page`: a new context (base_url = the stack's web URL, zh-CN) and page per
  test; a screenshot of the last state is saved on teardown to
  artifacts/screenshots/<test name>.png.
- `web_url`: the stack's web base URL, "http://host:port" (no trailing slash).
- `make_user(role, **fields)`: async; creates a real account (operator,
  supervisor or admin) in the stack's Redis and returns (username, password).
  `fields` go to Accounts.create (display_name, operator_id, seat).
"""
from __future__ import annotations

import itertools
import time
import uuid
from pathlib import Path

import pytest

from tests.e2e.browser.helpers import SCREENSHOTS, file_name
from web.accounts import Accounts, Role
from web.config import WebConfig

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage"]


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.asterisk)


@pytest.fixture(scope="session")
async def chromium():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (scripts/setup installs it)")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        # launch() gives the browser a fresh temporary profile (--user-data-dir) of its
        # own and removes it at close.
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
def web_url(stack) -> str:
    return f"http://{stack.settings.network.host}:{stack.web_port}"


@pytest.fixture
async def page(chromium, web_url, request):
    context = await chromium.new_context(base_url=web_url, locale="zh-CN", timezone_id="Asia/Shanghai",
                                         viewport={"width": 1440, "height": 900})
    context.set_default_timeout(15_000)
    pg = await context.new_page()
    try:
        yield pg
    finally:
        try:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            await pg.screenshot(path=str(SCREENSHOTS / f"{file_name(request.node.name)}.png"), full_page=True)
        except Exception:       # a crashed page must not hide the test's own result
            pass
        await context.close()


_seq = itertools.count(1)


@pytest.fixture
def make_user(stack):
    accounts = Accounts(stack.redis, WebConfig().hasher, time.time)

    async def make(role: str | Role = "operator", **fields) -> tuple[str, str]:
        r = role if isinstance(role, Role) else Role.parse(role)
        username = f"{r.id[:3]}{next(_seq)}-{uuid.uuid4().hex[:6]}"
        password = f"Pw-{uuid.uuid4().hex[:12]}"
        await accounts.create(username, password, r, **fields)
        return username, password
    return make
