"""Leader-answering days (领导接听日): the pure session rules."""
from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from agents import leader_plan as L

CN = ZoneInfo("Asia/Shanghai")
FORM = {"date": "2026-12-03", "start": "09:00", "end": "11:30", "leader_name": "张三", "leader_title": "市长",
        "seat": "1010", "lanes": ["general"], "dids": [], "wait_s": 30, "follow_up_days": 5}


def session(**over):
    return L.parse_session({**FORM, **over}, session_id="s1", seats=["1001", "1010"],
                           lanes=["general", "enterprise", "deputy"])


def test_parse_a_session():
    s = session()
    assert s.window() == (dt.datetime(2026, 12, 3, 9, 0, tzinfo=CN), dt.datetime(2026, 12, 3, 11, 30, tzinfo=CN))
    assert s.announcement_text == "今天是领导接听日，市长张三正在接听市民来电，请您稍候。"
    assert L.parse_session(s.to_dict() | {"announcement": ""}, session_id="s1").window() == s.window()


def test_every_problem_is_reported_in_chinese():
    with pytest.raises(L.SessionInvalid) as exc:
        L.parse_session({**FORM, "date": "3 Dec", "end": "08:00", "seat": "9999", "lanes": ["nope"],
                         "dids": ["12a"], "wait_s": 9999, "leader_name": ""}, session_id="x",
                        seats=["1010"], lanes=["general"])
    paths = {p["path"] for p in exc.value.problems}
    assert {"date", "seat", "lanes.0", "dids.0", "wait_s", "leader_name"} <= paths
    with pytest.raises(L.SessionInvalid) as exc:
        session(start="11:00", end="10:00")
    assert exc.value.problems[0] == {"path": "end", "message": "结束时间应晚于开始时间"}


def test_which_calls_a_session_covers():
    s = session(dids=["12345001"])
    inside, outside = dt.datetime(2026, 12, 3, 10, tzinfo=CN), dt.datetime(2026, 12, 3, 11, 30, tzinfo=CN)
    assert L.active([s], inside, "12345001") is s
    assert L.active([s], inside, "12345") is None                 # another DID
    assert L.active([s], outside, "12345001") is None             # the end is not in the window
    assert L.for_queue([s], inside, "12345001", "general") is s
    assert L.for_queue([s], inside, "12345001", "enterprise") is None
    every = session(lanes=[], dids=[])
    assert L.for_queue([every], inside, None, "deputy") is every
    assert L.active([dataclasses.replace(every, cancelled=True)], inside, None) is None


def test_clashing_sessions_of_one_seat():
    a = session()
    b = L.parse_session({**FORM, "start": "11:00", "end": "12:00"}, session_id="s2")
    c = L.parse_session({**FORM, "start": "11:30", "end": "12:00"}, session_id="s3")
    d = L.parse_session({**FORM, "seat": "1001"}, session_id="s4")
    assert L.clashes(b, [a]) == ["s1"]
    assert L.clashes(c, [a]) == [] and L.clashes(d, [a]) == []


def test_follow_up_deadline_counts_working_days():
    s = session(follow_up_days=5)
    assert L.follow_up_by(s, dt.datetime(2026, 12, 3, 10, tzinfo=CN)) == dt.date(2026, 12, 10)   # Thu -> next Thu
    # 2025-09-30 (Tue): National Day 10-01..10-08 off, 10-11 (Sat) an adjusted working day
    assert L.follow_up_by(session(follow_up_days=2), dt.datetime(2025, 9, 30, 10, tzinfo=CN)) == dt.date(2025, 10, 10)
