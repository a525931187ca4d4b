"""Leader-answering days (领导接听日), the pure part: a session's shape and checks, which calls it
covers, what callers hear, the follow-up deadline of its tickets. No I/O; times are arguments.

A session: a date and a time window (the hotline's local time), the leader's name and title, the
lanes and DIDs it covers (none given: all), the leader's seat, how long a caller waits for a busy
leader before the usual lanes (``wait_s``), and the working days its tickets have for follow-up.

    s = parse_session({...})             # LeaderSession, or SessionInvalid with every problem
    active(sessions, at, did)            # the session whose announcement a new call hears
    for_queue(sessions, at, did, lane)   # the session whose leader a queued call is offered to first
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from ivr.calendar import cn_day_kind

TAGS = ("领导接听", "领导交办")
SEAT = re.compile(r"[A-Za-z0-9_.-]{1,40}")
DIGITS = re.compile(r"[0-9]{2,20}")
LANE = re.compile(r"[a-z][a-z0-9_]{0,39}")
_TIME = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
DEFAULT_TZ = "Asia/Shanghai"


class SessionInvalid(ValueError):
    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{p['path']}: {p['message']}" for p in problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class LeaderSession:
    id: str
    day: dt.date
    start: dt.time
    end: dt.time
    leader_name: str
    leader_title: str
    seat: str
    lanes: tuple[str, ...] = ()          # empty: every lane
    dids: tuple[str, ...] = ()           # empty: every number dialled
    wait_s: int = 60                     # a busy leader: the caller waits this long, then the usual lanes
    follow_up_days: int = 5              # working days (调休-aware) the session's tickets have for follow-up
    announcement: str = ""               # empty: the default text (announcement_text)
    timezone: str = DEFAULT_TZ
    cancelled: bool = False

    def window(self) -> tuple[dt.datetime, dt.datetime]:
        tz = ZoneInfo(self.timezone)
        return (dt.datetime.combine(self.day, self.start, tz), dt.datetime.combine(self.day, self.end, tz))

    def covers_time(self, at: dt.datetime) -> bool:
        lo, hi = self.window()
        return not self.cancelled and lo <= at < hi

    def covers_did(self, did: str | None) -> bool:
        return not self.dids or (did or "") in self.dids

    def covers_lane(self, lane: str) -> bool:
        return not self.lanes or lane in self.lanes

    @property
    def announcement_text(self) -> str:
        return self.announcement or f"今天是领导接听日，{self.leader_title}{self.leader_name}正在接听市民来电，请您稍候。"

    def to_dict(self) -> dict[str, Any]:
        lo, hi = self.window()
        return {"id": self.id, "date": self.day.isoformat(), "start": self.start.strftime("%H:%M"),
                "end": self.end.strftime("%H:%M"), "starts_at": lo.isoformat(), "ends_at": hi.isoformat(),
                "leader_name": self.leader_name, "leader_title": self.leader_title, "seat": self.seat,
                "lanes": list(self.lanes), "dids": list(self.dids), "wait_s": self.wait_s,
                "follow_up_days": self.follow_up_days, "announcement": self.announcement_text,
                "timezone": self.timezone, "cancelled": self.cancelled}


def parse_session(d: Mapping[str, Any], *, session_id: str, seats: Iterable[str] | None = None,
                  lanes: Iterable[str] | None = None, timezone: str = DEFAULT_TZ) -> LeaderSession:
    """A session from an admin's form (zh-CN messages); SessionInvalid lists every problem."""
    problems: list[dict[str, str]] = []

    def bad(path: str, message: str) -> None:
        problems.append({"path": path, "message": message})

    day = start = end = None
    try:
        day = dt.date.fromisoformat(str(d.get("date") or ""))
    except ValueError:
        bad("date", "日期格式应为 YYYY-MM-DD")
    for name in ("start", "end"):
        m = _TIME.fullmatch(str(d.get(name) or ""))
        if not m:
            bad(name, "时间格式应为 HH:MM")
            continue
        t = dt.time(int(m.group(1)), int(m.group(2)))
        start, end = (t, end) if name == "start" else (start, t)
    if start is not None and end is not None and end <= start:
        bad("end", "结束时间应晚于开始时间")
    name, title = str(d.get("leader_name") or "").strip(), str(d.get("leader_title") or "").strip()
    if not name or len(name) > 20:
        bad("leader_name", "请填写领导姓名（20字以内）")
    if len(title) > 30:
        bad("leader_title", "职务不超过30字")
    seat = str(d.get("seat") or "")
    known_seats = set(seats) if seats is not None else None
    if not SEAT.fullmatch(seat) or (known_seats is not None and seat not in known_seats):
        bad("seat", "请选择已配置的坐席")
    lane_ids = tuple(str(x) for x in d.get("lanes") or ())
    known_lanes = set(lanes) if lanes is not None else None
    for i, ln in enumerate(lane_ids):
        if not LANE.fullmatch(ln) or (known_lanes is not None and ln not in known_lanes):
            bad(f"lanes.{i}", f"未知的队列 {ln!r}")
    dids = tuple(str(x) for x in d.get("dids") or ())
    for i, did in enumerate(dids):
        if not DIGITS.fullmatch(did):
            bad(f"dids.{i}", "号码应为2至20位数字")
    wait_s, follow = d.get("wait_s", 60), d.get("follow_up_days", 5)
    if not isinstance(wait_s, int) or isinstance(wait_s, bool) or not 0 <= wait_s <= 600:
        bad("wait_s", "等待时长应为0至600秒")
    if not isinstance(follow, int) or isinstance(follow, bool) or not 1 <= follow <= 60:
        bad("follow_up_days", "跟进期限应为1至60个工作日")
    announcement = str(d.get("announcement") or "").strip()
    if len(announcement) > 120:
        bad("announcement", "提示语不超过120字")
    if problems or day is None or start is None or end is None:
        raise SessionInvalid(problems or [{"path": "", "message": "内容不完整"}])
    return LeaderSession(id=session_id, day=day, start=start, end=end, leader_name=name, leader_title=title,
                         seat=seat, lanes=lane_ids, dids=dids, wait_s=int(wait_s), follow_up_days=int(follow),
                         announcement=announcement, timezone=timezone)


