"""Small helpers for the browser tests (pages opened relative to the stack's web URL)."""
from __future__ import annotations

import contextlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"


def file_name(name: str) -> str:
    """A test or shot name as a safe file name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:120] or "test"


async def login(page, username: str, password: str, next_path: str = "/") -> None:
    """Log in through the real login page; returns once the browser has left it."""
    await page.goto("/login?next=" + next_path)
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("#login-submit")
    await page.wait_for_url(lambda url: "/login" not in url)


async def shot(page, name: str) -> Path:
    """A full-page screenshot saved as artifacts/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{file_name(name)}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def console_ready(page, username: str, password: str, seat: str) -> None:
    """Log in to the console, log in to `seat` from the page and go ready (F2), the live feed connected."""
    await login(page, username, password, next_path="/console")
    await page.wait_for_selector("#seat-state")
    await page.fill("#seat-id", seat)
    await page.click("#btn-login")
    await page.wait_for_selector('#seat-state[data-state="paused"]')
    await page.wait_for_selector("#live-state.on")
    await page.keyboard.press("F2")
    await page.wait_for_selector('#seat-state[data-state="ready"]')


@contextlib.asynccontextmanager
async def another_user(chromium, web_url: str, username: str, password: str, next_path: str):
    """A second browser context logged in as another user, on `next_path`; closed on exit."""
    ctx = await chromium.new_context(base_url=web_url, locale="zh-CN", timezone_id="Asia/Shanghai")
    try:
        other = await ctx.new_page()
        await login(other, username, password, next_path=next_path)
        yield other
    finally:
        await ctx.close()


async def simulate_in_editor(page, keys: str, path: list[str]) -> str:
    """Simulate pressing `keys` in the admin's tree editor; waits for `path`; the result's text."""
    await page.fill("[data-testid=sim-keys]", keys)
    await page.click("[data-testid=simulate-button]")
    await page.wait_for_selector(f"[data-testid=sim-path][data-path='{','.join(path)}']")
    assert await page.locator(".node.on-path").count() == len(set(path))
    return await page.text_content("[data-testid=sim-path]") or ""


async def publish_in_editor(page, comment: str, number: int) -> str:
    """Publish the editor's working copy with `comment`; waits for version `number`; the status text."""
    await page.fill("[data-testid=publish-comment]", comment)
    await page.click("[data-testid=publish-button]")
    await page.wait_for_selector(f"[data-testid=publish-status][data-version='{number}']")
    return await page.text_content("[data-testid=publish-status]") or ""
