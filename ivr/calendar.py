"""Opening hours: weekly rules, China's public holidays and 调休, admin overrides.

Decision order for a moment ``at`` (in the calendar's time zone):

1. an override for that date (closed, or open with its own hours);
2. with ``holidays: cn``: a named public holiday (a weekday holiday, or a
   weekend inside a holiday period) is closed; an adjusted working weekend
   day (调休) is open with the working-day hours; years given in the
   overrides file (``cn_years``) win over the ``chinese_calendar`` library;
   a year neither covers falls back to the weekly rule, and the decision
   says so (``degraded``);
3. the weekly rule.

Pure: no I/O (the holiday library's data is in memory).
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar

from ivr.model import Calendar, DayOverride, TimeRange, YearSchedule, frozen_map
from ivr.problems import CALENDAR, Problem, join
from kernel.errors import HotlineError

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ALL_DAYS = ("daily", "everyday", "all")
_INTERVAL = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class CalendarSpecError(HotlineError, ValueError):
    """A day spec, interval or date that does not parse (message says why)."""

    error_id = "ivr.calendar_spec"


# ---------------------------------------------------------------- parsing


def parse_days(spec: str) -> list[int]:
    """``mon-fri`` / ``sat`` / ``mon,wed`` / ``fri-mon`` / ``daily`` -> weekday numbers (Mon=0)."""
    s = str(spec).strip().lower()
    if s in _ALL_DAYS:
        return list(range(7))
    days: list[int] = []
    for part in s.split(","):
        part = part.strip()
        if "-" in part:
            a, _, b = part.partition("-")
            i, j = _day(a.strip(), spec), _day(b.strip(), spec)
            k = i
            while True:
                days.append(k)
                if k == j:
                    break
                k = (k + 1) % 7
        else:
            days.append(_day(part, spec))
    return days


def _day(name: str, spec: str) -> int:
    if name not in DAY_NAMES:
        raise CalendarSpecError(f"unknown day {name!r} in {spec!r} (use mon..sun, ranges like mon-fri)")
    return DAY_NAMES.index(name)


def parse_interval(text: Any) -> TimeRange:
    """``"08:30-12:00"`` -> TimeRange; end may be 24:00; overnight ranges are refused."""
    m = _INTERVAL.match(str(text)) if isinstance(text, str) else None
    if not m:
        raise CalendarSpecError(f"bad hours {text!r} (expected HH:MM-HH:MM)")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
        raise CalendarSpecError(f"bad time in {text!r}")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end <= start:
        raise CalendarSpecError(f"hours {text!r} end before they start (split overnight hours over two days)")
    return TimeRange(start, end)


def parse_intervals(value: Any, path: str, problems: list[Problem]) -> tuple[TimeRange, ...]:
    """A list of intervals (or one string); problems appended, bad ones dropped."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        problems.append(Problem(path, CALENDAR, "expected a list of hours like \"08:30-12:00\""))
        return ()
    out: list[TimeRange] = []
    for i, item in enumerate(items):
        try:
            out.append(parse_interval(item))
        except CalendarSpecError as exc:
            problems.append(Problem(join(path, i), CALENDAR, str(exc)))
    out.sort(key=lambda r: r.start)
    for a, b in zip(out, out[1:]):
        if b.start < a.end:
            problems.append(Problem(path, CALENDAR, f"hours {a} and {b} overlap"))
    return tuple(out)


def parse_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise CalendarSpecError(f"bad date {value!r} (expected YYYY-MM-DD)") from None


def parse_weekly(value: Any, path: str, problems: list[Problem]) -> tuple[tuple[TimeRange, ...], ...]:
    """``{mon-fri: [...], sat: [...]}`` -> 7 tuples of intervals (Monday first)."""
    week: list[tuple[TimeRange, ...]] = [()] * 7
    if not isinstance(value, Mapping):
        problems.append(Problem(path, CALENDAR, "weekly must map days (mon-fri, sat...) to hours"))
        return tuple(week)
    given: dict[int, str] = {}
    for spec, hours in value.items():
        p = join(path, spec)
        try:
            days = parse_days(str(spec))
        except CalendarSpecError as exc:
            problems.append(Problem(p, CALENDAR, str(exc)))
            continue
        ranges = parse_intervals([] if hours in (None, "closed") else hours, p, problems)
        for d in days:
            if d in given:
                problems.append(Problem(p, CALENDAR, f"{DAY_NAMES[d]} is already given by {given[d]!r}"))
                continue
            given[d] = str(spec)
            week[d] = ranges
    return tuple(week)


