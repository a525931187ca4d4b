"""Transfers from a seat to an external number: blind, attended, three-way.

Pure part (no I/O, unit-tested): the targets of ``config/transfers.yaml``
(`load_transfers`), which request is allowed (`TransfersConfig.check`), the
transfer record and how it moves on (`advance`), and what the caller's own
session does next (`caller_action`).

Live part: `TransferService` keeps the active transfer of each call in Redis
(one at a time; every version is also written into the call record's
``transfers`` list in the same Lua step), publishes each change as a
``call_transfer`` event, and moves the channels over AMI; its `caller_side`
runs on the caller's FastAGI session once the caller's Dial of the seat returns
(both in ``agents/transfer_service.py``).

How the channels move (dialplan in ``dialplan/hotline.py``, context
``hotline-conf``):

- blind: the seat's channel is hung up; the caller's Dial returns and the
  caller's session dials the target (``transfer.dial``). The seat wraps up.
- three_way: the seat's channel is redirected into a ConfBridge named after
  the call; the caller's Dial returns and the caller joins it; the target is
  originated into it. The operator briefs the target and leaves (hangs up);
  the caller stays with the target and is let go when the target leaves
  (``end_marked``), then hears the survey.
- attended: as three-way, but the caller hears music until the operator
  hands over (hangs up: the caller joins the target) or drops the target
  (the caller joins the operator again).
"""
from __future__ import annotations

import dataclasses
import enum
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from agents.errors import AgentsError, ConfigInvalid

log = logging.getLogger("hotline.agents.transfer")

ID_PATTERN = re.compile(r"^[0-9A-Za-z_.-]{1,32}$")
NUMBER_PATTERN = re.compile(r"^[0-9*#+]{2,20}$")
ACTIVE_TTL_S = 6 * 3600          # an active transfer's Redis key outlives any call
HOLD_LIMIT_S = 900               # attended: the caller's music ends after this at the latest
ALONE_KICK_S = 2.0               # a caller alone in the conference this long is let go


class Mode(str, enum.Enum):
    BLIND = "blind"
    ATTENDED = "attended"
    THREE_WAY = "three_way"

    def __str__(self) -> str:
        return self.value


class State(str, enum.Enum):
    DIALING = "dialing"          # blind: the caller's session dials the target
    CONFERENCE = "conference"    # three-way: caller, operator and target in one conference
    CONSULTING = "consulting"    # attended: operator and target talk, the caller hears music
    HANDOVER = "handover"        # attended: the operator left; the caller joins the target
    RETURNED = "returned"        # attended: the target is gone; the caller joins the operator again
    DONE = "done"                # the caller is out of the transfer

    def __str__(self) -> str:
        return self.value


DEFAULT_MODES = (Mode.BLIND, Mode.ATTENDED, Mode.THREE_WAY)   # a target without modes and not three_way
FIRST_STATE = {Mode.BLIND: State.DIALING, Mode.THREE_WAY: State.CONFERENCE, Mode.ATTENDED: State.CONSULTING}


# ---------------------------------------------------------------- errors


class TransferError(AgentsError):
    error_id = "transfer_error"


class UnknownTarget(TransferError):
    error_id = "unknown_transfer_target"


class ModeNotAllowed(TransferError):
    error_id = "transfer_mode_not_allowed"


class NotOnCall(TransferError):
    """The seat has no answered call to act on."""

    error_id = "not_on_call"


class TransferBusy(TransferError):
    """The call already has a transfer under way."""

    error_id = "transfer_in_progress"


class NoTransfer(TransferError):
    error_id = "no_transfer"


class PbxUnavailable(TransferError):
    error_id = "pbx_unavailable"


# ---------------------------------------------------------------- configuration (pure)


@dataclass(frozen=True, slots=True)
class TransferTarget:
    id: str
    label: str
    number: str
    modes: tuple[Mode, ...]

    @property
    def default_mode(self) -> Mode:
        return self.modes[0]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "number": self.number,
                "modes": [m.value for m in self.modes], "default_mode": self.default_mode.value}


@dataclass(frozen=True, slots=True)
class TransfersConfig:
    targets: Mapping[str, TransferTarget] = field(default_factory=lambda: MappingProxyType({}))
    ring_s: int = 30

    def check(self, target_id: str, mode: str | Mode | None = None) -> tuple[TransferTarget, Mode]:
        """The target and mode of a request; the target's default mode when none is given."""
        target = self.targets.get(target_id)
        if target is None:
            raise UnknownTarget(f"no transfer target {target_id}", target=target_id)
        if mode is None:
            return target, target.default_mode
        try:
            m = Mode(mode)
        except ValueError:
            raise ModeNotAllowed(f"no transfer mode {mode}", target=target_id, mode=str(mode),
                                 allowed=[x.value for x in target.modes]) from None
        if m not in target.modes:
            raise ModeNotAllowed(f"{target_id} cannot be transferred to {m.value}", target=target_id, mode=m.value,
                                 allowed=[x.value for x in target.modes])
        return target, m


