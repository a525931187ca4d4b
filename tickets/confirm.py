"""Confirmation by an operator, pure: fields checked and merged, corrections, the work order.

    confirmed = confirmed_fields(draft.to_dict(), {"district": "芦淞区"}, rules)
    corrections(draft.to_dict(), confirmed)   # {"district": {"extracted": "荷塘区", "confirmed": "芦淞区"}}

The operator sends only what they changed (or everything: unchanged values
are no corrections). `district_code` follows a corrected district unless the
operator gave one. Corrections cover the extracted (contract) fields only; the
extra fields an operator fills (caller type, people involved ...) are never
extracted, so they are not corrections.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tickets.model import APPEAL_TYPES, EMERGENCIES, URGENCIES, TicketsError

# Contract fields an operator confirms or corrects (not the transcript or confidences).
EXTRACTED_FIELDS = (
    "appeal_type", "category", "district", "district_code", "address", "caller_name",
    "callback_number", "urgency", "emergency", "title", "summary",
)
# Ticket fields (DOMAIN.md) that extraction does not fill; the operator may.
EXTRA_FIELDS = (
    "caller_type", "credit_code", "agrees_to_callback", "people_count", "amount",
    "street", "community", "repeat_of",
    "resolution", "kb_article",          # answered on the call (直接办结) from a knowledge-base article
)
CONFIRMABLE = EXTRACTED_FIELDS + EXTRA_FIELDS
CALLER_TYPES = ("citizen", "enterprise", "deputy")
RESOLUTIONS = ("直接办结",)
TEXT_LIMITS = {"title": 100, "summary": 4000, "address": 300, "caller_name": 50,
               "street": 100, "community": 100, "repeat_of": 40, "kb_article": 40}
_CREDIT_CODE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{18}")           # used with fullmatch
_SUMMARY_LEAD = re.compile(r"^来电[^：:]{0,4}[：:]")


class ConfirmError(TicketsError):
    """The operator's fields were refused; `details["problems"]` lists {"field", "message"}."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        text = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        super().__init__("tickets.invalid_fields", text, problems=problems)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, tuple):
        return list(value)
    return value


def _check(name: str, value: Any, rules: Any, problems: list[dict[str, str]]) -> Any:
    def bad(message: str) -> None:
        problems.append({"field": name, "message": message})

    if value is None:
        return None
    if name == "appeal_type" and value not in APPEAL_TYPES:
        bad(f"must be one of {'、'.join(APPEAL_TYPES)}")
    elif name == "urgency" and value not in URGENCIES:
        bad(f"must be one of {'、'.join(URGENCIES)}")
    elif name == "emergency" and str(value) not in EMERGENCIES:
        bad("must be 110, 119, 120 or empty")
    elif name == "emergency":
        return str(value)
    elif name == "category":
        return _check_category(value, rules, bad)
    elif name == "district" and rules is not None and rules.gazetteer.code_of(value) is None:
        bad(f"{value!r} is not a district of the city")
    elif name == "callback_number":
        digits = re.sub(r"[\s\-]", "", str(value))
        if not digits.isdigit() or not 5 <= len(digits) <= 20:
            bad("must be 5 to 20 digits")
        return digits
    elif name == "resolution" and value not in RESOLUTIONS:
        bad(f"must be one of {'、'.join(RESOLUTIONS)}")
    elif name == "kb_article" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    elif name == "caller_type" and value not in CALLER_TYPES:
        bad(f"must be one of {', '.join(CALLER_TYPES)}")
    elif name == "credit_code" and not _CREDIT_CODE.fullmatch(str(value).upper()):
        bad("must be an 18-character unified social credit code")
    elif name == "credit_code":
        return str(value).upper()
    elif name == "agrees_to_callback" and not isinstance(value, bool):
        bad("must be true or false")
    elif name == "people_count" and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        bad("must be a whole number, 0 or more")
    elif name == "amount" and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
        bad("must be a number, 0 or more")
    elif name in TEXT_LIMITS:
        if not isinstance(value, str):
            bad("must be text")
        elif len(value) > TEXT_LIMITS[name]:
            bad(f"at most {TEXT_LIMITS[name]} characters")
    return value


def _check_category(value: Any, rules: Any, bad: Any) -> Any:
    if not isinstance(value, list) or not 1 <= len(value) <= 3 \
            or not all(isinstance(v, str) and v.strip() for v in value):
        bad("must be a list of 1 to 3 category names")
        return value
    value = [v.strip() for v in value]
    if rules is not None and value[0] not in rules.taxonomy.level1:
        bad(f"{value[0]!r} is not a first-level category")
    return value


def confirmed_fields(extracted: Mapping[str, Any], fields: Mapping[str, Any], rules: Any = None) -> dict[str, Any]:
    """The confirmed ticket fields: the extracted draft overlaid with the operator's fields, checked.

    `rules` (tickets.rules.Rules) checks categories and districts against the
    configuration and fills district codes; without it only shapes are checked.
    """
    problems: list[dict[str, str]] = []
    for name in sorted(set(fields) - set(CONFIRMABLE)):
        problems.append({"field": str(name), "message": "unknown field"})
    out: dict[str, Any] = {name: _clean(extracted.get(name)) for name in EXTRACTED_FIELDS}
    out.update({name: None for name in EXTRA_FIELDS})
    for name in CONFIRMABLE:
        if name in fields:
            out[name] = _check(name, _clean(fields[name]), rules, problems)
    if out["district"] is None:
        out["district_code"] = None
    elif rules is not None:
        code = rules.gazetteer.code_of(out["district"])
        given = fields.get("district_code") if "district_code" in fields else None
        if given and code and str(given) != code:
            problems.append({"field": "district_code", "message": f"{out['district']} is {code}, not {given}"})
        elif "district" in fields or not out["district_code"]:
            out["district_code"] = code
    if problems:
        raise ConfirmError(problems)
    return out


def corrections(extracted: Mapping[str, Any], confirmed: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """{field: {"extracted": x, "confirmed": y}} for every extracted field the operator changed."""
    out = {}
    for name in EXTRACTED_FIELDS:
        was, now = _clean(extracted.get(name)), _clean(confirmed.get(name))
        if was != now:
            out[name] = {"extracted": was, "confirmed": now}
    return out


def matter_text(fields: Mapping[str, Any]) -> str:
    """What a ticket is about, for comparing two tickets: the summary without its lead-in."""
    summary = fields.get("summary") or ""
    return _SUMMARY_LEAD.sub("", summary) or (fields.get("title") or "")


def work_order(ticket: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON handed to the city's work-order system, from a confirmed `Ticket.to_dict()`."""
    confirmed = dict(ticket["confirmed"] or {})
    return {
        "ticket_id": ticket["id"],
        "call_id": ticket["call_id"],
        "channel": ticket["channel"],
        "caller_number": ticket["caller"],
        "received_at": ticket["received_at"],
        "seat": ticket["seat"],
        "recording": ticket["recording"],
        "confidential": ticket["confidential"],
        **confirmed,
        "linked_tickets": list(ticket.get("linked") or ()),
        "transcript": ticket["transcript"],
        "confirmed_by": ticket["confirmed_by"],
        "confirmed_at": ticket["confirmed_at"],
    }
