"""The per-call engine over the default 株洲 tree and over a tree with every node type."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest

from ivr.engine import (
    CallerHangup,
    CallFacts,
    CallState,
    Digits,
    Done,
    End,
    EngineError,
    Failed,
    GetDigits,
    Hangup,
    Play,
    Queue,
    Record,
    Timeout,
    Transfer,
    action_to_dict,
    advance,
    lists_used,
    repeat_windows,
    start,
)
from ivr.loader import load_data, load_file
from ivr.numbers import memberships

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
SH = ZoneInfo("Asia/Shanghai")

TUESDAY_10 = dt.datetime(2024, 3, 5, 10, 0, tzinfo=SH)
SUNDAY_10 = dt.datetime(2024, 3, 3, 10, 0, tzinfo=SH)
CITIZEN = "13912345678"


@pytest.fixture(scope="module")
def default():
    result = load_file(ROOT / "config" / "ivr" / "zhuzhou.yaml")
    assert result.ok, result.problems
    return result


@pytest.fixture(scope="module")
def all_types():
    result = load_file(DATA / "ivr" / "all_types.yaml")
    assert result.ok, result.problems
    return result


def facts(loaded, caller=CITIZEN, did="12345", at=TUESDAY_10, recent_calls=0) -> CallFacts:
    return CallFacts(caller, did, at, recent_calls, memberships(caller, loaded.lists))


def to_menu(tree, f):
    """From the start of a call to the main menu's key prompt."""
    step = start(tree, f)
    assert isinstance(step.action, Play) and step.action.node == "welcome"
    text = step.action.prompts[0].text
    assert "录音" in text and all(n in text for n in ("110", "119", "120"))
    step = advance(tree, step.state, Done())
    assert isinstance(step.action, GetDigits) and step.action.node == "menu" and step.action.max_digits == 1
    return step


def press(tree, f, keys: str):
    step = to_menu(tree, f)
    return advance(tree, step.state, Digits(keys) if keys else Timeout())


# ---------------------------------------------------------------- the default tree


@pytest.mark.parametrize("number", ["13800001001", "+86 138 0000 1002", "008613800001003", "0731-2200-1004"])
def test_deputy_by_list_goes_straight_to_deputy_lane(default, number):
    step = start(default.tree, facts(default, caller=number))
    assert isinstance(step.action, Queue) and step.action.lane == "deputy"
    assert step.state.path == ("start", "deputy_q")  # no greeting, no menu
    assert "in_list deputies" in step.state.notes[0]


def test_deputy_by_did(default):
    step = start(default.tree, facts(default, did="12345001"))
    assert isinstance(step.action, Queue) and step.action.lane == "deputy"
    assert step.state.path == ("start", "deputy_q")
    assert default.tree.lanes["deputy"].priority > default.tree.lanes["enterprise"].priority


def test_greeting_fits_in_eight_seconds(default):
    """At a natural speaking rate (4.5 syllables/s, 0.2 s per pause) the greeting is under 8 s."""
    text = default.tree.nodes["welcome"].prompt.text
    syllables = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff" or ch.isdigit())
    pauses = sum(1 for ch in text if ch in "，。、；")
    assert syllables / 4.5 + pauses * 0.2 <= 8.0


def test_ordinary_caller_on_ordinary_did_gets_the_greeting(default):
    step = start(default.tree, facts(default, did="12345"))
    assert isinstance(step.action, Play)


def test_key_2_in_office_hours_reaches_enterprise_desk(default):
    step = press(default.tree, facts(default), "2")
    assert isinstance(step.action, Queue) and step.action.lane == "enterprise"
    assert step.action.describe is not None  # the caller may describe the problem while waiting
    assert step.state.path == ("start", "welcome", "menu", "ent_hours", "enterprise_q")


def test_key_2_at_lunch_time_goes_to_general(default):
    step = press(default.tree, facts(default, at=TUESDAY_10.replace(hour=13)), "2")
    assert step.action.lane == "general"


def test_key_2_on_a_sunday_goes_to_general(default):
    step = press(default.tree, facts(default, at=SUNDAY_10), "2")
    assert isinstance(step.action, Queue) and step.action.lane == "general"
    assert step.state.path[-2:] == ("ent_hours", "general_q")


@pytest.mark.parametrize("day", ["2024-02-04", "2024-02-18", "2024-09-14"])
def test_key_2_on_an_adjusted_working_weekend_day_reaches_enterprise(default, day):
    d = dt.date.fromisoformat(day)
    assert d.weekday() >= 5 and chinese_calendar.is_workday(d)
    step = press(default.tree, facts(default, at=dt.datetime.combine(d, dt.time(10), SH)), "2")
    assert step.action.lane == "enterprise"


