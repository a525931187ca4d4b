"""Calendars: weekly hours in Asia/Shanghai, holidays and 调休 from chinese_calendar, overrides."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest

from ivr.calendar import (
    CalendarSpecError,
    decide,
    holiday_coverage,
    is_open,
    parse_days,
    parse_interval,
)
from ivr.loader import load_file, load_text

DATA = Path(__file__).resolve().parents[1] / "data"
SH = ZoneInfo("Asia/Shanghai")


def office(**extra):
    """The office calendar of a small tree, loaded through the real pipeline."""
    cal = {"weekly": {"mon-fri": ["08:30-12:00", "14:30-17:30"]}, "holidays": "cn", **extra}
    doc = {"version": 1, "name": "c", "entry": "q", "lanes": {"g": {"label": "g"}},
           "calendars": {"office": cal}, "nodes": {"q": {"type": "queue", "lane": "g"}}}
    result = load_text(json.dumps(doc), base_dir=DATA)
    assert result.ok, result.problems
    return result.tree.calendars["office"]


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SH)


def test_parse_days():
    assert parse_days("mon-fri") == [0, 1, 2, 3, 4]
    assert parse_days("sat") == [5]
    assert parse_days("fri-mon") == [4, 5, 6, 0]
    assert parse_days("mon,wed, fri") == [0, 2, 4]
    assert parse_days("daily") == list(range(7))
    with pytest.raises(CalendarSpecError):
        parse_days("monday")


def test_parse_interval():
    r = parse_interval("08:30-12:00")
    assert (r.start, r.end) == (510, 720) and str(r) == "08:30-12:00"
    assert parse_interval("00:00-24:00").end == 1440
    for bad in ("8-12", "12:00-08:00", "24:30-25:00", "10:61-11:00", 830):
        with pytest.raises(CalendarSpecError):
            parse_interval(bad)


def test_weekly_hours_with_boundaries():
    cal = office()
    assert not is_open(cal, at("2024-03-05T08:29:59"))  # Tuesday
    assert is_open(cal, at("2024-03-05T08:30:00"))
    assert is_open(cal, at("2024-03-05T11:59:00"))
    assert not is_open(cal, at("2024-03-05T12:00:00"))  # end is exclusive
    assert not is_open(cal, at("2024-03-05T13:00:00"))  # lunch
    assert is_open(cal, at("2024-03-05T17:29:00"))
    assert not is_open(cal, at("2024-03-05T17:30:00"))
    assert not is_open(cal, at("2024-03-03T10:00:00"))  # Sunday


def test_time_zone_conversion_and_naive_times():
    cal = office()
    utc = dt.datetime(2024, 3, 5, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
    assert is_open(cal, utc)
    assert not is_open(cal, dt.datetime(2024, 3, 5, 10, 0, tzinfo=dt.UTC))  # 18:00 local
    assert is_open(cal, dt.datetime(2024, 3, 5, 10, 0))  # naive = local


@pytest.mark.parametrize("day", ["2024-02-04", "2024-02-18", "2024-04-07", "2024-09-14", "2024-10-12"])
def test_adjusted_working_weekend_days_are_open(day):
    d = dt.date.fromisoformat(day)
    assert d.weekday() >= 5 and chinese_calendar.is_workday(d)  # the premise: a 调休 working weekend day
    decision = decide(office(), at(f"{day}T10:00"))
    assert decision.open and decision.reason == "adjusted_workday"


@pytest.mark.parametrize("day", ["2024-10-01", "2024-10-04", "2025-01-01", "2024-02-12"])
def test_weekday_public_holidays_are_closed(day):
    d = dt.date.fromisoformat(day)
    assert d.weekday() < 5 and chinese_calendar.is_holiday(d)
    decision = decide(office(), at(f"{day}T10:00"))
    assert not decision.open and decision.reason == "holiday"


def test_weekend_inside_a_holiday_is_closed_even_with_weekend_hours():
    cal = office(weekly={"mon-fri": ["08:30-17:30"], "sat-sun": ["09:00-12:00"]})
    assert is_open(cal, at("2024-10-13T10:00"))  # an ordinary Sunday
    assert not is_open(cal, at("2024-10-05T10:00"))  # Saturday inside National Day


def test_without_holidays_only_weekly_rule():
    cal = office(holidays=None)
    assert is_open(cal, at("2024-10-01T10:00"))
    assert not is_open(cal, at("2024-02-04T10:00"))


def test_workday_hours_for_adjusted_days():
    cal = office(workday_hours=["09:00-11:00"])
    assert is_open(cal, at("2024-02-04T10:30"))
    assert not is_open(cal, at("2024-02-04T15:00"))


def test_overrides_from_file():
    result = load_file(DATA / "ivr" / "all_types.yaml")
    cal = result.tree.calendars["office"]
    # a local closure on a Wednesday
    assert decide(cal, at("2024-03-06T10:00")).reason == "override"
    assert not is_open(cal, at("2024-03-06T10:00"))
    # open with its own hours on a public holiday
    assert is_open(cal, at("2024-10-02T10:30"))
    assert not is_open(cal, at("2024-10-02T11:30"))
    # an override for another calendar does not apply
    assert decide(cal, at("2024-10-03T10:30")).reason == "holiday"


def test_inline_overrides_last_one_wins():
    cal = office(overrides=[{"date": "2024-03-05", "closed": True},
                            {"date": "2024-03-05", "hours": ["20:00-21:00"]}])
    assert not is_open(cal, at("2024-03-05T10:00"))
    assert is_open(cal, at("2024-03-05T20:30"))


def test_year_the_library_lacks_falls_back_and_says_so():
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(dt.date(2035, 1, 1))
    cal = office()
    decision = decide(cal, at("2035-01-02T10:00"))  # a Tuesday
    assert decision.open and decision.degraded and "2035" in decision.note
    assert holiday_coverage(cal, [2024, 2035]) == [2035]


def test_cn_years_from_overrides_file_cover_missing_years():
    cal = load_file(DATA / "ivr" / "all_types.yaml").tree.calendars["office"]
    assert holiday_coverage(cal, [2031]) == []
    holiday = decide(cal, at("2031-01-02T10:00"))  # Thursday, declared a holiday
    assert not holiday.open and holiday.reason == "holiday" and not holiday.degraded
    workday = decide(cal, at("2031-01-04T10:00"))  # Saturday, declared a working day
    assert workday.open and workday.reason == "adjusted_workday"
    assert is_open(cal, at("2031-01-06T10:00")) and not is_open(cal, at("2031-01-05T10:00"))


def test_default_config_overrides_file_loads():
    config = Path(__file__).resolve().parents[2] / "config"
    result = load_file(config / "ivr" / "zhuzhou.yaml")
    assert result.ok, result.problems
    assert result.tree.calendars["office"].overrides_file == "calendars/overrides.yaml"
