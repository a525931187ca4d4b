"""The speech feature's live events (kernel/notify.py): live transcript and the call's draft ticket."""
from __future__ import annotations

from dataclasses import dataclass

from kernel.notify import LiveEvent


@dataclass(frozen=True)
class Transcript(LiveEvent):
    """One recognised piece of a call: a partial (replaced by the next) or a final turn."""

    TYPE = "transcript"

    call_id: str
    speaker: str            # "caller" | "operator"
    text: str
    final: bool
    seq: int
    ts: float


@dataclass(frozen=True)
class DraftTicket(LiveEvent):
    """The call's draft ticket was made or refreshed."""

    TYPE = "draft_ticket"

    call_id: str
    ticket: str