@pytest.mark.parametrize("day", ["2024-10-01", "2024-05-01", "2025-01-01"])
def test_key_2_on_a_weekday_public_holiday_goes_to_general(default, day):
    d = dt.date.fromisoformat(day)
    assert d.weekday() < 5 and chinese_calendar.is_holiday(d)
    step = press(default.tree, facts(default, at=dt.datetime.combine(d, dt.time(10), SH)), "2")
    assert step.action.lane == "general"


def test_no_key_goes_to_a_person_at_once(default):
    step = press(default.tree, facts(default), "")
    assert isinstance(step.action, Queue) and step.action.lane == "general"
    assert step.state.path == ("start", "welcome", "menu", "general_q")


def test_key_0_goes_to_general(default):
    assert press(default.tree, facts(default), "0").action.lane == "general"


def test_wrong_key_then_right_key(default):
    tree = default.tree
    step = press(tree, facts(default), "5")
    assert isinstance(step.action, GetDigits) and step.action.node == "menu"
    assert [p.text for p in step.action.prompts] == ["输入有误。", tree.nodes["menu"].prompt.text]
    assert step.state.attempts == 1
    step = advance(tree, step.state, Digits("2"))
    assert isinstance(step.action, Queue) and step.action.lane == "enterprise"
    assert step.state.path == ("start", "welcome", "menu", "ent_hours", "enterprise_q")


def test_wrong_key_twice_goes_to_general(default):
    tree = default.tree
    step = press(tree, facts(default), "7")
    step = advance(tree, step.state, Digits("8"))
    assert isinstance(step.action, Queue) and step.action.lane == "general"


def test_caller_hangs_up_mid_menu(default):
    tree = default.tree
    step = to_menu(tree, facts(default))
    step = advance(tree, step.state, CallerHangup())
    assert step.finished and isinstance(step.action, End) and step.action.reason == "caller_hangup"
    assert step.state.finished and step.state.path == ("start", "welcome", "menu")
    with pytest.raises(EngineError) as err:
        advance(tree, step.state, Digits("2"))
    assert err.value.error_id == "ivr_engine"


def test_after_the_operator_the_caller_rates_the_call(default):
    tree = default.tree
    step = press(tree, facts(default), "0")
    step = advance(tree, step.state, Done())  # operator hung up, caller still there
    assert isinstance(step.action, GetDigits) and step.action.node == "survey"
    step = advance(tree, step.state, Digits("1"))
    assert isinstance(step.action, Hangup) and step.state.variables == {"rating": "1"}
    step = advance(tree, step.state, Done())
    assert step.finished and step.action.reason == "hangup"


def test_year_without_holiday_data_is_noted(default):
    step = press(default.tree, facts(default, at=dt.datetime(2035, 1, 2, 10, tzinfo=SH)), "2")
    assert step.action.lane == "enterprise"
    assert any("2035" in n for n in step.state.notes)


def test_events_that_do_not_fit_are_errors(default):
    tree = default.tree
    step = start(tree, facts(default))
    with pytest.raises(EngineError):
        advance(tree, step.state, Digits("2"))  # a Play answers Done
    step = advance(tree, step.state, Done())
    with pytest.raises(EngineError):
        advance(tree, step.state, Done())  # a GetDigits answers Digits/Timeout


def test_helpers_for_the_handler(default, all_types):
    assert lists_used(default.tree) == {"deputies"}
    assert repeat_windows(all_types.tree) == {7}


# ---------------------------------------------------------------- every node type


def test_collect_with_pattern_and_retries(all_types):
    tree = all_types.tree
    step = start(tree, facts(all_types, at=TUESDAY_10))
    step = advance(tree, step.state, Done())  # welcome
    step = advance(tree, step.state, Digits("1"))
    assert isinstance(step.action, GetDigits) and step.action.node == "ticket"
    assert step.action.max_digits == 12 and step.action.terminator == "#"
    bad = advance(tree, step.state, Digits("12#"))
    assert isinstance(bad.action, GetDigits) and bad.action.prompts[0].text == "输入有误。"
    good = advance(tree, bad.state, Digits("20240101#"))
    assert isinstance(good.action, Queue) and good.state.variables == {"ticket_no": "20240101"}
    # no input twice: retries (1) used up -> on_fail
    t1 = advance(tree, step.state, Timeout())
    assert t1.action.prompts[0].text == "没有听到您的按键。"
    t2 = advance(tree, t1.state, Timeout())
    assert isinstance(t2.action, Queue) and t2.state.path[-1] == "general_q" and not t2.state.variables


