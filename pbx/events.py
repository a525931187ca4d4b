"""Typed AMI events: what the product reads from Asterisk, as frozen dataclasses.

Nothing outside `pbx/` reads an AMI header by name: the AMI client parses each
event it receives into one of these classes (`parse_event`, by event name and,
for a ``UserEvent``, by its UserEvent name) and hands it to the subscribers of
that class (`AMIClient.subscribe`). The replies of list actions are typed the
same way (`CoreShowChannel`, `ConfbridgeMember`, the `QueueStatus` items).

Each class builds itself from a header mapping (`from_headers`), reading keys
case-insensitively. A header Asterisk left out is an empty string (or None
where the product tells "absent" apart); a value the product cannot use (an
unknown device state, a cause that is not a number) never raises: it maps to
the neutral value (``DeviceState.UNKNOWN``, None). A header sent twice (a
UserEvent naming ``Uniqueid`` itself, which Asterisk also adds) gives its
first value.

The UserEvent names and their headers are the dialplan's half of the contract
(`pbx.contract`, the templates in `dialplan/`).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Self

from pbx import contract as C
from pbx.ami_events import AMIEvent, Headers

log = logging.getLogger("hotline.pbx.events")

__all__ = [
    "PbxEvent", "ConfbridgeMember", "CoreShowChannel", "DeviceState", "DeviceStateChange", "DialEnd", "Hangup",
    "HotlineAnswered", "HotlineCallbackResult", "HotlineConfLeft", "HotlineExternal", "HotlineFallback",
    "HotlineMissed", "HotlineOutRefused", "HotlineOutTry", "HotlineTransferJoined", "OriginateResponse",
    "QueueEntry", "QueueItem", "QueueMember", "QueueParams", "event_class", "parse_event", "queue_items",
]


class DeviceState(StrEnum):
    """Asterisk's device states (``DEVICE_STATE()``, ``DeviceStateChange``'s State)."""

    UNKNOWN = "UNKNOWN"
    NOT_INUSE = "NOT_INUSE"
    INUSE = "INUSE"
    BUSY = "BUSY"
    INVALID = "INVALID"
    UNAVAILABLE = "UNAVAILABLE"
    RINGING = "RINGING"
    RINGINUSE = "RINGINUSE"
    ONHOLD = "ONHOLD"

    @classmethod
    def parse(cls, text: str | None) -> DeviceState:
        """A state from Asterisk's text (any case, spaces around); UNKNOWN for anything else."""
        try:
            return cls((text or "").strip().upper())
        except ValueError:
            return cls.UNKNOWN


def _text(h: Mapping[str, str], key: str) -> str:
    """The header's (first) value; "" when absent."""
    value = h.get(key)
    if not isinstance(value, str):
        return "" if value is None else str(value)
    return value.split("\n", 1)[0]


def _opt(h: Mapping[str, str], key: str) -> str | None:
    """The header's value; None when absent or empty."""
    return _text(h, key) or None


def _int(h: Mapping[str, str], key: str) -> int | None:
    text = _text(h, key).strip()
    return int(text) if text.isdigit() else None


def _headers(h: Mapping[str, str]) -> Mapping[str, str]:
    return h if isinstance(h, Headers) else Headers(h)


@dataclass(frozen=True)
class PbxEvent:
    """Base of the typed events: the channel the event is about (empty when it is about none)."""

    NAME: ClassVar[str]                  # the AMI Event name, or the UserEvent name for user events
    USER_EVENT: ClassVar[bool] = False

    uniqueid: str
    channel: str

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Self:
        h = _headers(headers)
        return cls(uniqueid=_text(h, "Uniqueid"), channel=_text(h, "Channel"), **cls._fields(h))

    @classmethod
    def _fields(cls, h: Mapping[str, str]) -> dict[str, object]:
        return {}


# --- Asterisk's own events ---------------------------------------------------

@dataclass(frozen=True)
class Hangup(PbxEvent):
    NAME = "Hangup"

    linkedid: str = ""
    cause: int | None = None

    @classmethod
    def _fields(cls, h: Mapping[str, str]) -> dict[str, object]:
        return {"linkedid": _text(h, "Linkedid"), "cause": _int(h, "Cause")}


@dataclass(frozen=True)
class DialEnd(PbxEvent):
    """A Dial from `channel` ended (``DialStatus``: ANSWER, BUSY, NOANSWER, ...)."""

    NAME = "DialEnd"

    dial_status: str = ""
    dest_uniqueid: str = ""

    @classmethod
    def _fields(cls, h: Mapping[str, str]) -> dict[str, object]:
        return {"dial_status": _text(h, "DialStatus"), "dest_uniqueid": _text(h, "DestUniqueid")}


