"""The default tree's `holidays: cn` calendar with the holiday library installed (data to 2026) and an
injected clock: from 60 days before 2027 the admin page, the wallboard (GET /api/notices), /metrics and
the log say the official 2027 schedule is not loaded; entering it and republishing ends that."""
from __future__ import annotations

import logging
import shutil
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiohttp import DummyCookieJar
from aiohttp.test_utils import TestClient, TestServer

from hotline.settings import REPO
from ivr.notices import HolidayWatch
from ivr.trees import TreeSource
from ivr.versions import VersionStore
from web.accounts import Role
from web.app import create_app
from web.auth import PasswordHasher
from web.config import WebConfig
from web.keys import ACCOUNTS
from web.routes_notices import notices_routes

TZ = ZoneInfo("Asia/Shanghai")
CONFIG = WebConfig(hasher=PasswordHasher(n=2 ** 4, r=8, p=1), validate_responses=True, login_ip_max=1000)
USERS = {"admin": Role.ADMIN, "sup": Role.SUPERVISOR, "op1": Role.OPERATOR}


class Clock:
    def __init__(self, when: datetime) -> None:
        self.t = when.timestamp()

    def __call__(self) -> float:
        return self.t


@pytest.fixture
async def env(redis_client, tmp_path):
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    versions = VersionStore(redis_client, TreeSource.validator(config), name="notices-test")
    trees = TreeSource(versions, config)
    await trees.ensure_published(config / "ivr" / "zhuzhou.yaml")
    clock = Clock(datetime(2026, 11, 2, 9, 0, tzinfo=TZ))             # 60 days before 2027
    watch = HolidayWatch(trees, clock=clock, timezone="Asia/Shanghai")
    app = create_app(lambda: {}, redis=redis_client, config=CONFIG, routes=[notices_routes(watch.notices)])
    client = TestClient(TestServer(app), cookie_jar=DummyCookieJar())
    await client.start_server()
    headers = {}
    for name, role in USERS.items():
        await app[ACCOUNTS].create(name, f"{name}-pass-12345", role, name,
                                   operator_id="8001" if role == Role.OPERATOR else None)
        r = await client.post("/api/login", json={"username": name, "password": f"{name}-pass-12345"})
        headers[name] = {"Cookie": f"{CONFIG.cookie}={r.cookies[CONFIG.cookie].value}"}
    yield {"client": client, "headers": headers, "clock": clock, "watch": watch, "versions": versions,
           "config": config}
    await client.close()


async def test_2027_is_announced_from_60_days_ahead_where_admins_look(env, caplog):
    client, headers = env["client"], env["headers"]
    for who in ("admin", "sup"):
        r = await client.get("/api/notices", headers=headers[who])
        assert r.status == 200
        notices = (await r.json())["notices"]
        assert [(n["calendar"], n["year"], n["days_left"], n["link"]) for n in notices] == [
            ("office", 2027, 60, "/admin#calendars")]
        assert "the official 2027 holiday and adjusted-working-day schedule is not loaded" in notices[0]["message_en"]
    assert (await client.get("/api/notices", headers=headers["op1"])).status == 403
    metrics = await (await client.get("/metrics")).text()
    assert 'hotline_holiday_schedule_missing{calendar="office",year="2027"} 60' in metrics

    with caplog.at_level(logging.WARNING, logger="hotline.ivr.calendar"):
        await env["watch"].log_once_a_day()
        await env["watch"].log_once_a_day()                # the same day: said once
        env["clock"].t += 86400
        await env["watch"].log_once_a_day()                # the next day: again, one day less
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2 and "(60 days)" in said[0] and "(59 days)" in said[1]


async def test_the_day_before_the_window_nothing_is_said(env):
    env["clock"].t -= 86400                                 # 61 days before 2027
    r = await env["client"].get("/api/notices", headers=env["headers"]["sup"])
    assert (await r.json())["notices"] == []
    assert "hotline_holiday_schedule_missing{" not in await (await env["client"].get("/metrics")).text()


async def test_entering_2027_and_republishing_ends_the_notice(env):
    overrides = Path(env["config"]) / "calendars" / "overrides.yaml"
    overrides.write_text("overrides: []\ncn_years:\n  2027:\n    holidays: [2027-01-01, 2027-02-11, 2027-02-12]\n"
                         "    workdays: [2027-02-07]\n", encoding="utf-8")
    doc = await env["versions"].document(await env["versions"].current_number())
    await env["versions"].publish(doc, "admin", "2027 schedule entered", force=True)    # 重新发布
    r = await env["client"].get("/api/notices", headers=env["headers"]["admin"])
    assert (await r.json())["notices"] == []
