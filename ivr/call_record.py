"""Pure: the call record's status, its named transitions and which of them a call may take. No I/O.

A call record (``ivr/calls.py`` keeps it in Redis, one hash per call) moves through these statuses:

    ivr ─► queued ─► ringing ─► answered ─► ended | handed_over      (the walk is over)
             ▲  │       │  ▲ (no answer: rung again)
             │  ▼       ▼
             │ callback ─► callback_connected | missed             (kept after the walk: routing's)
             └─ missed (no seat within the wait limit; the tree's on_fail may queue again)

Each writer names what happened (`Queued`, `Offered`, `Answered`, …); `decide` says what is written:
the fields (`Apply`), nothing because it already happened (`Ignore`: a second report of the same fact,
e.g. the seat's answer reported by AMI and again by the caller's session when its Dial returns), or
nothing because it cannot happen from here (`Refuse`: e.g. answered after the call ended). Neither
ever fails a call; the store logs the reason.

Transitions that only add facts (the lane, the outcome, the describe recording, a ticket, the kept
recording, the seat's channel, the survey before a REFER) are taken from any status: several of them
come after the walk is over (the draft ticket, the compressed recording).

The hash keeps the field names the PostgreSQL writer (`records/model.py`) and the readers know.
Transcripts and transfers are not in it: they are records of their own (`TRANSCRIPT_FIELDS`, the
transfer list), read together with the call by `CallRecords.get`.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class CallStatus(StrEnum):
    IVR = "ivr"                                  # in the tree
    QUEUED = "queued"                            # waiting in a lane
    RINGING = "ringing"                          # a seat is rung
    ANSWERED = "answered"                        # a seat answered
    CALLBACK = "callback"                        # the caller hung up for a callback; the place is kept
    CALLBACK_CONNECTED = "callback_connected"    # the callback reached the caller
    MISSED = "missed"                            # on the callback list (漏接): no seat, or no callback got through
    ENDED = "ended"                              # the walk finished
    HANDED_OVER = "handed_over"                  # the walk stopped before its end (the dialplan goes on)


# Statuses routing sets that outlive the walk: the walk's end does not overwrite them.
ROUTING_KEPT = frozenset({CallStatus.CALLBACK, CallStatus.CALLBACK_CONNECTED, CallStatus.MISSED})
WALK_OVER = frozenset({CallStatus.ENDED, CallStatus.HANDED_OVER})
# Fields decoded from JSON when read (the same list records/model.py decodes).
JSON_FIELDS = ("path", "outcome", "notes", "vars", "transcript_finals", "transcript_stats", "live_transcript",
               "transfers")
# The transcript record's fields (their own record, beside the call's).
TRANSCRIPT_FIELDS = ("transcript", "transcript_finals", "transcript_stats", "live_transcript")

Fields = dict[str, Any]


# ---------------------------------------------------------------- what happened (the transitions)

@dataclass(frozen=True)
class Started:
    """The call entered the IVR (the record is created)."""

    call_id: str
    caller: str
    caller_name: str
    did: str
    version: int
    channel: str
    at: float
    trunk: str = ""
    node: str = ""
    withheld: bool = False

    def fields(self) -> Fields:
        out: Fields = {"call_id": self.call_id, "caller": self.caller, "caller_name": self.caller_name, "did": self.did,
                       "version": self.version, "channel": self.channel, "started": self.at,
                       "status": CallStatus.IVR.value, "path": []}
        if self.withheld or self.trunk or self.node:
            out["withheld"] = int(self.withheld)
            out.update({k: v for k, v in (("trunk", self.trunk), ("node", self.node)) if v})
        return out


@dataclass(frozen=True)
class MenuDone:
    """The walk reached its first terminal action: its outcome (the simulate contract) and the path so far."""

    outcome: Mapping[str, Any]
    path: tuple[Any, ...]

    def fields(self) -> Fields:
        return {"outcome": dict(self.outcome), "path": list(self.path)}


@dataclass(frozen=True)
class LaneChosen:
    lane: str

    def fields(self) -> Fields:
        return {"lane": self.lane}


@dataclass(frozen=True)
class Queued:
    lane: str
    at: float

    def fields(self) -> Fields:
        return {"status": CallStatus.QUEUED.value, "lane": self.lane, "queued_at": self.at}


@dataclass(frozen=True)
class Offered:
    """A seat is rung for the call."""

    seat: str

    def fields(self) -> Fields:
        return {"status": CallStatus.RINGING.value, "seat": self.seat}


@dataclass(frozen=True)
class Answered:
    seat: str
    at: float
    recording: str = ""          # the mixed recording (BASE.wav)
    # the caller's session reporting it when its Dial returns (at the seat's hang-up): by then the
    # AMI event has recorded the answer and the walk may be over, which is not a fault
    after_dial: bool = False

    def fields(self) -> Fields:
        out: Fields = {"status": CallStatus.ANSWERED.value, "seat": self.seat, "answered": self.at}
        if self.recording:
            out["recording"] = self.recording
        return out


@dataclass(frozen=True)
class CallbackRequested:
    number: str

    def fields(self) -> Fields:
        return {"status": CallStatus.CALLBACK.value, "callback_number": self.number}


@dataclass(frozen=True)
class CallbackConnected:
    seat: str
    at: float

    def fields(self) -> Fields:
        return {"status": CallStatus.CALLBACK_CONNECTED.value, "seat": self.seat, "callback_at": self.at}


@dataclass(frozen=True)
class Missed:
    """Onto the callback list: no seat within the wait limit, or no callback attempt got through."""

    def fields(self) -> Fields:
        return {"status": CallStatus.MISSED.value}


@dataclass(frozen=True)
class Transferred:
    """The tree's transfer node dialled a number (status: DIALSTATUS, or REFUSED by the dialling policy)."""

    number: str
    status: str

    def fields(self) -> Fields:
        return {"transfer": f"{self.number}:{self.status}"}