@dataclass(frozen=True)
class OriginateResponse(PbxEvent):
    """The outcome of an async Originate; `uniqueid` is the ChannelId it was given."""

    NAME = "OriginateResponse"

    response: str = ""
    reason: str = ""
    action_id: str = ""

    @property
    def failed(self) -> bool:
        return self.response == "Failure"

    @classmethod
    def _fields(cls, h: Mapping[str, str]) -> dict[str, object]:
        return {"response": _text(h, "Response"), "reason": _text(h, "Reason"), "action_id": _text(h, "ActionID")}


@dataclass(frozen=True)
class DeviceStateChange(PbxEvent):
    NAME = "DeviceStateChange"

    device: str = ""
    state: DeviceState = DeviceState.UNKNOWN

    @classmethod
    def _fields(cls, h: Mapping[str, str]) -> dict[str, object]:
        return {"device": _text(h, "Device"), "state": DeviceState.parse(_text(h, "State"))}


# --- the dialplan's UserEvents (pbx.contract) ----------------------------------

@dataclass(frozen=True)
class _UserEvent(PbxEvent):
    USER_EVENT = True


@dataclass(frozen=True)
class HotlineAnswered(_UserEvent):
    """A seat answered: sent on the seat's channel (`context` ON_ANSWER, with the recording base
    `rec`) and on a callback's own channel once its seat answered (context CALLBACK, no `rec`)."""

    NAME = C.UE_ANSWERED

    context: str = ""
    call_id: str = ""
    seat: str | None = None
    rec: str | None = None

    @classmethod
    def _fields(cls, h: Mapping[str, str]) -> dict[str, object]:
        return {"context": _text(h, "Context"), "call_id": _text(h, "CallId"), "seat": _opt(h, "Seat"),
                "rec": _opt(h, "Rec")}


@dataclass(frozen=True)
class HotlineCallbackResult(_UserEvent):
    """How a callback's Dial of the citizen ended (DIALSTATUS, or REFUSED), on the callback's channel."""

    NAME = C.UE_CALLBACK_RESULT

    call_id: str = ""
    seat: str | None = None
    status: str = ""

    @classmethod
    def _fields(cls, h: Mapping[str, str]) -> dict[str, object]:
        return {"call_id": _text(h, "CallId"), "seat": _opt(h, "Seat"), "status": _text(h, "Status")}


@dataclass(frozen=True)
class HotlineTransferJoined(_UserEvent):
    NAME = C.UE_TRANSFER_JOINED

    call_id: str = ""
    transfer: str | None = None

    @classmethod
    def _fields(cls, h: Mapping[str, str]) -> dict[str, object]:
        return {"call_id": _text(h, "CallId"), "transfer": _opt(h, "Transfer")}


@dataclass(frozen=True)
class HotlineConfLeft(_UserEvent):
    """A leg left a transfer's conference; `role`: ROLE_SEAT or ROLE_EXTERNAL."""

    NAME = C.UE_CONF_LEFT

    call_id: str = ""
    transfer: str | None = None
    role: str = ""
    conference: str = ""

    @classmethod
    def _fields(cls, h: Mapping[str, str]) -> dict[str, object]:
        return {"call_id": _text(h, "CallId"), "transfer": _opt(h, "Transfer"), "role": _text(h, "Role"),
                "conference": _text(h, "Conference")}


@dataclass(frozen=True)
class HotlineFallback(_UserEvent):
    NAME = C.UE_FALLBACK

    reason: str = ""

    @classmethod
    def _fields(cls, h: Mapping[str, str]) -> dict[str, object]:
        return {"reason": _text(h, "Reason")}


@dataclass(frozen=True)
class HotlineMissed(_UserEvent):
    NAME = C.UE_MISSED

    reason: str = ""

    @classmethod
    def _fields(cls, h: Mapping[str, str]) -> dict[str, object]:
        return {"reason": _text(h, "Reason")}


@dataclass(frozen=True)
class HotlineExternal(_UserEvent):
    NAME = C.UE_EXTERNAL

    number: str = ""

    @classmethod
    def _fields(cls, h: Mapping[str, str]) -> dict[str, object]:
        return {"number": _text(h, "Number")}


@dataclass(frozen=True)
class HotlineOutTry(_UserEvent):
    NAME = C.UE_OUT_TRY

    trunk: str = ""
    status: str = ""

    @classmethod
    def _fields(cls, h: Mapping[str, str]) -> dict[str, object]:
        return {"trunk": _text(h, "Trunk"), "status": _text(h, "Status")}


