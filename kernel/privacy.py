"""Masking of personal data (caller numbers, names) before it reaches a log."""
from __future__ import annotations

import re

# A phone number in free text: seven or more digits in a row, or written in groups
# ("0731-22334455", "138-0000-1234", "138 0000 1234", "+86 138 0000 1234", "(0731) 2233 4455")
# with seven or more digits in all. Groups after the first have 3-8 digits, so dates
# ("2026-12-03") and times stay readable; so does Asterisk's channel sequence (a dash and
# 8 hex digits: "Local/12345@from-pstn-00000001;1") and a call's uniqueid (Unix seconds, a dot and
# a sequence: "1764777601.123", or a node's "node1-1764777601.123"), which logs need to tie lines together.
_DIGITS = re.compile(
    r"-[0-9a-f]{8}(?![0-9a-f])"
    r"|(?<![\d.])1\d{9}\.\d{1,9}(?![\d.])"
    r"|(?<![A-Za-z0-9_+])(?:\+\d{1,3}[ -]?)?(?:\(\d{2,4}\)[ -]?)?(?:\d{2,6}(?:[ -]\d{3,8})+|\d{7,})(?![\d])")


def mask_number(number: str | None) -> str:
    """Mask the middle of a phone number: 13800001234 -> 138****1234."""
    if not number:
        return "-"
    n = str(number)
    if len(n) <= 4:
        return "*" * len(n)
    if len(n) <= 7:
        return n[:2] + "*" * (len(n) - 4) + n[-2:]
    return n[:3] + "*" * (len(n) - 7) + n[-4:]


def mask_name(name: str | None) -> str:
    """Keep the family name only: 张三丰 -> 张**."""
    if not name:
        return "-"
    return name[0] + "*" * (len(name) - 1)


def mask_text(text: str) -> str:
    """Mask every run of 7 or more digits in free text (numbers spoken in a transcript, log lines)."""
    return _DIGITS.sub(_mask_match, text)


def _mask_match(m: re.Match) -> str:
    found = m.group(0)
    if found[0] == "-" or "." in found:
        return found                                  # a channel sequence, a uniqueid
    digits = re.sub(r"\D", "", found)
    return mask_number(digits) if len(digits) >= 7 else found
