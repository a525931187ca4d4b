"""Seats, operators and routing settings: ``config/seats.yaml`` -> a frozen ``SeatsConfig``.

Reading never stops at the first mistake: every problem is collected with its
path (``operators.2.skills.enterprize: unknown lane``) and raised together in
one ``ConfigInvalid``. Lanes themselves are defined by the IVR tree; pass
their ids to check the skills and reservations against them.

Reserved seats (``reserved: {deputy: {seats: ["1001"], lend_after_s: 60}}``):
a seat reserved for lane X takes X's calls like any seat with the X skill. It
takes a call of another lane only when no call is waiting in X *and* that
call has waited at least ``lend_after_s`` (null: never). So a deputy's seat
helps the general lane in a surge, but never while a deputy is waiting.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from agents.errors import ConfigInvalid
from agents.model import (
    DEFAULT_PAUSE_REASONS,
    MAX_LEVEL,
    MIN_LEVEL,
    SYSTEM_PAUSE_REASONS,
    Operator,
    PauseReason,
    Seat,
)
from ivr.problems import DUPLICATE_KEY, MISSING, PATTERN, RANGE, TYPE, UNKNOWN_FIELD, UNKNOWN_LANE, Problem

ID_PATTERN = re.compile(r"^[0-9A-Za-z_.-]{1,32}$")
SIP_USER_PATTERN = re.compile(r"^[0-9A-Za-z_.-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Reservation:
    lane: str
    seats: tuple[str, ...]
    lend_after_s: float | None = None   # None: never lent to another lane


@dataclass(frozen=True, slots=True)
class RepeatBoost:
    """A caller with at least ``min_calls`` earlier calls within ``within_days`` gets ``boost``."""

    within_days: int = 3
    boost: int = 1
    min_calls: int = 1


@dataclass(frozen=True, slots=True)
class CallbackSettings:
    offer_after_s: int | None = 60   # offer "press 1 for a callback" after this wait; None: never
    max_attempts: int = 3            # calls to the citizen before it goes on the callback list
    retry_after_s: int = 300         # a failed attempt re-enters its place after this delay


@dataclass(frozen=True, slots=True)
class SeatsConfig:
    seats: Mapping[str, Seat] = field(default_factory=lambda: MappingProxyType({}))
    operators: Mapping[str, Operator] = field(default_factory=lambda: MappingProxyType({}))
    pause_reasons: tuple[PauseReason, ...] = tuple(PauseReason(r) for r in DEFAULT_PAUSE_REASONS) + tuple(
        PauseReason(r, system=True) for r in SYSTEM_PAUSE_REASONS)
    wrap_up_s: int = 15
    ring_timeout_s: int = 20
    reserved: Mapping[str, Reservation] = field(default_factory=lambda: MappingProxyType({}))
    repeat_caller: RepeatBoost | None = RepeatBoost()
    announce_every_s: int = 45
    service_level_s: int = 15
    callback: CallbackSettings = CallbackSettings()
    default_handle_s: int = 240       # estimate when there are no recent handling times yet
    handle_samples: int = 50          # recent handling times kept per lane
    events_maxlen: int = 100_000      # approximate length of hotline:events
    seat_log_maxlen: int = 1_000_000  # approximate length of the seat-transition log
    stats_ttl_days: int = 400
    call_ttl_s: int = 86_400          # how long an ended call's record is kept
    timezone: str = "Asia/Shanghai"   # days and hours of the counters

    def pause_reason(self, code: str) -> PauseReason | None:
        for r in self.pause_reasons:
            if r.code == code:
                return r
        return None

    def reservation_of(self, seat_id: str) -> Reservation | None:
        for r in self.reserved.values():
            if seat_id in r.seats:
                return r
        return None


_TOP = {"version", "seats", "operators", "pause_reasons", "wrap_up_s", "ring_timeout_s", "reserved",
        "repeat_caller", "announce_every_s", "service_level_s", "callback", "estimate", "events",
        "stats_ttl_days", "call_ttl_s", "timezone"}


class _Reader:
    """Collects problems while turning plain data into config objects."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def problem(self, path: str, code: str, message: str) -> None:
        self.problems.append(Problem(path=path, code=code, message=message))

    def mapping(self, v: Any, path: str, allowed: Iterable[str] | None = None) -> Mapping[str, Any]:
        if v is None:
            return {}
        if not isinstance(v, Mapping):
            self.problem(path, TYPE, "expected a mapping")
            return {}
        if allowed is not None:
            allowed = set(allowed)
            for k in v:
                if k not in allowed:
                    self.problem(f"{path}.{k}" if path else str(k), UNKNOWN_FIELD,
                                 f"unknown field (known: {', '.join(sorted(allowed))})")
        return v

    def ident(self, v: Any, path: str, pattern: re.Pattern = ID_PATTERN) -> str | None:
        if v is None:
            self.problem(path, MISSING, "required")
            return None
        if isinstance(v, bool) or not isinstance(v, (str, int)):
            self.problem(path, TYPE, "expected a string")
            return None
        s = str(v)
        if not pattern.fullmatch(s):
            self.problem(path, PATTERN, f"{s!r} is not a valid id (letters, digits, _ . -)")
            return None
        return s

    def text(self, v: Any, path: str, default: str | None = None) -> str | None:
        if v is None:
            if default is None:
                self.problem(path, MISSING, "required")
            return default
        if not isinstance(v, str) or not v.strip():
            self.problem(path, TYPE, "expected a non-empty string")
            return default
        return v.strip()

    def number(self, v: Any, path: str, default: Any, lo: float, hi: float, *, integer: bool = True,
               nullable: bool = False) -> Any:
        if v is None:
            if nullable:
                return None
            return default
        ok = isinstance(v, int) if integer else isinstance(v, (int, float))
        if isinstance(v, bool) or not ok:
            self.problem(path, TYPE, "expected an integer" if integer else "expected a number")
            return default
        if not lo <= v <= hi:
            self.problem(path, RANGE, f"{v} is out of range {lo}..{hi}")
            return default
        return v