@dataclass(frozen=True, slots=True)
class OverrideEntry:
    """An override from the shared overrides file: which calendars (empty = all) and the day."""

    calendars: tuple[str, ...]
    day: DayOverride


def parse_override_items(items: Any, path: str, problems: list[Problem], *,
                         allow_calendars: bool) -> list[OverrideEntry]:
    """``[{date, closed: true | hours: [...], note, calendars: [...]}]`` -> entries."""
    if not isinstance(items, list):
        problems.append(Problem(path, CALENDAR, "overrides must be a list of {date, closed | hours}"))
        return []
    allowed = {"date", "closed", "hours", "note"} | ({"calendars"} if allow_calendars else set())
    out: list[OverrideEntry] = []
    for i, item in enumerate(items):
        p = join(path, i)
        if not isinstance(item, Mapping):
            problems.append(Problem(p, CALENDAR, "an override must be a mapping {date, closed | hours}"))
            continue
        bad = sorted(set(map(str, item)) - allowed)
        if bad:
            problems.append(Problem(join(p, bad[0]), CALENDAR, f"unknown field {bad[0]!r} (allowed: {', '.join(sorted(allowed))})"))
            continue
        try:
            day = parse_date(item.get("date"))
        except CalendarSpecError as exc:
            problems.append(Problem(join(p, "date"), CALENDAR, str(exc)))
            continue
        closed, hours = item.get("closed"), item.get("hours")
        if (closed is True) == (hours is not None):
            problems.append(Problem(p, CALENDAR, "give either closed: true or hours: [...]"))
            continue
        n = len(problems)
        ranges = () if closed is True else parse_intervals(hours, join(p, "hours"), problems)
        if len(problems) > n or (closed is not True and not ranges):
            if len(problems) == n:
                problems.append(Problem(join(p, "hours"), CALENDAR, "hours must not be empty (use closed: true)"))
            continue
        cals = item.get("calendars", [])
        cals = [cals] if isinstance(cals, str) else cals
        if not isinstance(cals, list) or not all(isinstance(c, str) for c in cals):
            problems.append(Problem(join(p, "calendars"), CALENDAR, "calendars must be a list of calendar names"))
            continue
        out.append(OverrideEntry(tuple(cals), DayOverride(day, ranges, str(item.get("note") or ""))))
    return out


def parse_cn_years(value: Any, path: str, problems: list[Problem]) -> Mapping[int, YearSchedule]:
    """``{2027: {holidays: [dates], workdays: [dates]}}`` for years the library lacks."""
    if value is None:
        return frozen_map()
    if not isinstance(value, Mapping):
        problems.append(Problem(path, CALENDAR, "cn_years must map a year to {holidays, workdays}"))
        return frozen_map()
    out: dict[int, YearSchedule] = {}
    for year, spec in value.items():
        p = join(path, year)
        try:
            y = int(year)
        except (TypeError, ValueError):
            problems.append(Problem(p, CALENDAR, f"bad year {year!r}"))
            continue
        if not isinstance(spec, Mapping) or set(map(str, spec)) - {"holidays", "workdays"}:
            problems.append(Problem(p, CALENDAR, "expected {holidays: [dates], workdays: [dates]}"))
            continue
        sets: dict[str, frozenset[dt.date]] = {}
        for key in ("holidays", "workdays"):
            dates = []
            for i, d in enumerate(spec.get(key) or []):
                try:
                    day = parse_date(d)
                except CalendarSpecError as exc:
                    problems.append(Problem(join(join(p, key), i), CALENDAR, str(exc)))
                    continue
                if day.year != y:
                    problems.append(Problem(join(join(p, key), i), CALENDAR, f"{day} is not in {y}"))
                    continue
                dates.append(day)
            sets[key] = frozenset(dates)
        out[y] = YearSchedule(sets["holidays"], sets["workdays"])
    return frozen_map(out)


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def check_zone(name: Any, path: str, problems: list[Problem]) -> bool:
    try:
        zone(str(name))
        return True
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(Problem(path, CALENDAR, f"unknown time zone {name!r}"))
        return False


# ---------------------------------------------------------------- decisions


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a calendar is open at a moment, and why.

    reason: ``override``, ``holiday``, ``adjusted_workday``, ``weekly``.
    ``degraded`` is True when the holiday schedule for that year was unknown
    and only the weekly rule and overrides were used (``note`` says which year).
    """

    open: bool
    reason: str
    degraded: bool = False
    note: str = ""


def local_time(calendar: Calendar, at: dt.datetime) -> dt.datetime:
    """``at`` in the calendar's zone; a naive ``at`` is taken as already local."""
    tz = zone(calendar.timezone)
    return at.replace(tzinfo=tz) if at.tzinfo is None else at.astimezone(tz)


