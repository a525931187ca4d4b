"""The draft ticket: what extraction proposes and the operator confirms.

`DraftTicket.to_contract()` gives exactly the JSON of the draft-ticket contract
in DESIGN.md; `to_dict()` adds the words each field came from (`evidence`)
and why fields are empty (`reasons`).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from kernel.errors import HotlineError

APPEAL_TYPES = ("咨询", "求助", "投诉", "举报", "建议", "表扬", "其他")
URGENCIES = ("一般", "紧急", "特急")
EMERGENCIES = ("110", "119", "120")

# Contract keys, in contract order.
CONTRACT_KEYS = (
    "appeal_type", "category", "district", "district_code", "address",
    "caller_name", "callback_number", "urgency", "emergency", "title",
    "summary", "transcript", "confidence", "suggestions", "alert",
)
# Fields that carry a confidence (every contract field but the transcript and what follows it).
SCORED_FIELDS = CONTRACT_KEYS[:CONTRACT_KEYS.index("transcript")]

class TicketsError(HotlineError):
    """An error of the tickets package, with an id and details for the CLI and web layers."""

    def __init__(self, error_id: str, message: str, **details: Any) -> None:
        super().__init__(message, error_id=error_id, text=f"{error_id}: {message}")
        self.details = dict(details)

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.error_id, "message": self.message, **self.details}


@dataclass(frozen=True)
class DraftTicket:
    """A draft ticket extracted from a transcript. Missing fields are None with confidence 0."""

    appeal_type: str | None = None
    category: tuple[str, ...] | None = None
    district: str | None = None
    district_code: str | None = None
    address: str | None = None
    caller_name: str | None = None
    callback_number: str | None = None
    urgency: str | None = None
    emergency: str | None = None
    title: str | None = None
    summary: str | None = None
    transcript: str = ""
    confidence: Mapping[str, float] = field(default_factory=dict)
    evidence: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    reasons: tuple[str, ...] = ()
    # field -> up to 3 {"value", "confidence"}, best first (the chosen value is the first)
    suggestions: Mapping[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)
    # a life-safety cue heard: {"emergency": "119", "cues": [...], "confidence": 0.8}, else None
    alert: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        conf = {name: 0.0 for name in SCORED_FIELDS}
        for name, value in self.confidence.items():
            conf[name] = round(min(1.0, max(0.0, float(value))), 2)
        for name in SCORED_FIELDS:
            if getattr(self, name) is None:
                conf[name] = 0.0
        object.__setattr__(self, "confidence", MappingProxyType(conf))
        object.__setattr__(
            self, "evidence",
            MappingProxyType({k: tuple(v) for k, v in self.evidence.items() if v}),
        )
        if self.category is not None:
            object.__setattr__(self, "category", tuple(self.category))
        object.__setattr__(self, "suggestions", MappingProxyType(
            {k: tuple(MappingProxyType(dict(s)) for s in v[:3]) for k, v in self.suggestions.items() if v}))
        object.__setattr__(self, "reasons", tuple(self.reasons))

    def to_contract(self) -> dict[str, Any]:
        """Exactly the keys of the draft-ticket contract (DESIGN.md)."""
        return {
            "appeal_type": self.appeal_type,
            "category": list(self.category) if self.category else None,
            "district": self.district,
            "district_code": self.district_code,
            "address": self.address,
            "caller_name": self.caller_name,
            "callback_number": self.callback_number,
            "urgency": self.urgency,
            "emergency": self.emergency,
            "title": self.title,
            "summary": self.summary,
            "transcript": self.transcript,
            "confidence": dict(self.confidence),
            "suggestions": {k: [dict(s) for s in v] for k, v in self.suggestions.items()},
            "alert": dict(self.alert) if self.alert else None,
        }

    def to_dict(self) -> dict[str, Any]:
        """The contract plus `evidence` (field -> words heard) and `reasons`."""
        out = self.to_contract()
        out["evidence"] = {k: list(v) for k, v in self.evidence.items()}
        out["reasons"] = list(self.reasons)
        return out

    def with_default_callback(self, caller_number: str | None) -> DraftTicket:
        """Fill the callback number with the caller's own number when none was said."""
        if self.callback_number or not caller_number:
            return self
        conf = dict(self.confidence)
        conf["callback_number"] = 0.5
        evidence = dict(self.evidence)
        evidence["callback_number"] = ("caller id",)
        return dataclasses.replace(
            self, callback_number=str(caller_number), confidence=conf, evidence=evidence,
        )

    @classmethod
    def empty(cls, transcript: str, reasons: tuple[str, ...] | list[str]) -> DraftTicket:
        return cls(transcript=transcript, reasons=tuple(reasons))