@dataclass(frozen=True)
class HotlineOutRefused(_UserEvent):
    NAME = C.UE_OUT_REFUSED


_EVENTS: dict[str, type[PbxEvent]] = {c.NAME.lower(): c for c in (Hangup, DialEnd, OriginateResponse,
                                                                   DeviceStateChange)}
_USER_EVENTS: dict[str, type[PbxEvent]] = {c.NAME.lower(): c for c in (
    HotlineAnswered, HotlineCallbackResult, HotlineTransferJoined, HotlineConfLeft, HotlineFallback,
    HotlineMissed, HotlineExternal, HotlineOutTry, HotlineOutRefused)}


def event_class(name: str, user_event: str | None = None) -> type[PbxEvent] | None:
    """The class for an AMI event name (and, for ``UserEvent``, its UserEvent name); None: not read."""
    if name.lower() == "userevent":
        return _USER_EVENTS.get((user_event or "").lower())
    return _EVENTS.get(name.lower())


def parse_event(event: AMIEvent) -> PbxEvent | None:
    """The typed event for a raw one; None for events the product does not read (and for any that
    cannot be read: logged, never raised, so one odd event cannot stop the reader)."""
    name = event.name if isinstance(event.name, str) else ""
    cls = event_class(name, event.get("UserEvent"))
    if cls is None:
        return None
    try:
        return cls.from_headers(event.headers)
    except Exception:  # noqa: BLE001 - a malformed event is dropped, not fatal
        log.warning("AMI %s event not understood; ignored", cls.NAME, exc_info=True)
        return None


# --- list action replies -------------------------------------------------------

@dataclass(frozen=True)
class CoreShowChannel:
    """One row of CoreShowChannels: a channel up now."""

    channel: str
    uniqueid: str = ""
    linkedid: str = ""
    bridge_id: str = ""
    context: str = ""
    exten: str = ""
    application: str = ""
    state_desc: str = ""
    duration: str = ""

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Self:
        h = _headers(headers)
        return cls(channel=_text(h, "Channel"), uniqueid=_text(h, "Uniqueid"), linkedid=_text(h, "Linkedid"),
                   bridge_id=_text(h, "BridgeId"), context=_text(h, "Context"), exten=_text(h, "Exten"),
                   application=_text(h, "Application"), state_desc=_text(h, "ChannelStateDesc"),
                   duration=_text(h, "Duration"))


@dataclass(frozen=True)
class ConfbridgeMember:
    """One row of ConfbridgeList: a member of a conference."""

    channel: str
    conference: str = ""

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Self:
        h = _headers(headers)
        return cls(channel=_text(h, "Channel"), conference=_text(h, "Conference"))


@dataclass(frozen=True)
class QueueParams:
    queue: str
    calls: int | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Self:
        h = _headers(headers)
        return cls(queue=_text(h, "Queue"), calls=_int(h, "Calls"))


@dataclass(frozen=True)
class QueueMember:
    queue: str
    name: str = ""
    status: str = ""
    in_call: str = ""
    paused: str = ""
    calls_taken: str = ""
    last_call: str = ""

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Self:
        h = _headers(headers)
        return cls(queue=_text(h, "Queue"), name=_text(h, "Name"), status=_text(h, "Status"),
                   in_call=_text(h, "InCall"), paused=_text(h, "Paused"), calls_taken=_text(h, "CallsTaken"),
                   last_call=_text(h, "LastCall"))


@dataclass(frozen=True)
class QueueEntry:
    queue: str
    channel: str = ""
    uniqueid: str = ""
    position: int | None = None
    wait_s: int | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Self:
        h = _headers(headers)
        return cls(queue=_text(h, "Queue"), channel=_text(h, "Channel"), uniqueid=_text(h, "Uniqueid"),
                   position=_int(h, "Position"), wait_s=_int(h, "Wait"))


QueueItem = QueueParams | QueueMember | QueueEntry
_QUEUE_ITEMS: dict[str, type[QueueParams] | type[QueueMember] | type[QueueEntry]] = {
    "queueparams": QueueParams, "queuemember": QueueMember, "queueentry": QueueEntry}


def queue_items(events: list[AMIEvent]) -> list[QueueItem]:
    """QueueStatus's items, typed (items of other kinds left out)."""
    out: list[QueueItem] = []
    for e in events:
        cls = _QUEUE_ITEMS.get(e.name.lower())
        if cls is not None:
            out.append(cls.from_headers(e.headers))
    return out
