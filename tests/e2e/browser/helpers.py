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
