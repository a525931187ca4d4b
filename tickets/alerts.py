"""The console alert for a life-safety cue: an event of its own, not only a draft field.

`alert_event(call_id, ticket)` gives an `EmergencyAlert` (published as `{"type":
"emergency_alert", "call_id", "ticket", "emergency", "cues", "confidence"}`, kernel/notify.py)
when the ticket's draft names an emergency, else None. Callers publish it once per call and
kind (`AlertOnce`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kernel.notify import LiveEvent


@dataclass(frozen=True)
class EmergencyAlert(LiveEvent):
    TYPE = "emergency_alert"

    call_id: str
    ticket: str | None
    emergency: str
    cues: list[Any]
    confidence: Any


def alert_event(call_id: str, ticket: Any) -> EmergencyAlert | None:
    draft = getattr(ticket, "draft", None) or {}
    alert = draft.get("alert") if isinstance(draft, dict) else None
    if not alert and isinstance(draft, dict) and draft.get("emergency"):
        alert = {"emergency": draft["emergency"], "cues": (draft.get("evidence") or {}).get("emergency", [])[:3],
                 "confidence": (draft.get("confidence") or {}).get("emergency")}
    if not alert or not alert.get("emergency"):
        return None
    return EmergencyAlert(call_id=call_id, ticket=getattr(ticket, "id", None), emergency=alert["emergency"],
                          cues=list(alert.get("cues") or [])[:3], confidence=alert.get("confidence"))


class AlertOnce:
    """Remembers which (call, kind) alerts went out, so a re-extracted draft does not repeat them."""

    def __init__(self, limit: int = 10000) -> None:
        self._sent: dict[tuple[str, str], None] = {}
        self._limit = limit

    def first(self, event: EmergencyAlert | None) -> bool:
        if event is None:
            return False
        key = (event.call_id, str(event.emergency))
        if key in self._sent:
            return False
        if len(self._sent) >= self._limit:
            self._sent.pop(next(iter(self._sent)))
        self._sent[key] = None
        return True