def parse_seats(data: Any, lanes: Iterable[str] | None = None, source: str = "") -> SeatsConfig:
    """Plain data (from YAML/JSON) -> SeatsConfig, or ConfigInvalid listing every problem."""
    rd = _Reader()
    known_lanes = frozenset(lanes) if lanes is not None else None
    top = rd.mapping(data, "", _TOP)
    if data is not None and not isinstance(data, Mapping):
        raise ConfigInvalid(rd.problems, source)

    seats: dict[str, Seat] = {}
    raw_seats = top.get("seats") or []
    if not isinstance(raw_seats, list):
        rd.problem("seats", TYPE, "expected a list of seats")
        raw_seats = []
    usernames: dict[str, str] = {}
    for i, s in enumerate(raw_seats):
        p = f"seats.{i}"
        m = rd.mapping(s, p, {"id", "name", "username", "secret"})
        sid = rd.ident(m.get("id"), f"{p}.id")
        if sid is None:
            continue
        if sid in seats:
            rd.problem(f"{p}.id", DUPLICATE_KEY, f"seat {sid} is listed twice")
            continue
        user = rd.ident(m.get("username", sid), f"{p}.username", SIP_USER_PATTERN) or sid
        if user in usernames:
            rd.problem(f"{p}.username", DUPLICATE_KEY, f"username {user!r} is also seat {usernames[user]}'s")
        usernames[user] = sid
        secret = m.get("secret")
        if secret is not None and (not isinstance(secret, str) or len(secret) < 8):
            rd.problem(f"{p}.secret", PATTERN, "a secret must be a string of at least 8 characters")
            secret = None
        seats[sid] = Seat(id=sid, name=rd.text(m.get("name"), f"{p}.name", f"坐席{sid}") or sid,
                          username=user, secret=secret)

    operators: dict[str, Operator] = {}
    raw_ops = top.get("operators") or []
    if not isinstance(raw_ops, list):
        rd.problem("operators", TYPE, "expected a list of operators")
        raw_ops = []
    for i, o in enumerate(raw_ops):
        p = f"operators.{i}"
        m = rd.mapping(o, p, {"id", "name", "skills"})
        oid = rd.ident(m.get("id"), f"{p}.id")
        name = rd.text(m.get("name"), f"{p}.name")
        skills: dict[str, int] = {}
        for lane, level in rd.mapping(m.get("skills"), f"{p}.skills").items():
            lp = f"{p}.skills.{lane}"
            if known_lanes is not None and lane not in known_lanes:
                rd.problem(lp, UNKNOWN_LANE, f"unknown lane {lane!r} (lanes: {', '.join(sorted(known_lanes))})")
                continue
            lv = rd.number(level, lp, None, MIN_LEVEL, MAX_LEVEL)
            if lv is not None:
                skills[str(lane)] = lv
        if oid is None:
            continue
        if m and not skills and m.get("skills") is None:
            rd.problem(f"{p}.skills", MISSING, "an operator needs at least one lane skill")
        if oid in operators:
            rd.problem(f"{p}.id", DUPLICATE_KEY, f"operator {oid} is listed twice")
            continue
        operators[oid] = Operator(id=oid, name=name or oid, skills=MappingProxyType(skills))

    reasons: list[PauseReason] = []
    raw_reasons = top.get("pause_reasons", list(DEFAULT_PAUSE_REASONS))
    if not isinstance(raw_reasons, list):
        rd.problem("pause_reasons", TYPE, "expected a list of reasons")
        raw_reasons = list(DEFAULT_PAUSE_REASONS)
    for i, r in enumerate(raw_reasons):
        code = rd.text(r, f"pause_reasons.{i}", "")
        if not code:
            continue
        if code in SYSTEM_PAUSE_REASONS:
            rd.problem(f"pause_reasons.{i}", RANGE, f"{code} is a system reason and is always there")
        elif any(x.code == code for x in reasons):
            rd.problem(f"pause_reasons.{i}", DUPLICATE_KEY, f"{code} is listed twice")
        else:
            reasons.append(PauseReason(code))
    reasons += [PauseReason(r, system=True) for r in SYSTEM_PAUSE_REASONS]

    reserved: dict[str, Reservation] = {}
    taken: dict[str, str] = {}
    for lane, r in rd.mapping(top.get("reserved"), "reserved").items():
        p = f"reserved.{lane}"
        if known_lanes is not None and lane not in known_lanes:
            rd.problem(p, UNKNOWN_LANE, f"unknown lane {lane!r}")
        m = rd.mapping(r, p, {"seats", "lend_after_s"})
        ids = m.get("seats") or []
        if not isinstance(ids, list) or not ids:
            rd.problem(f"{p}.seats", TYPE, "expected a non-empty list of seat ids")
            ids = []
        out: list[str] = []
        for j, sid in enumerate(ids):
            s = rd.ident(sid, f"{p}.seats.{j}")
            if s is None:
                continue
            if s not in seats:
                rd.problem(f"{p}.seats.{j}", MISSING, f"no seat {s}")
            elif s in taken:
                rd.problem(f"{p}.seats.{j}", DUPLICATE_KEY, f"seat {s} is already reserved for {taken[s]}")
            else:
                taken[s] = str(lane)
                out.append(s)
        lend = rd.number(m.get("lend_after_s"), f"{p}.lend_after_s", None, 0, 86400, integer=False,
                         nullable=True)
        reserved[str(lane)] = Reservation(lane=str(lane), seats=tuple(out), lend_after_s=lend)

    rep_raw = top.get("repeat_caller", {})
    repeat: RepeatBoost | None = None
    if rep_raw is not None and rep_raw is not False:
        m = rd.mapping(rep_raw, "repeat_caller", {"within_days", "boost", "min_calls"})
        repeat = RepeatBoost(
            within_days=rd.number(m.get("within_days"), "repeat_caller.within_days", 3, 1, 365),
            boost=rd.number(m.get("boost"), "repeat_caller.boost", 1, 0, 100),
            min_calls=rd.number(m.get("min_calls"), "repeat_caller.min_calls", 1, 1, 1000))

    cb = rd.mapping(top.get("callback"), "callback", {"offer_after_s", "max_attempts", "retry_after_s"})
    callback = CallbackSettings(
        offer_after_s=rd.number(cb.get("offer_after_s", 60), "callback.offer_after_s", 60, 0, 86400,
                                nullable=True),
        max_attempts=rd.number(cb.get("max_attempts"), "callback.max_attempts", 3, 1, 20),
        retry_after_s=rd.number(cb.get("retry_after_s"), "callback.retry_after_s", 300, 0, 86400))
    est = rd.mapping(top.get("estimate"), "estimate", {"default_handle_s", "samples"})
    ev = rd.mapping(top.get("events"), "events", {"maxlen", "seat_log_maxlen"})
    tz = rd.text(top.get("timezone"), "timezone", "Asia/Shanghai") or "Asia/Shanghai"
    try:
        import zoneinfo
        zoneinfo.ZoneInfo(tz)
    except Exception:  # noqa: BLE001 - any failure means the name is unusable
        rd.problem("timezone", PATTERN, f"unknown time zone {tz!r}")

    cfg = SeatsConfig(
        seats=MappingProxyType(seats), operators=MappingProxyType(operators), pause_reasons=tuple(reasons),
        wrap_up_s=rd.number(top.get("wrap_up_s"), "wrap_up_s", 15, 0, 3600),
        ring_timeout_s=rd.number(top.get("ring_timeout_s"), "ring_timeout_s", 20, 3, 300),
        reserved=MappingProxyType(reserved), repeat_caller=repeat,
        announce_every_s=rd.number(top.get("announce_every_s"), "announce_every_s", 45, 0, 600),
        service_level_s=rd.number(top.get("service_level_s"), "service_level_s", 15, 1, 600),
        callback=callback,
        default_handle_s=rd.number(est.get("default_handle_s"), "estimate.default_handle_s", 240, 1, 7200),
        handle_samples=rd.number(est.get("samples"), "estimate.samples", 50, 1, 10000),
        events_maxlen=rd.number(ev.get("maxlen"), "events.maxlen", 100_000, 100, 10**8),
        seat_log_maxlen=rd.number(ev.get("seat_log_maxlen"), "events.seat_log_maxlen", 1_000_000, 100, 10**9),
        stats_ttl_days=rd.number(top.get("stats_ttl_days"), "stats_ttl_days", 400, 1, 3650),
        call_ttl_s=rd.number(top.get("call_ttl_s"), "call_ttl_s", 86_400, 60, 86400 * 90),
        timezone=tz,
    )
    if rd.problems:
        raise ConfigInvalid(rd.problems, source)
    return cfg


def load_seats(path: str | Path, lanes: Iterable[str] | None = None) -> SeatsConfig:
    """Read and check a seats file (YAML or JSON). Raises ConfigInvalid with every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigInvalid([Problem(path="", code="unreadable", message=str(exc))], str(path)) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigInvalid([Problem(path="", code="syntax", message=str(getattr(exc, "problem", exc)),
                                     line=line)], str(path)) from exc
    return parse_seats(data or {}, lanes, str(path))
