"""Satisfaction callbacks (回访), the pure part: when a citizen may be called, whether at all, how
many calls may start now, and what the revisit tree's walk means. No I/O; the clock is an argument.

- Hours: a ``Calendar`` (ivr/calendar.py, 调休-aware: an adjusted working weekend day is a working
  day, a public holiday is not), by default 09:00-12:00 and 14:00-20:00 on working days.
- Attempts: at most ``max_attempts``, all within ``over_days`` of the ticket's closing; a failed
  attempt (no answer, busy, the trunk refused) is retried after ``retry_after_s``, at the next
  allowed moment.
- Never: a number on the do-not-call list, a caller who asked not to be called (on the ticket, or in
  an earlier revisit call), a number the dialling policy refuses (agents/dialpolicy.py).
- Pacing: at most ``max_concurrent`` revisit calls at once (the trunk lines they may take), none
  while callers wait for a seat and no seat is free (the trunks are the citizens' first), and at
  most ``max_share`` of the trunk's lines.

    policy = RevisitPolicy()
    cal = hours_calendar(policy)
    allowed(cal, at)                       # True in the allowed hours
    next_allowed(cal, at)                  # the first allowed moment from `at`, or None
"""
from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ivr.calendar import CalendarSpecError, is_open, local_time, parse_weekly
from ivr.model import Calendar
from ivr.problems import Problem

DEFAULT_HOURS: Mapping[str, Sequence[str]] = {"mon-fri": ("09:00-12:00", "14:00-20:00")}
SIGNATURE_HEADER = "X-Hotline-Signature"        # "sha256=<hex of HMAC-SHA256(secret, timestamp + "." + body)>"
TIMESTAMP_HEADER = "X-Hotline-Timestamp"        # Unix seconds of the request


class Result(str, enum.Enum):
    SATISFIED = "satisfied"            # 满意
    BASIC = "basic"                    # 基本满意
    UNSATISFIED = "unsatisfied"        # 不满意

    def __str__(self) -> str:
        return self.value


RESULT_LABELS: Mapping[Result, str] = {Result.SATISFIED: "满意", Result.BASIC: "基本满意",
                                       Result.UNSATISFIED: "不满意"}
# The revisit tree's node ids that mean each answer (config/ivr/revisit.yaml), and the one that
# means "do not call me again".
RESULT_NODES: Mapping[str, Result] = {"satisfied": Result.SATISFIED, "basic": Result.BASIC,
                                      "unsatisfied": Result.UNSATISFIED}
OPT_OUT_NODE = "opt_out"


class State(str, enum.Enum):
    PENDING = "pending"          # waiting for its next attempt (next_at)
    DIALLING = "dialling"        # an attempt in progress
    DONE = "done"                # the citizen answered the question (result)
    FAILED = "failed"            # no more attempts (reason)

    def __str__(self) -> str:
        return self.value


STATE_LABELS: Mapping[State, str] = {State.PENDING: "待回访", State.DIALLING: "回访中", State.DONE: "已完成",
                                     State.FAILED: "失败"}


class Skip(str, enum.Enum):
    """Why a revisit is never dialled (or no longer)."""

    DO_NOT_CALL = "do_not_call"          # on the do-not-call list
    OPTED_OUT = "opted_out"              # the caller asked not to be called back
    CONFIDENTIAL = "confidential"        # a confidential ticket: no call unless it agreed to one
    NO_NUMBER = "no_number"
    REFUSED = "refused"                  # the dialling policy refused the number
    ATTEMPTS = "attempts"                # max_attempts used up
    EXPIRED = "expired"                  # over_days passed
    NO_ANSWER = "no_answer"              # answered by nobody in the tree (hung up before a choice)

    def __str__(self) -> str:
        return self.value


SKIP_LABELS: Mapping[Skip, str] = {
    Skip.DO_NOT_CALL: "免打扰号码", Skip.OPTED_OUT: "来电人要求不回访", Skip.CONFIDENTIAL: "保密工单未同意回访",
    Skip.NO_NUMBER: "无回访号码", Skip.REFUSED: "号码不允许拨打", Skip.ATTEMPTS: "多次未接通",
    Skip.EXPIRED: "超过回访期限", Skip.NO_ANSWER: "未作答"}