def test_describe_transfer_and_hangup(all_types):
    tree = all_types.tree
    menu = advance(tree, start(tree, facts(all_types)).state, Done())
    rec = advance(tree, menu.state, Digits("3"))
    assert isinstance(rec.action, Record) and (rec.action.max_s, rec.action.silence_s) == (60, 4)
    bye = advance(tree, rec.state, Done())
    assert isinstance(bye.action, Hangup) and bye.action.prompt.text == "再见。"
    tax = advance(tree, menu.state, Digits("9"))
    assert isinstance(tax.action, Transfer) and (tax.action.number, tax.action.mode) == ("12366", "blind")
    assert advance(tree, tax.state, Done()).action.reason == "transferred"
    failed = advance(tree, tax.state, Failed("busy"))
    assert isinstance(failed.action, Queue) and failed.action.lane == "general"


def test_menu_star_repeats_and_invalid_goes_to_on_invalid(all_types):
    tree = all_types.tree
    menu = advance(tree, start(tree, facts(all_types)).state, Done())
    again = advance(tree, menu.state, Digits("*"))
    assert again.action.node == "menu" and again.state.path.count("menu") == 2
    s = menu
    for _ in range(3):  # retries: 2 -> the third wrong key leaves
        s = advance(tree, s.state, Digits("5"))
    assert isinstance(s.action, Hangup)


def test_schedule_closed_branch(all_types):
    tree = all_types.tree
    step = start(tree, facts(all_types, at=SUNDAY_10))
    assert isinstance(step.action, Play) and step.action.node == "closed_msg"
    # Saturday has its own morning hours in this calendar
    assert start(tree, facts(all_types, at=dt.datetime(2024, 3, 2, 10, tzinfo=SH))).action.node == "welcome"


def test_caller_checks_anonymous_repeat_prefix(all_types):
    tree = all_types.tree
    assert start(tree, facts(all_types, caller="13800009999")).action.lane == "vip"
    assert isinstance(start(tree, facts(all_types, caller="anonymous")).action, Hangup)
    assert isinstance(start(tree, facts(all_types, caller=None)).action, Hangup)
    assert start(tree, facts(all_types, recent_calls=3)).action.node == "repeat_q"
    assert start(tree, facts(all_types, recent_calls={7: 4})).action.node == "repeat_q"
    assert start(tree, facts(all_types, recent_calls={30: 4})).action.node != "repeat_q"
    assert start(tree, facts(all_types, recent_calls=2)).action.node != "repeat_q"
    # prefix AND did must both hold
    local = "0731-2233-4455"
    assert start(tree, facts(all_types, caller=local, did="12345002")).action.node == "local_q"
    assert start(tree, facts(all_types, caller=local, did="12345")).action.node != "local_q"
    assert start(tree, facts(all_types, did="12345002")).action.node != "local_q"


def test_queue_failure_and_survey_timeouts(all_types):
    tree = all_types.tree
    menu = advance(tree, start(tree, facts(all_types)).state, Done())
    q = menu
    for _ in range(3):  # retries: 2, so the third silence leaves for on_timeout
        q = advance(tree, q.state, Timeout())
    assert isinstance(q.action, Queue) and q.action.callback_after_s == 120
    assert isinstance(advance(tree, q.state, Failed()).action, Hangup)  # on_fail: bye
    survey = advance(tree, q.state, Done())
    s1 = advance(tree, survey.state, Digits("9"))
    assert isinstance(s1.action, GetDigits)
    s2 = advance(tree, s1.state, Timeout())
    assert isinstance(s2.action, Hangup) and "rating" not in s2.state.variables


def test_state_round_trips_through_json(all_types):
    tree = all_types.tree
    menu = advance(tree, start(tree, facts(all_types, recent_calls={7: 1})).state, Done())
    step = advance(tree, menu.state, Digits("1"))
    step = advance(tree, step.state, Digits("123456#"))
    data = json.loads(json.dumps(step.state.to_dict()))
    state = CallState.from_dict(data)
    assert state == step.state
    after = advance(tree, state, Done())
    assert isinstance(after.action, GetDigits) and after.action.node == "survey"
    assert json.dumps(action_to_dict(step.action), ensure_ascii=False)


def test_automatic_loops_are_stopped():
    doc = {"version": 1, "name": "x", "entry": "a", "lanes": {"g": {"label": "g"}},
           "calendars": {"c": {"weekly": {"daily": ["00:00-24:00"]}}},
           "nodes": {"a": {"type": "schedule", "calendar": "c", "open": "b", "closed": "q"},
                     "b": {"type": "schedule", "calendar": "c", "open": "a", "closed": "q"},
                     "q": {"type": "queue", "lane": "g"}}}
    result = load_data(doc)
    assert result.ok  # a way out exists on paper, but at run time the calendar is always open
    with pytest.raises(EngineError) as err:
        start(result.tree, CallFacts("13800001234", None, TUESDAY_10))
    assert "loop" in err.value.message