def parse_transfers(data: Any, source: str = "transfers") -> TransfersConfig:
    """A parsed YAML document -> TransfersConfig; every problem listed in one ConfigInvalid."""
    problems: list[str] = []
    if not isinstance(data, Mapping):
        raise ConfigInvalid(["top level: expected a mapping"], source)
    for extra in sorted(set(data) - {"ring_s", "targets"}):
        problems.append(f"{extra}: unknown field")
    ring_s = data.get("ring_s", 30)
    if not isinstance(ring_s, int) or isinstance(ring_s, bool) or not 5 <= ring_s <= 120:
        problems.append(f"ring_s: expected a whole number of seconds 5..120, got {ring_s!r}")
        ring_s = 30
    raw = data.get("targets")
    targets: dict[str, TransferTarget] = {}
    if not isinstance(raw, list) or not raw:
        problems.append("targets: expected a non-empty list")
        raw = []
    for i, t in enumerate(raw):
        where = f"targets.{i}"
        if not isinstance(t, Mapping):
            problems.append(f"{where}: expected a mapping")
            continue
        for extra in sorted(set(t) - {"id", "name", "label", "number", "modes", "three_way"}):
            problems.append(f"{where}.{extra}: unknown field")
        tid, number = t.get("id"), t.get("number")
        label = t.get("name", t.get("label"))
        three_way = t.get("three_way", False)
        ok = True
        if isinstance(tid, int) and not isinstance(tid, bool):
            tid = str(tid)
        if not isinstance(tid, str) or not ID_PATTERN.fullmatch(tid):
            problems.append(f"{where}.id: expected letters, digits, _ . - (1..32), got {tid!r}")
            ok = False
        elif tid in targets:
            problems.append(f"{where}.id: duplicate id {tid}")
            ok = False
        if not isinstance(label, str) or not label.strip():
            problems.append(f"{where}.name: missing")
            ok = False
        if isinstance(number, int) and not isinstance(number, bool):
            number = str(number)
        if not isinstance(number, str) or not NUMBER_PATTERN.fullmatch(number):
            problems.append(f"{where}.number: expected 2..20 digits, got {number!r}")
            ok = False
        if not isinstance(three_way, bool):
            problems.append(f"{where}.three_way: expected true or false, got {three_way!r}")
            ok = False
        modes = t.get("modes")
        if modes is None:                  # the admin page's form: three_way or not
            modes = [Mode.THREE_WAY.value] if three_way else [m.value for m in DEFAULT_MODES]
        parsed: list[Mode] = []
        if not isinstance(modes, list) or not modes:
            problems.append(f"{where}.modes: expected a non-empty list of {', '.join(m.value for m in Mode)}")
            ok = False
        else:
            for m in modes:
                try:
                    mode = Mode(m)
                except ValueError:
                    problems.append(f"{where}.modes: unknown mode {m!r}")
                    ok = False
                    continue
                if mode in parsed:
                    problems.append(f"{where}.modes: {mode.value} listed twice")
                    ok = False
                parsed.append(mode)
        if ok and isinstance(tid, str) and isinstance(label, str) and isinstance(number, str):  # ok: they are
            targets[tid] = TransferTarget(tid, label.strip(), number, tuple(parsed))
    if problems:
        raise ConfigInvalid(problems, source)
    return TransfersConfig(MappingProxyType(targets), ring_s)


class TransfersFile:
    """``config/transfers.yaml``, read again when it changes (the admin page edits it);
    a broken edit keeps the last good version (and says so in the log)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._stamp: float | None = None
        self._config = load_transfers(self.path)
        self._stamp = self._mtime()

    def _mtime(self) -> float | None:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return None

    def get(self) -> TransfersConfig:
        stamp = self._mtime()
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self._config = load_transfers(self.path)
                log.info("transfer targets reloaded from %s", self.path)
            except ConfigInvalid as exc:
                log.error("transfer targets in %s not reloaded, the last good ones stay: %s", self.path, exc)
        return self._config


def load_transfers(path: Path) -> TransfersConfig:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigInvalid([f"cannot read: {exc}"], str(path)) from exc
    return parse_transfers(data, str(path))


# ---------------------------------------------------------------- the transfer record (pure)


@dataclass(frozen=True, slots=True)
class Transfer:
    """One transfer of one call, as kept in Redis and on the call record."""

    id: str
    call_id: str
    seat_id: str
    by: str                      # who asked (operator id or user name)
    target: str                  # target id
    number: str
    mode: Mode
    at: float                    # when it was asked for
    state: State
    result: str = ""             # "" (under way), connected, completed, cancelled, failed:<why>
    answered_at: float | None = None       # the target answered
    operator_left_at: float | None = None
    ended_at: float | None = None          # the caller is out of the transfer

    @property
    def conference(self) -> str:
        return conference_name(self.call_id)

    @property
    def external_channel_id(self) -> str:
        """The uniqueid given to the target's leg (three-way and attended)."""
        return f"xfer-{self.id}-{self.call_id}"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["mode"], d["state"] = self.mode.value, self.state.value
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Transfer:
        def opt(k: str) -> float | None:
            v = d.get(k)
            return None if v in (None, "") else float(v)
        return cls(id=str(d["id"]), call_id=str(d["call_id"]), seat_id=str(d["seat_id"]), by=str(d.get("by", "")),
                   target=str(d["target"]), number=str(d["number"]), mode=Mode(d["mode"]), at=float(d["at"]),
                   state=State(d["state"]), result=str(d.get("result") or ""), answered_at=opt("answered_at"),
                   operator_left_at=opt("operator_left_at"), ended_at=opt("ended_at"))