def clashes(new: LeaderSession, others: Iterable[LeaderSession]) -> list[str]:
    """Sessions of the same seat whose windows overlap the new one's (their ids)."""
    lo, hi = new.window()
    out = []
    for o in others:
        if o.id == new.id or o.cancelled or o.seat != new.seat:
            continue
        olo, ohi = o.window()
        if olo < hi and lo < ohi:
            out.append(o.id)
    return out


def active(sessions: Iterable[LeaderSession], at: dt.datetime, did: str | None) -> LeaderSession | None:
    """The session a call arriving at ``at`` on ``did`` hears announced (the earliest started)."""
    found = [s for s in sessions if s.covers_time(at) and s.covers_did(did)]
    return min(found, key=lambda s: s.window()[0]) if found else None


def for_queue(sessions: Iterable[LeaderSession], at: dt.datetime, did: str | None,
              lane: str) -> LeaderSession | None:
    """The session whose leader a call queueing in ``lane`` is offered to first."""
    return active((s for s in sessions if s.covers_lane(lane)), at, did)


def follow_up_by(session: LeaderSession, answered: dt.datetime) -> dt.date:
    """The follow-up deadline of a ticket taken in the session: ``follow_up_days`` working days
    (public holidays skipped, adjusted working weekend days counted) after the day it was taken."""
    day = answered.astimezone(ZoneInfo(session.timezone)).date()
    left = session.follow_up_days
    while left > 0:
        day += dt.timedelta(days=1)
        kind = cn_day_kind(day, {})
        if kind == "workday" or (kind is None and day.weekday() < 5):
            left -= 1
    return day