@dataclass(frozen=True)
class Described:
    """The caller's account was recorded (how the recording ended: key, silence, max, no_media)."""

    recording: str
    ended: str

    def fields(self) -> Fields:
        return {"describe_recording": self.recording, "describe_ended": self.ended}


@dataclass(frozen=True)
class RecordingKept:
    """A recording was kept (compressed): the call's (``recording``) or the caller's account (``describe``)."""

    path: str
    describe: bool = False

    def fields(self) -> Fields:
        return {"describe_recording" if self.describe else "recording": self.path}


@dataclass(frozen=True)
class SeatConnected:
    """The seat's channel, what a transfer or the console's hang-up acts on."""

    channel: str

    def fields(self) -> Fields:
        return {"seat_channel": self.channel}


@dataclass(frozen=True)
class Surveyed:
    """The survey asked before a REFER transfer (ivr/transfer_survey.py): result rated | no_key |
    invalid_key | skipped, with the node, the rating or the reason when they apply."""

    result: str
    node: str = ""
    rating: str = ""
    reason: str = ""

    def fields(self) -> Fields:
        out: Fields = {"survey_when": "before_transfer"}
        if self.node:
            out["survey_node"] = self.node
        out["survey_result"] = self.result
        if self.rating:
            out["rating"] = self.rating
        if self.reason:
            out["survey_reason"] = self.reason
        return out


@dataclass(frozen=True)
class TicketLinked:
    ticket: str

    def fields(self) -> Fields:
        return {"ticket": self.ticket}


LEADER_STEPS = ("announced", "offered", "overflow", "answered")


@dataclass(frozen=True)
class LeaderStep:
    """A leader-answering session (领导接听) took part in the call (agents/leader.py): the announcement
    played, the leader's seat offered, the leader too long busy (the usual lane), the leader answered."""

    session: str
    step: str

    def fields(self) -> Fields:
        if self.step not in LEADER_STEPS:
            raise ValueError(f"leader step {self.step!r}")
        return {"leader_session": self.session, f"leader_{self.step}": 1}


@dataclass(frozen=True)
class RevisitCall:
    """The call is a satisfaction callback (回访) about a ticket (agents/revisit.py)."""

    ticket: str

    def fields(self) -> Fields:
        return {"kind": "revisit", "revisit_ticket": self.ticket}


@dataclass(frozen=True)
class Ended:
    """The IVR walk is over: what it did, and why it stopped."""

    path: tuple[Any, ...]
    outcome: Mapping[str, Any] | None
    variables: Mapping[str, Any]
    notes: tuple[Any, ...]
    end_reason: str
    at: float
    finished: bool               # the tree's end was reached (ended), or the walk stopped (handed_over)

    def fields(self) -> Fields:
        return {"path": list(self.path), "outcome": dict(self.outcome) if self.outcome is not None else None,
                "vars": dict(self.variables), "notes": list(self.notes), "end_reason": self.end_reason,
                "ended": self.at}


Fact = (MenuDone | LaneChosen | Transferred | Described | RecordingKept | SeatConnected | Surveyed | TicketLinked
        | RevisitCall | LeaderStep)
StatusChange = Queued | Offered | Answered | CallbackRequested | CallbackConnected | Missed | Ended
Transition = Started | Fact | StatusChange

# From which statuses each status change may be taken (None: no record).
_FROM: dict[type[Any], frozenset[CallStatus | None]] = {
    Queued: frozenset({CallStatus.IVR, CallStatus.QUEUED, CallStatus.RINGING, CallStatus.ANSWERED,
                       CallStatus.MISSED}),
    Offered: frozenset({CallStatus.QUEUED, CallStatus.RINGING}),
    Answered: frozenset({CallStatus.RINGING}),
    CallbackRequested: frozenset({CallStatus.QUEUED, CallStatus.RINGING}),
    CallbackConnected: frozenset({CallStatus.CALLBACK}),
    Missed: frozenset({CallStatus.QUEUED, CallStatus.RINGING, CallStatus.CALLBACK}),
}
# A status change arriving in the status it leads to: the same fact reported again (kept as first written).
_SAME: dict[type[Any], CallStatus] = {Answered: CallStatus.ANSWERED, CallbackRequested: CallStatus.CALLBACK,
                                      CallbackConnected: CallStatus.CALLBACK_CONNECTED, Missed: CallStatus.MISSED}


