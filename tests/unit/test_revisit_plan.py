"""Satisfaction callbacks (回访): the pure scheduling, eligibility, pacing and signature rules."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from agents import revisit_plan as P

CN = ZoneInfo("Asia/Shanghai")
POLICY = P.RevisitPolicy()
CAL = P.hours_calendar(POLICY)


def at(y, m, d, hh, mm=0):
    return dt.datetime(y, m, d, hh, mm, tzinfo=CN)


def test_default_hours_on_a_working_day():
    # 2026-12-03 is a Thursday
    assert P.allowed(CAL, at(2026, 12, 3, 9, 0))
    assert P.allowed(CAL, at(2026, 12, 3, 11, 59))
    assert not P.allowed(CAL, at(2026, 12, 3, 12, 0))
    assert not P.allowed(CAL, at(2026, 12, 3, 13, 30))
    assert P.allowed(CAL, at(2026, 12, 3, 19, 55))
    assert not P.allowed(CAL, at(2026, 12, 3, 20, 0))
    assert not P.allowed(CAL, at(2026, 12, 3, 8, 59))


def test_weekends_holidays_and_adjusted_working_days():
    assert not P.allowed(CAL, at(2026, 12, 5, 10))          # Saturday
    assert not P.allowed(CAL, at(2025, 10, 1, 10))          # National Day (a Wednesday)
    assert P.allowed(CAL, at(2025, 9, 28, 10))              # Sunday 2025-09-28: an adjusted working day (调休)


def test_next_allowed_moves_past_lunch_nights_and_weekends():
    assert P.next_allowed(CAL, at(2026, 12, 3, 12, 30)) == at(2026, 12, 3, 14, 0)
    assert P.next_allowed(CAL, at(2026, 12, 3, 21, 7)) == at(2026, 12, 4, 9, 0)
    assert P.next_allowed(CAL, at(2026, 12, 4, 20, 1)) == at(2026, 12, 7, 9, 0)    # Friday night -> Monday
    moment = at(2026, 12, 3, 10, 7)
    assert P.next_allowed(CAL, moment) == moment


def test_never_call():
    assert P.never(P.Contact("13800001234"), do_not_call=False) is None
    assert P.never(P.Contact("13800001234"), do_not_call=True) is P.Skip.DO_NOT_CALL
    assert P.never(P.Contact("13800001234", opted_out=True), do_not_call=False) is P.Skip.OPTED_OUT
    assert P.never(P.Contact("13800001234", agreed=False), do_not_call=False) is P.Skip.OPTED_OUT
    assert P.never(P.Contact("13800001234", confidential=True), do_not_call=False) is P.Skip.CONFIDENTIAL
    assert P.never(P.Contact("13800001234", confidential=True, agreed=True), do_not_call=False) is None
    assert P.never(P.Contact(None), do_not_call=False) is P.Skip.NO_NUMBER


def test_attempts_stop_after_n_and_within_d_days():
    policy = P.RevisitPolicy(max_attempts=3, over_days=3, retry_after_s=3600)
    closed = at(2026, 12, 3, 10)
    assert P.first_attempt(policy, CAL, closed) == closed
    assert P.after_failure(policy, CAL, closed, 1, at(2026, 12, 3, 10, 1)) == at(2026, 12, 3, 11, 1)
    assert P.after_failure(policy, CAL, closed, 2, at(2026, 12, 3, 11, 30)) == at(2026, 12, 3, 14, 0)
    assert P.after_failure(policy, CAL, closed, 3, at(2026, 12, 3, 14, 1)) is P.Skip.ATTEMPTS
    # a retry that would fall after the deadline: expired
    late = P.RevisitPolicy(max_attempts=9, over_days=0.5, retry_after_s=3 * 3600)
    assert P.after_failure(late, CAL, closed, 1, at(2026, 12, 3, 19)) is P.Skip.EXPIRED


def test_due_defers_outside_the_hours_and_expires():
    closed = at(2026, 12, 3, 10)
    nxt = at(2026, 12, 3, 10)
    assert P.due(POLICY, CAL, nxt, closed, at(2026, 12, 3, 10, 30)) is None
    assert P.due(POLICY, CAL, nxt, closed, at(2026, 12, 3, 12, 30)) == at(2026, 12, 3, 14, 0)
    assert P.due(POLICY, CAL, at(2026, 12, 3, 15), closed, at(2026, 12, 3, 14, 30)) == at(2026, 12, 3, 15)
    assert P.due(POLICY, CAL, nxt, closed, at(2026, 12, 6, 10, 30)) is P.Skip.EXPIRED


def test_pacing_to_trunk_and_seats():
    p = P.RevisitPolicy(max_concurrent=4, trunk_lines=10, max_share=0.2)
    assert P.capacity(p, in_progress=0, waiting_calls=0, free_seats=0) == 2       # 20 % of 10 lines
    assert P.capacity(p, in_progress=1, waiting_calls=0, free_seats=0) == 1
    assert P.capacity(p, in_progress=2, waiting_calls=0, free_seats=3) == 0
    assert P.capacity(p, in_progress=0, waiting_calls=3, free_seats=0) == 0       # callers wait: none
    assert P.capacity(p, in_progress=0, waiting_calls=3, free_seats=1) == 2


def test_result_of_the_walk_and_the_rate():
    assert P.result_of(["ask", "satisfied"]) == (P.Result.SATISFIED, False)
    assert P.result_of(["ask", "unsatisfied", "reopened"]) == (P.Result.UNSATISFIED, False)
    assert P.result_of(["ask", "opt_out"]) == (None, True)
    assert P.result_of(["ask", "bye"]) == (None, False)
    assert P.satisfaction_rate({"satisfied": 7, "basic": 2, "unsatisfied": 1}) == 0.9
    assert P.satisfaction_rate({}) is None


def test_signature():
    body = b'{"ticket_id":"T1","event_id":"e1"}'
    sig = P.signature("s3cret", "1700000000", body)
    assert P.verify("s3cret", "1700000000", sig, body, now=1700000100) is None
    assert P.verify("s3cret", "1700000000", sig, body + b" ", now=1700000100) == "bad_signature"
    assert P.verify("other", "1700000000", sig, body, now=1700000100) == "bad_signature"
    assert P.verify("s3cret", "1700000000", sig, body, now=1700001000) == "stale"
    assert P.verify("s3cret", None, sig, body, now=1700000000) == "unsigned"
    assert P.verify("", "1700000000", sig, body, now=1700000000) == "not_configured"


def test_policy_from_mapping_refuses_unknown_settings():
    assert P.RevisitPolicy.from_mapping({"max_attempts": 2}).max_attempts == 2
    with pytest.raises(ValueError):
        P.RevisitPolicy.from_mapping({"max_atempts": 2})
    with pytest.raises(ValueError):
        P.RevisitPolicy(max_attempts=0)


def test_next_allowed_over_holidays_and_adjusted_working_days():
    assert P.next_allowed(CAL, at(2025, 9, 30, 21)) == at(2025, 10, 9, 9)      # National Day: closed to 10-08
    assert P.next_allowed(CAL, at(2025, 9, 27, 21)) == at(2025, 9, 28, 9)      # Sunday 09-28 is a working day
    assert P.next_allowed(CAL, at(2026, 12, 3, 21), within=dt.timedelta(hours=6)) is None
