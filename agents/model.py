"""Seats, operators, waiting calls and assignments as frozen, typed data.

No I/O here. Times are seconds since the epoch (floats) from the injected
clock. Caller numbers are personal data: they are left out of ``repr`` and
``masked_caller`` is what a log line may show.
"""
from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from types import MappingProxyType
from typing import Any

from kernel.privacy import mask_number

MIN_LEVEL, MAX_LEVEL = 1, 10
NO_ANSWER = "未接"      # system pause reason after a ring with no answer
OFFLINE = "离线"        # system pause reason: the seat's phone is not registered (resync)
NODE_FAILED = "节点故障"   # callback-list reason: the node holding the call died with its caller waiting
LEADER_HOLD = "领导接听"     # system pause reason: the leader's seat kept out of routing in a session (agents/leader.py)
SYSTEM_PAUSE_REASONS = (NO_ANSWER, OFFLINE, LEADER_HOLD)
DEFAULT_PAUSE_REASONS = ("小休", "培训", "会议", "用餐")


class SeatState(str, enum.Enum):
    LOGGED_OUT = "logged_out"
    READY = "ready"
    RINGING = "ringing"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"

    def __str__(self) -> str:
        return self.value


class CallPhase(str, enum.Enum):
    WAITING = "waiting"      # in its lane, waiting for a seat (voice or callback)
    RINGING = "ringing"      # assigned: the seat is being rung
    ON_CALL = "on_call"      # the seat answered
    DEFERRED = "deferred"    # a callback attempt failed; re-enters its place at a set time
    ENDED = "ended"

    def __str__(self) -> str:
        return self.value


class CancelReason(str, enum.Enum):
    """Why a call leaves its lane without being answered."""

    ABANDONED = "abandoned"      # the caller hung up while waiting (or ringing): counted, put on the callback list
    CALLBACK = "callback"        # the caller hung up asking for a callback: keeps the place (Router.request_callback)
    FALLBACK = "fallback"        # handed to the dialplan's fallback queue (not counted as abandoned)
    TRANSFERRED = "transferred"  # the caller chose another way out (e.g. an external number)
    REMOVED = "removed"          # removed by an admin or the system

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Seat:
    """A softphone seat: a PJSIP endpoint with its credentials.

    ``secret`` may be absent in the config: the composition root then generates
    one and persists it (this model only carries it).
    """

    id: str
    name: str
    username: str
    secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Operator:
    """A person who logs in to a seat. ``skills``: lane id -> level 1..10 (higher = more skilled)."""

    id: str
    name: str
    skills: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    def level(self, lane: str) -> int:
        return int(self.skills.get(lane, 0))


@dataclass(frozen=True, slots=True)
class PauseReason:
    code: str           # what is shown and stored (e.g. 小休)
    system: bool = False  # set by the system only (未接, 离线); an operator cannot choose it


@dataclass(frozen=True, slots=True)
class WaitingCall:
    """A caller waiting in a lane.

    ``priority`` comes from the IVR (e.g. a VIP list), ``boost`` from the
    repeat-caller rule; they add up. ``callback`` calls have hung up and keep
    their place: when their turn comes a seat is called first, then the caller.
    ``node`` names the controller holding the call's AGI session: its inbox
    receives the assignment.
    """

    call_id: str
    lane: str
    caller: str | None = field(default=None, repr=False)
    arrived_at: float = 0.0
    priority: int = 0
    boost: int = 0
    callback: bool = False
    callback_number: str | None = field(default=None, repr=False)
    node: str = ""

    @property
    def effective_priority(self) -> int:
        return self.priority + self.boost

    @property
    def masked_caller(self) -> str:
        return mask_number(self.caller)


@dataclass(frozen=True, slots=True)
class Assignment:
    """A routing decision: this call rings this seat."""

    call_id: str
    seat_id: str
    lane: str
    decided_at: float
    overflowed: bool = False   # the seat serves the lane's overflow target, not the lane itself
    operator_id: str = ""
    callback: bool = False     # call the seat first, then the caller back
    node: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Assignment:
        return cls(call_id=str(d["call_id"]), seat_id=str(d["seat_id"]), lane=str(d["lane"]),
                   decided_at=float(d["decided_at"]), overflowed=bool(d.get("overflowed", False)),
                   operator_id=str(d.get("operator_id") or ""), callback=bool(d.get("callback", False)),
                   node=str(d.get("node") or ""))


@dataclass(frozen=True, slots=True)
class SeatStatus:
    """A seat's live state as stored in Redis."""

    seat_id: str
    state: SeatState
    operator_id: str = ""
    since: float = 0.0                 # when the current state began
    idle_since: float | None = None    # when the seat last became ready (longest-idle ordering)
    reason: str = ""                   # pause reason
    call_id: str = ""                  # the call it is ringing for or talking to
    lane: str = ""                     # that call's lane
    wrap_until: float | None = None    # wrap-up ends by itself at this time
    skills: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["state"] = self.state.value
        d["skills"] = dict(self.skills)
        return d


@dataclass(frozen=True, slots=True)
class CallStatus:
    """A call's live state as stored in Redis."""

    call_id: str
    lane: str
    phase: CallPhase
    arrived_at: float
    priority: int = 0
    boost: int = 0
    callback: bool = False
    seat_id: str = ""
    operator_id: str = ""    # the operator at the seat when the call was given to it (console access)
    node: str = ""
    attempts: int = 0
    end_reason: str = ""
    caller: str | None = field(default=None, repr=False)
    callback_number: str | None = field(default=None, repr=False)
