"""Small helpers for the browser tests (pages opened relative to the stack's web URL)."""
from __future__ import annotations

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