# ---------------------------------------------------------------- what is written

@dataclass(frozen=True)
class Apply:
    fields: Fields


@dataclass(frozen=True)
class Ignore:
    """Already so: nothing written (a repeated report, not an error)."""

    reason: str


@dataclass(frozen=True)
class Refuse:
    """Cannot happen from the record's status: nothing written, logged as a warning."""

    reason: str


Decision = Apply | Ignore | Refuse


def status_of(raw: str | None) -> CallStatus | None:
    """The status as stored ('' or missing: no record; an unknown text is read as no status)."""
    try:
        return CallStatus(raw) if raw else None
    except ValueError:
        return None


def needs_status(t: Transition) -> bool:
    """Whether the decision depends on the record's status (a fact does not: it is written at any time)."""
    return not isinstance(t, (MenuDone, LaneChosen, Transferred, Described, RecordingKept, SeatConnected,
                              Surveyed, TicketLinked, RevisitCall, LeaderStep))


def decide(current: CallStatus | None, t: Transition, *, exists: bool = True) -> Decision:
    """What `t` writes on a record in status `current` (`exists`: the record is there at all)."""
    name = type(t).__name__
    if isinstance(t, Started):
        return Apply(t.fields()) if not exists else Refuse("the call has a record already (started twice)")
    if not needs_status(t):
        return Apply(t.fields())
    if not exists or current is None:
        return Refuse(f"{name}: the call has no record (never started here, or expired)")
    if isinstance(t, Ended):
        if current in WALK_OVER:
            return Refuse(f"Ended: the walk is already over ({current.value})")
        fields = t.fields()
        if current not in ROUTING_KEPT:          # a callback pending or a missed call stays what routing said
            fields["status"] = (CallStatus.ENDED if t.finished else CallStatus.HANDED_OVER).value
        return Apply(fields)
    if _SAME.get(type(t)) == current:
        return Ignore(f"{name}: already {current.value} (reported again; the first report is kept)")
    if isinstance(t, Answered) and t.after_dial and current in WALK_OVER:
        return Ignore(f"Answered: reported after the seat hung up; the walk is over ({current.value})")
    if current not in _FROM[type(t)]:
        return Refuse(f"{name}: not from {current.value}")
    return Apply(t.fields())


def encode(fields: Mapping[str, Any]) -> dict[str, str | int | float]:
    """Fields as the Redis hash keeps them: lists and dicts as JSON, None as ''."""
    out: dict[str, str | int | float] = {}
    for k, v in fields.items():
        if isinstance(v, (list, dict)):
            out[k] = json.dumps(v, ensure_ascii=False)
        elif v is None:
            out[k] = ""
        elif isinstance(v, bool):
            out[k] = int(v)
        else:
            out[k] = v
    return out


def decode(raw: Mapping[str, str]) -> dict[str, Any]:
    """A stored hash as the readers see it (the web API's JSON): the JSON fields decoded, the rest text."""
    out: dict[str, Any] = dict(raw)
    for k in JSON_FIELDS:
        if out.get(k):
            try:
                out[k] = json.loads(out[k])
            except ValueError:
                pass
    return out


# ---------------------------------------------------------------- the typed view

def _float(v: Any) -> float | None:
    try:
        return float(v) if v not in (None, "") else None
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class CallRecord:
    """The call record, typed, for the controller's own readers (the web API keeps the decoded dict)."""

    call_id: str
    status: CallStatus | None = None
    caller: str = ""
    channel: str = ""
    version: int = 0
    path: tuple[Any, ...] = ()
    lane: str = ""
    seat: str = ""
    seat_channel: str = ""
    recording: str = ""
    ticket: str = ""
    started: float | None = None
    answered: float | None = None
    transfers: tuple[Mapping[str, Any], ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)      # every field, decoded

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> CallRecord:
        path, transfers = data.get("path"), data.get("transfers")
        try:
            version = int(data.get("version") or 0)
        except (TypeError, ValueError):
            version = 0
        return cls(call_id=str(data.get("call_id") or ""), status=status_of(str(data.get("status") or "")),
                   caller=str(data.get("caller") or ""), channel=str(data.get("channel") or ""), version=version,
                   path=tuple(path) if isinstance(path, list) else (), lane=str(data.get("lane") or ""),
                   seat=str(data.get("seat") or ""), seat_channel=str(data.get("seat_channel") or ""),
                   recording=str(data.get("recording") or ""), ticket=str(data.get("ticket") or ""),
                   started=_float(data.get("started")), answered=_float(data.get("answered")),
                   transfers=tuple(t for t in transfers if isinstance(t, Mapping))
                   if isinstance(transfers, list) else (),
                   data=dict(data))
