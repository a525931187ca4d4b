"""Routing decisions as pure functions: the executable specification.

The Redis store applies the same rules atomically in one Lua script
(``agents/lua/*.lua``); tests check on random scenarios that both agree. Change
a rule here and there together.

The rules, for one decision at time ``now``:

1. **Call order.** Waiting calls are taken in the order (lane priority, high
   first; caller priority + boost, high first; arrival time, early first;
   call id). Deputies' lane first, FIFO within a priority.
2. **Seat for a call** (the first call in that order that has one wins):
   a. among the ready seats whose operator has the call's lane skill, the one
      idle longest (ready since the earliest time); tie: the higher skill
      level in the lane; tie: the smaller seat id;
   b. if none, and the call has waited at least its lane's
      ``overflow.after_s``: the same choice among the seats with the skill of
      ``overflow.to`` (the assignment is marked ``overflowed``). One hop only.
3. **Reserved seats.** A seat reserved for lane X (``SeatsConfig.reserved``)
   may take a call of another lane only when no call waits in X and the call
   has waited at least the reservation's ``lend_after_s`` (never if null).
4. Repeat: remove the call and the seat and decide again, until no pair is
   left. Each Lua run makes exactly the next decision of this sequence.

Times are compared in whole milliseconds (``to_ms``) as in Redis. Calls
whose lane is unknown are never matched.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from agents.config import RepeatBoost, Reservation, SeatsConfig
from agents.model import MAX_LEVEL, Assignment, WaitingCall
from ivr.model import Lane

BAND_MS = 1 << 42          # width of one priority band in a waiting-lane score (~139 years of ms)
MAX_PRIORITY = 1000        # |priority + boost| stays below this so scores are exact doubles
LEVEL_SLOTS = 16           # a ready-seat score is idle_ms * 16 + (10 - level)
INF = math.inf


def to_ms(t: float) -> int:
    return int(round(t * 1000))


def wait_score(priority: int, arrived_at: float) -> int:
    """Score of a call in its lane's waiting set: lower is served first."""
    return -int(priority) * BAND_MS + to_ms(arrived_at)


def seat_score(idle_since: float, level: int) -> int:
    """Score of a ready seat in a lane's ready set: lower is offered first."""
    return to_ms(idle_since) * LEVEL_SLOTS + (MAX_LEVEL - int(level))


@dataclass(frozen=True, slots=True)
class ReadySeat:
    seat_id: str
    skills: Mapping[str, int]
    idle_since: float
    operator_id: str = ""

    def level(self, lane: str) -> int:
        return int(self.skills.get(lane, 0))


@dataclass(frozen=True, slots=True)
class Rules:
    """What decisions depend on besides the live state: lanes and seat reservations."""

    lanes: Mapping[str, Lane]
    reserved: Mapping[str, Reservation] = field(default_factory=lambda: MappingProxyType({}))  # seat -> reservation

    @classmethod
    def build(cls, lanes: Mapping[str, Lane] | Iterable[Lane], config: SeatsConfig | None = None) -> Rules:
        lane_map = dict(lanes) if isinstance(lanes, Mapping) else {ln.id: ln for ln in lanes}
        per_seat: dict[str, Reservation] = {}
        for r in (config.reserved.values() if config else ()):
            for s in r.seats:
                per_seat[s] = r
        return cls(MappingProxyType(lane_map), MappingProxyType(per_seat))


def _threshold(rules: Rules, seat_id: str, call_lane: str, base_ms: int, waiting: Counter[str]) -> float:
    """Minimum wait (ms) after which a call of ``call_lane`` may take this seat."""
    r = rules.reserved.get(seat_id)
    if r is None or r.lane == call_lane:
        return base_ms
    if r.lend_after_s is None or waiting[r.lane] > 0:
        return INF
    return max(base_ms, to_ms(r.lend_after_s))


def _by_preference(seats: Iterable[ReadySeat], lane: str) -> list[ReadySeat]:
    return sorted((s for s in seats if s.level(lane) >= 1),
                  key=lambda s: (seat_score(s.idle_since, s.level(lane)), s.seat_id))


