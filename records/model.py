"""Pure: the rows PostgreSQL keeps, from the records the controller makes. No I/O here.

A call record arrives as patches (the fields each transition of `ivr.calls.CallRecords` writes, in
order, its transcript and transfer records' included) and is merged; its columns are read from the merged fields, never trusting a type. A ticket arrives as a
whole snapshot (`ticket_payload`), the later one (by `updated_at`) winning.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from tickets.confirm import work_order

_JSON_CALL_FIELDS = ("path", "outcome", "notes", "vars", "transcript_finals", "transcript_stats",
                     "live_transcript", "transfers")
_RATING_VARS = ("rating", "survey", "survey_rating", "satisfaction")


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value)) if value not in (None, "") else None
    except ValueError:
        return None


def _ts(value: Any) -> datetime | None:
    n = _num(value)
    return datetime.fromtimestamp(n, UTC) if n is not None and n > 0 else None


def _text(value: Any, limit: int = 500) -> str | None:
    if value in (None, ""):
        return None
    return str(value)[:limit]


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def merge_call(old: Mapping[str, Any] | None, patch: Mapping[str, Any]) -> dict[str, Any]:
    """A call record's fields after a patch (later values win); JSON fields decoded."""
    out = dict(old or {})
    for k, v in patch.items():
        out[str(k)] = _json(v) if k in _JSON_CALL_FIELDS else v
    return out


def local_day(ts: datetime | None, tz: ZoneInfo) -> date | None:
    return ts.astimezone(tz).date() if ts is not None else None


def _rating(data: Mapping[str, Any]) -> str | None:
    if data.get("rating") not in (None, ""):
        return _text(data["rating"], 20)
    variables = data.get("vars")
    if isinstance(variables, Mapping):
        for name in _RATING_VARS:
            if variables.get(name) not in (None, ""):
                return _text(variables[name], 20)
    return None


def _transfers(data: Mapping[str, Any]) -> list:
    t = data.get("transfers")
    out = list(t) if isinstance(t, list) else []
    if data.get("transfer"):              # the IVR's own transfer node: "number:status"
        out.append({"ivr": str(data["transfer"])})
    return out


def call_columns(data: Mapping[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """The call_records columns from a merged call record."""
    started = _ts(data.get("started"))
    queued, answered, ended = _num(data.get("queued_at")), _num(data.get("answered")), _num(data.get("ended"))
    wait = None
    if queued is not None:
        until = answered if answered is not None else ended
        wait = max(0.0, until - queued) if until is not None else None
    path = data.get("path")
    return {
        "caller": _text(data.get("caller"), 80), "did": _text(data.get("did"), 80),
        "started_at": started, "day": local_day(started, tz), "ended_at": _ts(ended), "answered_at": _ts(answered),
        "status": _text(data.get("status"), 40), "lane": _text(data.get("lane"), 80),
        "seat": _text(data.get("seat"), 80), "wait_s": wait, "end_reason": _text(data.get("end_reason")),
        "rating": _rating(data), "recording": _text(data.get("recording"), 1000),
        "ticket_id": _text(data.get("ticket"), 80),
        "path": path if isinstance(path, list) else [], "transfers": _transfers(data),
    }


CallDayKey = tuple[date, str, str]          # (local day, lane, seat or '')


def call_day_key(day: date | None, lane: str | None, seat: str | None) -> CallDayKey | None:
    """The call_days row a call record counts in: None when it reached no lane (not offered)."""
    if day is None or not lane:
        return None
    return (day, lane, seat or "")


def call_day_deltas(changes: Iterable[tuple[tuple[CallDayKey | None, bool] | None,
                                            tuple[CallDayKey | None, bool]]]) -> dict[CallDayKey, tuple[int, int]]:
    """The (offered, answered) to add per call_days row for call records that changed from `old`
    (None: not kept before) to `new`, each given as (call_day_key, answered); rows left as they
    were are not in the result."""
    out: dict[CallDayKey, list[int]] = {}
    for old, new in changes:
        for (key, answered), sign in ((old, -1), (new, 1)) if old is not None else ((new, 1),):
            if key is not None:
                d = out.setdefault(key, [0, 0])
                d[0] += sign
                d[1] += sign * int(answered)
    return {k: (v[0], v[1]) for k, v in out.items() if v != [0, 0]}


def ticket_payload(ticket: Any, tz: ZoneInfo, event: str) -> dict[str, Any]:
    """A JSON-able snapshot of a `tickets.store.Ticket` for the spool."""
    doc = ticket.to_dict(tz)
    out = {"event": event, "doc": doc, "received_at": ticket.received_at, "confirmed_at": ticket.confirmed_at,
           "version": ticket.updated_at or ticket.received_at,
           "day": datetime.fromtimestamp(ticket.received_at, tz).date().isoformat()}
    if ticket.status != "draft" and ticket.confirmed is not None:
        out["work_order"] = work_order(doc)
    return out


def ticket_columns(p: Mapping[str, Any]) -> dict[str, Any]:
    doc = p["doc"]
    fields = doc.get("confirmed") or doc.get("draft") or {}
    category = fields.get("category")
    return {
        "id": doc["id"], "call_id": doc["call_id"], "status": doc["status"], "caller": doc.get("caller"),
        "received_at": _ts(p["received_at"]), "day": date.fromisoformat(p["day"]), "seat": doc.get("seat"),
        "confirmed_at": _ts(p.get("confirmed_at")), "confirmed_by": doc.get("confirmed_by"),
        "confidential": bool(doc.get("confidential")), "appeal_type": _text(fields.get("appeal_type"), 20),
        "category": _text(category[0] if isinstance(category, list) and category else category, 80),
        "district": _text(fields.get("district"), 80), "doc": doc, "version": float(p["version"]),
    }


def category_path(doc: Mapping[str, Any]) -> tuple[str, ...]:
    """A ticket's category names (its confirmed category once confirmed, else the drafted one);
    () when that is not a list of names (未分类). What tickets.category_path keeps."""
    confirmed = doc.get("confirmed")
    fields = confirmed if doc.get("status") != "draft" and isinstance(confirmed, Mapping) else doc.get("draft")
    cat = fields.get("category") if isinstance(fields, Mapping) else None
    if isinstance(cat, list) and cat and all(isinstance(x, str) and x for x in cat):
        return tuple(cat)
    return ()


def correction_rows(p: Mapping[str, Any]) -> list[tuple]:
    doc = p["doc"]
    at = _ts(p.get("confirmed_at"))
    if at is None or not doc.get("confirmed_by"):
        return []
    return [(doc["id"], name, json.dumps(c.get("extracted"), ensure_ascii=False),
             json.dumps(c.get("confirmed"), ensure_ascii=False), doc["confirmed_by"], at)
            for name, c in sorted((doc.get("corrections") or {}).items())]


def outbox_state(status: str) -> str | None:
    return {"confirmed": "queued", "handed_off": "handed_off", "dead_letter": "dead_letter"}.get(status)
