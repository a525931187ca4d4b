"""Repeat callers: link a caller's recent tickets and flag a likely repeat of the same matter.

`assess` is pure: the new ticket's fields against the caller's earlier
tickets (newest first). An earlier ticket is about the same matter when

  * its category matches (same first level, and the same second level when
    both have one; the fallback category never matches) and it names the
    same district, or
  * its text is close: the character-bigram Jaccard similarity of the two
    summaries (lead-in "来电投诉：" removed) reaches `text_threshold`.

The text threshold: over the 209 unrelated transcripts of the extraction
evaluation set (21,736 pairs) the highest similarity is 0.18; a caller
retelling the same noise complaint in other words scores 0.28. Default 0.25.
The likely repeat is the newest such ticket. It is a suggestion: the
operator confirms it (`repeat_of`) or not. `check_caller` is the store call.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tickets.confirm import matter_text

if TYPE_CHECKING:
    from tickets.store import TicketStore

_TEXT_CHARS = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fffA-Za-z0-9]")


@dataclass(frozen=True)
class RepeatPolicy:
    within_days: float = 30
    text_threshold: float = 0.25
    max_links: int = 20
    ignore_categories: frozenset[str] = frozenset({"其他咨询"})


@dataclass(frozen=True)
class RepeatMatch:
    ticket_id: str
    similarity: float
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"ticket_id": self.ticket_id, "similarity": self.similarity, "reasons": list(self.reasons)}


@dataclass(frozen=True)
class RepeatCheck:
    linked: tuple[str, ...] = ()            # the caller's tickets in the window, newest first
    likely_repeat_of: str | None = None
    matches: tuple[RepeatMatch, ...] = ()    # every earlier ticket on the same matter, newest first

    def to_dict(self) -> dict[str, Any]:
        return {"linked": list(self.linked), "likely_repeat_of": self.likely_repeat_of,
                "matches": [m.to_dict() for m in self.matches]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> RepeatCheck:
        if not data:
            return cls()
        return cls(
            linked=tuple(data.get("linked") or ()),
            likely_repeat_of=data.get("likely_repeat_of"),
            matches=tuple(RepeatMatch(m["ticket_id"], float(m["similarity"]), tuple(m["reasons"]))
                          for m in data.get("matches") or ()),
        )


def bigrams(text: str) -> frozenset[str]:
    chars = "".join(_TEXT_CHARS.findall(text or "")).lower()
    return frozenset(chars[i:i + 2] for i in range(len(chars) - 1))


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of the character bigrams of two texts (0 when either is empty)."""
    x, y = bigrams(a), bigrams(b)
    if not x or not y:
        return 0.0
    return len(x & y) / len(x | y)


def same_category(a: Sequence[str] | None, b: Sequence[str] | None, ignore: frozenset[str] = frozenset()) -> bool:
    if not a or not b or a[0] != b[0] or a[0] in ignore:
        return False
    return len(a) < 2 or len(b) < 2 or a[1] == b[1]


def assess(fields: Mapping[str, Any], previous: Sequence[tuple[str, Mapping[str, Any]]],
           policy: RepeatPolicy = RepeatPolicy()) -> RepeatCheck:
    """The new ticket's `fields` (draft or confirmed) against `previous` (id, fields), newest first."""
    text = matter_text(fields)
    matches = []
    for ticket_id, other in previous:
        reasons = []
        category = same_category(fields.get("category"), other.get("category"), policy.ignore_categories)
        district = bool(fields.get("district")) and fields.get("district") == other.get("district")
        sim = round(similarity(text, matter_text(other)), 2)
        if category and district:
            reasons += ["same category", "same district"]
        if sim >= policy.text_threshold:
            reasons.append("similar text")
        if reasons:
            matches.append(RepeatMatch(ticket_id, sim, tuple(reasons)))
    linked = tuple(ticket_id for ticket_id, _ in previous[: policy.max_links])
    return RepeatCheck(linked=linked, likely_repeat_of=matches[0].ticket_id if matches else None,
                       matches=tuple(matches))


async def check_caller(store: TicketStore, caller: str | None, fields: Mapping[str, Any], *,
                       before: float, exclude: str | None = None,
                       policy: RepeatPolicy = RepeatPolicy()) -> RepeatCheck:
    """`assess` against the caller's tickets received in the `policy.within_days` before `before`."""
    if not caller:
        return RepeatCheck()
    earlier = await store.list_by_caller(caller, policy.within_days, now=before)
    previous = [(t.id, t.fields) for t in earlier if t.id != exclude and t.received_at <= before]
    return assess(fields, previous, policy)