def conference_name(call_id: str) -> str:
    return f"hl-{call_id}"


def call_id_of_channel(uniqueid: str) -> tuple[str, str] | None:
    """(transfer id, call id) from a target leg's uniqueid (``xfer-<id>-<call id>[;2]``)."""
    if not uniqueid.startswith("xfer-"):
        return None
    tid, _, rest = uniqueid[5:].partition("-")
    rest = rest.split(";")[0]
    return (tid, rest) if tid and rest else None


def new_transfer(tid: str, call_id: str, seat_id: str, by: str, target: TransferTarget, mode: Mode,
                 at: float) -> Transfer:
    return Transfer(id=tid, call_id=call_id, seat_id=seat_id, by=by, target=target.id, number=target.number,
                    mode=mode, at=at, state=FIRST_STATE[mode])


class Event(str, enum.Enum):
    EXTERNAL_ANSWERED = "external_answered"
    EXTERNAL_FAILED = "external_failed"       # never answered (busy, no answer, no route)
    EXTERNAL_LEFT = "external_left"           # answered, then hung up
    OPERATOR_LEFT = "operator_left"
    CALLER_LEFT = "caller_left"


def advance(t: Transfer, event: Event | str, at: float, reason: str = "") -> Transfer:
    """The transfer after ``event``; the same object when the event changes nothing."""
    e = Event(event)
    if t.state == State.DONE:                   # facts that arrive late are still kept
        if e == Event.OPERATOR_LEFT and t.mode != Mode.BLIND and t.operator_left_at is None:
            return dataclasses.replace(t, operator_left_at=at)
        return t
    r = dataclasses.replace
    if e == Event.CALLER_LEFT:
        result = t.result or ("failed:caller_left" if t.answered_at is None else "connected")
        return r(t, state=State.DONE, ended_at=at, result=result)
    if e == Event.EXTERNAL_ANSWERED:
        if t.answered_at is not None:
            return t
        return r(t, answered_at=at, result="connected" if t.state != State.HANDOVER else "completed")
    if e == Event.EXTERNAL_FAILED:
        why = f"failed:{(reason or 'no_answer').lower()}"
        if t.mode == Mode.BLIND:
            return r(t, state=State.DONE, result=why, ended_at=at)
        if t.state == State.CONSULTING:
            return r(t, state=State.RETURNED, result=why)
        return r(t, result=why) if not t.result else t
    if e == Event.EXTERNAL_LEFT:
        if t.state == State.CONSULTING:
            return r(t, state=State.RETURNED, result="cancelled")
        return t
    if e == Event.OPERATOR_LEFT:
        if t.operator_left_at is not None:
            return t
        if t.state == State.CONSULTING:
            return r(t, state=State.HANDOVER, operator_left_at=at,
                     result="completed" if t.answered_at is not None else t.result)
        return r(t, operator_left_at=at)
    return t


def caller_action(t: Transfer | None) -> str:
    """What the caller's session does once its Dial of the seat returned:
    ``dial`` the target, ``hold`` (music), ``join`` the conference, or ``none``."""
    if t is None or t.state == State.DONE:
        return "none"
    if t.state == State.DIALING:
        return "dial"
    if t.state == State.CONSULTING:
        return "hold"
    return "join"


def seat_in_conference(t: Transfer | None) -> bool:
    """The operator is (still) in the call's conference, whatever became of the caller."""
    return (t is not None and t.mode != Mode.BLIND and t.operator_left_at is None
            and t.result != "failed:pbx")


def keeps_seat(t: Transfer | None) -> bool:
    """The seat is still on this call after the caller's Dial returned (it went into the conference)."""
    return t is not None and t.mode != Mode.BLIND and t.operator_left_at is None and t.state != State.DONE
