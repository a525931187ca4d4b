"""A year with no official holiday/调休 schedule is announced from 60 days ahead (pure)."""
from __future__ import annotations

import datetime as dt

from ivr.calendar import HolidayNotice, holiday_notices
from ivr.model import Calendar, YearSchedule

WEEKLY = ((),) * 7
FAR = 2099                    # a year no release of the holiday library covers; the one before it entered
CN = Calendar("office", WEEKLY, holidays="cn", cn_years={FAR - 1: YearSchedule()})
PLAIN = Calendar("night", WEEKLY, holidays=None)


def test_nothing_to_say_more_than_60_days_ahead():
    assert holiday_notices({"office": CN}, dt.date(FAR - 1, 11, 1)) == []      # 61 days before


def test_from_60_days_ahead_each_cn_calendar_and_year_is_named():
    notices = holiday_notices({"office": CN, "night": PLAIN}, dt.date(FAR - 1, 11, 2))
    assert notices == [HolidayNotice("office", FAR, 60)]
    n = notices[0]
    assert n.starts == dt.date(FAR, 1, 1)
    assert f"the official {FAR} holiday and adjusted-working-day schedule is not loaded" in n.message
    assert f"{FAR} 年国家法定节假日和调休安排" in n.message_zh and "60 天后" in n.message_zh
    assert n.to_dict()["link"] == "/admin#calendars"


def test_inside_the_year_it_is_in_force_now():
    n, = holiday_notices({"office": CN}, dt.date(FAR, 3, 1))
    assert n.year == FAR and n.days_left < 0
    assert "in force now" in n.message and "目前" in n.message_zh


def test_a_year_the_admins_entered_is_covered():
    entered = Calendar("office", WEEKLY, holidays="cn",
                       cn_years={FAR - 1: YearSchedule(), FAR: YearSchedule(frozenset({dt.date(FAR, 1, 1)}))})
    assert holiday_notices({"office": entered}, dt.date(FAR - 1, 12, 20)) == []


def test_a_year_the_library_covers_needs_no_notice():
    assert holiday_notices({"office": Calendar("office", WEEKLY, holidays="cn")}, dt.date(2025, 6, 1)) == []
