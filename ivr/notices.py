"""What admins must do before the calendar lets callers down: the published tree's
``holidays: cn`` calendars checked against the clock (ivr.calendar.holiday_notices).

    watch = HolidayWatch(trees, clock=time.time, timezone="Asia/Shanghai")
    await watch.notices()      # for the admin page, the wallboard and /metrics
    await watch.run()          # background: the log says it once a day while it lasts
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

from ivr.calendar import NOTICE_AHEAD_DAYS, HolidayNotice, holiday_notices
from ivr.trees import TreeSource
from kernel.loops import every

log = logging.getLogger("hotline.ivr.calendar")


class HolidayWatch:
    def __init__(self, trees: TreeSource, *, clock: Callable[[], float] = time.time,
                 timezone: str = "Asia/Shanghai", ahead_days: int = NOTICE_AHEAD_DAYS) -> None:
        self.trees, self.clock, self.ahead_days = trees, clock, ahead_days
        self.tz = ZoneInfo(timezone)
        self._logged: set[tuple[str, int, dt.date]] = set()

    def today(self) -> dt.date:
        return dt.datetime.fromtimestamp(self.clock(), self.tz).date()

    async def notices(self) -> list[HolidayNotice]:
        """The notices for the tree published now (none before a tree is published)."""
        try:
            pinned = await self.trees.current()
        except LookupError:
            return []
        return holiday_notices(pinned.tree.calendars, self.today(), self.ahead_days)

    async def log_once_a_day(self) -> list[HolidayNotice]:
        notices, today = await self.notices(), self.today()
        for n in notices:
            if (n.calendar, n.year, today) not in self._logged:
                self._logged.add((n.calendar, n.year, today))
                log.warning("%s", n.message)
        return notices

    async def run(self, every_s: float = 3600.0) -> None:
        # a Redis outage or a broken version: say so, try again later
        await every(every_s, self.log_once_a_day, name="holiday schedule check", logger=log)