@dataclass(frozen=True, slots=True)
class RevisitPolicy:
    hours: Mapping[str, Sequence[str]] = field(default_factory=lambda: dict(DEFAULT_HOURS))
    holidays: str | None = "cn"
    timezone: str = "Asia/Shanghai"
    max_attempts: int = 3
    over_days: float = 3.0
    retry_after_s: float = 2 * 3600.0
    ring_s: int = 40                     # how long the citizen's phone rings per attempt
    max_concurrent: int = 2              # revisit calls at once (trunk lines they may take)
    trunk_lines: int = 30                # the trunk's capacity (concurrent calls)
    max_share: float = 0.2               # at most this share of the trunk's lines for revisits
    first_delay_s: float = 0.0           # wait this long after the closing before the first attempt

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts: at least 1")
        if self.over_days <= 0 or self.retry_after_s < 0 or self.first_delay_s < 0:
            raise ValueError("over_days must be above 0, retry_after_s and first_delay_s not below 0")
        if self.max_concurrent < 0 or self.trunk_lines < 1 or not 0 < self.max_share <= 1:
            raise ValueError("max_concurrent >= 0, trunk_lines >= 1, 0 < max_share <= 1")
        if not 5 <= self.ring_s <= 120:
            raise ValueError("ring_s: 5..120")

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any]) -> RevisitPolicy:
        known = {"hours", "holidays", "timezone", "max_attempts", "over_days", "retry_after_s", "ring_s",
                 "max_concurrent", "trunk_lines", "max_share", "first_delay_s"}
        extra = sorted(set(d) - known)
        if extra:
            raise ValueError(f"unknown revisit setting(s): {', '.join(extra)}")
        base = cls()
        return cls(hours=dict(d.get("hours") or base.hours), holidays=d.get("holidays", base.holidays),
                   timezone=str(d.get("timezone", base.timezone)),
                   max_attempts=int(d.get("max_attempts", base.max_attempts)),
                   over_days=float(d.get("over_days", base.over_days)),
                   retry_after_s=float(d.get("retry_after_s", base.retry_after_s)),
                   ring_s=int(d.get("ring_s", base.ring_s)),
                   max_concurrent=int(d.get("max_concurrent", base.max_concurrent)),
                   trunk_lines=int(d.get("trunk_lines", base.trunk_lines)),
                   max_share=float(d.get("max_share", base.max_share)),
                   first_delay_s=float(d.get("first_delay_s", base.first_delay_s)))


def hours_calendar(policy: RevisitPolicy) -> Calendar:
    """The allowed hours as an IVR calendar (the same 调休-aware rules as the tree's schedules)."""
    problems: list[Problem] = []
    weekly = parse_weekly({k: list(v) for k, v in policy.hours.items()}, "revisit.hours", problems)
    if problems:
        raise CalendarSpecError("; ".join(f"{p.path}: {p.message}" for p in problems))
    return Calendar(id="revisit", weekly=weekly, holidays=policy.holidays, timezone=policy.timezone)


def allowed(cal: Calendar, at: dt.datetime) -> bool:
    return is_open(cal, at)