def _within(ranges: Iterable[TimeRange], minute: int) -> bool:
    return any(r.contains(minute) for r in ranges)


def cn_day_kind(day: dt.date, cn_years: Mapping[int, YearSchedule]) -> str | None:
    """``holiday`` (a named public holiday), ``workday`` (incl. 调休 weekend days),
    ``rest`` (an ordinary weekend), or None when no schedule covers the year."""
    if day.year in cn_years:
        ys = cn_years[day.year]
        if day in ys.holidays:
            return "holiday"
        if day in ys.workdays or day.weekday() < 5:
            return "workday"
        return "rest"
    try:
        is_holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return None
    if not is_holiday:
        return "workday"
    return "holiday" if name else "rest"


def decide(calendar: Calendar, at: dt.datetime) -> Decision:
    """Open or closed at ``at``, with the reason (see the module doc)."""
    local = local_time(calendar, at)
    day, minute = local.date(), local.hour * 60 + local.minute
    override = calendar.override_for(day)
    if override is not None:
        return Decision(_within(override.hours, minute), "override", note=override.note)
    weekly = calendar.weekly[day.weekday()]
    if calendar.holidays == "cn":
        kind = cn_day_kind(day, calendar.cn_years)
        if kind is None:
            return Decision(_within(weekly, minute), "weekly", degraded=True,
                            note=f"no public-holiday schedule for {day.year}: weekly hours used")
        if kind == "holiday":
            return Decision(False, "holiday")
        if kind == "workday" and day.weekday() >= 5:
            return Decision(_within(calendar.adjusted_workday_hours(), minute), "adjusted_workday")
    return Decision(_within(weekly, minute), "weekly")


def is_open(calendar: Calendar, at: dt.datetime) -> bool:
    """True when the calendar is open at ``at`` (naive = the calendar's local time)."""
    return decide(calendar, at).open


def holiday_coverage(calendar: Calendar, years: Iterable[int]) -> list[int]:
    """The years among ``years`` for which a ``holidays: cn`` calendar has no schedule."""
    if calendar.holidays != "cn":
        return []
    missing = []
    for y in years:
        if y in calendar.cn_years:
            continue
        try:
            chinese_calendar.get_holiday_detail(dt.date(y, 6, 1))
        except NotImplementedError:
            missing.append(y)
    return missing


NOTICE_AHEAD_DAYS = 60          # warn this long before a year without an official schedule starts
CALENDAR_FORM = "/admin#calendars"


@dataclass(frozen=True)
class HolidayNotice:
    """A ``holidays: cn`` calendar lacks the official schedule of ``year`` (from its library and
    from what admins entered): from 1 January of that year its holidays and 调休 days are treated
    as ordinary days. ``days_left`` counts down to that day (0 or less: already so)."""

    calendar: str
    year: int
    days_left: int

    @property
    def starts(self) -> dt.date:
        return dt.date(self.year, 1, 1)

    @property
    def message(self) -> str:
        return (f"the official {self.year} holiday and adjusted-working-day schedule is not loaded "
                f"(calendar {self.calendar!r}): " + (f"from {self.starts} ({self.days_left} days)"
                                                   if self.days_left > 0 else "in force now")
                + f", public holidays and 调休 are treated as ordinary days; enter it at {CALENDAR_FORM}")

    @property
    def message_zh(self) -> str:
        when = f"{self.days_left} 天后（{self.starts}）起" if self.days_left > 0 else "目前"
        return (f"工作日历“{self.calendar}”尚未载入 {self.year} 年国家法定节假日和调休安排：{when}"
                f"节假日和调休将按普通工作日处理。请在“工作日历”页录入 {self.year} 年安排并重新发布。")

    def to_dict(self) -> dict[str, Any]:
        return {"calendar": self.calendar, "year": self.year, "starts": self.starts.isoformat(),
                "days_left": self.days_left, "message": self.message_zh, "message_en": self.message,
                "link": CALENDAR_FORM}


def holiday_notices(calendars: Mapping[str, Calendar], today: dt.date,
                    ahead_days: int = NOTICE_AHEAD_DAYS) -> list[HolidayNotice]:
    """Every ``holidays: cn`` calendar and year, this one or one starting within ``ahead_days``,
    with no official schedule (pure; ``today`` in the hotline's time zone)."""
    years = sorted({today.year, (today + dt.timedelta(days=ahead_days)).year})
    out = []
    for cid in sorted(calendars):
        for year in holiday_coverage(calendars[cid], years):
            out.append(HolidayNotice(cid, year, (dt.date(year, 1, 1) - today).days))
    return out
