"""The routing feature's live events (kernel/notify.py): what the console shows of a call's seat."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kernel.notify import LiveEvent


@dataclass(frozen=True)
class ScreenPop(LiveEvent):
    """A call is offered to a seat: published before its phone rings."""

    TYPE = "screen_pop"

    call_id: str
    seat: str
    lane: str
    caller: str
    path: list[str]
    operator: str
    overflowed: bool


@dataclass(frozen=True)
class CallTransfer(LiveEvent):
    """A call's active transfer changed (every version, agents/transfer_service.py)."""

    TYPE = "call_transfer"

    call_id: str
    seat_id: str
    ts: float
    transfer: dict[str, Any]