def next_allowed(cal: Calendar, at: dt.datetime, within: dt.timedelta = dt.timedelta(days=15)) -> dt.datetime | None:
    """The first allowed moment at or after ``at``, None if none ``within``.

    Only the starts of each day's hour ranges (weekly, adjusted working day, overrides) can be that
    moment, so a few calendar decisions a day are made, not one per minute: a scheduler pass over many
    deferred tasks stays cheap."""
    if allowed(cal, at):
        return at
    local = local_time(cal, at)
    end = local + within
    day = local.date()
    while dt.datetime.combine(day, dt.time(0), local.tzinfo) <= end:
        ranges = [*cal.weekly[day.weekday()], *cal.adjusted_workday_hours(),
                  *(r for o in cal.overrides if o.date == day for r in o.hours)]
        for minute in sorted({r.start for r in ranges}):
            t = dt.datetime.combine(day, dt.time(minute // 60, minute % 60), local.tzinfo)
            if local < t <= end and allowed(cal, t):
                return t
        day += dt.timedelta(days=1)
    return None


@dataclass(frozen=True, slots=True)
class Contact:
    """What decides whether a citizen may be called about one ticket."""

    number: str | None
    opted_out: bool = False              # the caller said no to callbacks (ticket, earlier revisit)
    confidential: bool = False
    agreed: bool | None = None           # the ticket's "agrees to callback" (None: not asked)


def never(contact: Contact, do_not_call: bool) -> Skip | None:
    """Why this citizen must never be called about the ticket, or None."""
    if not contact.number:
        return Skip.NO_NUMBER
    if do_not_call:
        return Skip.DO_NOT_CALL
    if contact.opted_out or contact.agreed is False:
        return Skip.OPTED_OUT
    if contact.confidential and contact.agreed is not True:
        return Skip.CONFIDENTIAL
    return None


def first_attempt(policy: RevisitPolicy, cal: Calendar, closed_at: dt.datetime) -> dt.datetime | None:
    """When the first call may be placed (None: no allowed moment before the deadline)."""
    at = next_allowed(cal, closed_at + dt.timedelta(seconds=policy.first_delay_s))
    return at if at is not None and at < deadline(policy, closed_at) else None


def deadline(policy: RevisitPolicy, closed_at: dt.datetime) -> dt.datetime:
    return closed_at + dt.timedelta(days=policy.over_days)


def after_failure(policy: RevisitPolicy, cal: Calendar, closed_at: dt.datetime, attempts: int,
                  now: dt.datetime) -> dt.datetime | Skip:
    """After ``attempts`` failed calls: the next attempt's time, or why there is none."""
    if attempts >= policy.max_attempts:
        return Skip.ATTEMPTS
    at = next_allowed(cal, now + dt.timedelta(seconds=policy.retry_after_s))
    if at is None or at >= deadline(policy, closed_at):
        return Skip.EXPIRED
    return at


def due(policy: RevisitPolicy, cal: Calendar, next_at: dt.datetime, closed_at: dt.datetime,
        now: dt.datetime) -> dt.datetime | Skip | None:
    """For a pending task: None to dial now; a later time when ``now`` is outside the hours (deferred);
    EXPIRED past the deadline."""
    if now >= deadline(policy, closed_at):
        return Skip.EXPIRED
    if now < next_at:
        return next_at
    if not allowed(cal, now):
        later = next_allowed(cal, now)
        return later if later is not None and later < deadline(policy, closed_at) else Skip.EXPIRED
    return None


def capacity(policy: RevisitPolicy, *, in_progress: int, waiting_calls: int, free_seats: int) -> int:
    """How many more revisit calls may start now."""
    if waiting_calls > 0 and free_seats == 0:
        return 0                          # citizens wait for a seat: the trunk lines are theirs
    lines = max(1, int(policy.trunk_lines * policy.max_share))
    return max(0, min(policy.max_concurrent, lines) - in_progress)


def result_of(path: Sequence[str]) -> tuple[Result | None, bool]:
    """What the citizen answered in the revisit tree's walk (node ids), and whether they asked not to
    be called again."""
    got: Result | None = None
    for node in path:
        if node in RESULT_NODES:
            got = RESULT_NODES[node]
    return got, OPT_OUT_NODE in path


def satisfaction_rate(counts: Mapping[str, int]) -> float | None:
    """回访满意率: (满意 + 基本满意) / answered, as the Hunan reports count it; None with no answers."""
    sat = counts.get(Result.SATISFIED.value, 0) + counts.get(Result.BASIC.value, 0)
    total = sat + counts.get(Result.UNSATISFIED.value, 0)
    return round(sat / total, 4) if total else None


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={mac}"


def verify(secret: str, timestamp: str | None, given: str | None, body: bytes, now: float,
           tolerance_s: float = 300.0) -> str | None:
    """None when the webhook's request is authentic and fresh, else why not."""
    if not secret:
        return "not_configured"
    if not timestamp or not given:
        return "unsigned"
    try:
        ts = float(timestamp)
    except ValueError:
        return "bad_timestamp"
    if abs(now - ts) > tolerance_s:
        return "stale"
    if not hmac.compare_digest(signature(secret, timestamp, body).encode(), given.strip().encode()):
        return "bad_signature"
    return None