def seat_for(rules: Rules, call: WaitingCall, seats: Sequence[ReadySeat], now: float,
             waiting: Counter[str]) -> tuple[ReadySeat, bool] | None:
    """The seat this call would get now, and whether it is an overflow seat."""
    lane = rules.lanes.get(call.lane)
    if lane is None:
        return None
    waited = max(0, to_ms(now) - to_ms(call.arrived_at))   # arrived "after" now (clock race): waited 0
    for s in _by_preference(seats, lane.id):
        if _threshold(rules, s.seat_id, lane.id, 0, waiting) <= waited:
            return s, False
    ov = lane.overflow
    if ov is not None and waited >= to_ms(ov.after_s):
        after = to_ms(ov.after_s)
        for s in _by_preference(seats, ov.to):
            if _threshold(rules, s.seat_id, lane.id, after, waiting) <= waited:
                return s, True
    return None


def call_order(rules: Rules, calls: Iterable[WaitingCall]) -> list[WaitingCall]:
    """Waiting calls of known lanes in the order they are served."""
    known = [c for c in calls if c.lane in rules.lanes]
    return sorted(known, key=lambda c: (-rules.lanes[c.lane].priority,
                                        wait_score(c.effective_priority, c.arrived_at), c.call_id))


def next_assignment(rules: Rules, seats: Sequence[ReadySeat], calls: Sequence[WaitingCall],
                    now: float) -> Assignment | None:
    """The next (call, seat) pair, or None when no waiting call can take any ready seat."""
    waiting = Counter(c.lane for c in calls)
    for call in call_order(rules, calls):
        found = seat_for(rules, call, seats, now, waiting)
        if found:
            seat, overflowed = found
            return Assignment(call_id=call.call_id, seat_id=seat.seat_id, lane=call.lane, decided_at=now,
                              overflowed=overflowed, operator_id=seat.operator_id, callback=call.callback,
                              node=call.node)
    return None


def decide(rules: Rules, seats: Sequence[ReadySeat], calls: Sequence[WaitingCall], now: float,
           limit: int | None = None) -> list[Assignment]:
    """Every pair made at ``now``, in the order they are made."""
    seats, calls = list(seats), list(calls)
    out: list[Assignment] = []
    while limit is None or len(out) < limit:
        a = next_assignment(rules, seats, calls, now)
        if a is None:
            break
        out.append(a)
        seats = [s for s in seats if s.seat_id != a.seat_id]
        calls = [c for c in calls if c.call_id != a.call_id]
    return out


# ---------------------------------------------------------------- waiting: estimates and boosts


def estimate_wait(position: int, staffed_seats: int, handle_times: Sequence[float],
                  default_handle_s: float) -> int:
    """Seconds until a caller at ``position`` (1 = next) is likely served.

    Each of the lane's staffed seats (logged in and not paused) frees up once
    per average handling time (talk + wrap-up, from recent calls), so the
    queue moves ``staffed / aht`` places per second. No staffed seat: as if one.
    """
    if position <= 0:
        return 0
    aht = sum(handle_times) / len(handle_times) if handle_times else float(default_handle_s)
    return int(math.ceil(position * aht / max(staffed_seats, 1)))


def wait_announcement(position: int, wait_s: float) -> str:
    """What a waiting caller hears (zh-CN)."""
    if position <= 1:
        return "您已排在第一位，坐席空闲后将立即为您接通，请稍候。"
    minutes = max(1, int(math.ceil(wait_s / 60)))
    return f"您前面还有{position - 1}位来电者，预计等待约{minutes}分钟，请稍候。"


def repeat_boost(previous_calls: Iterable[float], now: float, rule: RepeatBoost | None) -> int:
    """The priority boost of a caller who called at the given times before (repeat caller)."""
    if rule is None or rule.boost == 0:
        return 0
    window = rule.within_days * 86400
    n = sum(1 for t in previous_calls if 0 <= now - t <= window)
    return rule.boost if n >= rule.min_calls else 0
