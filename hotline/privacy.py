"""Masking of personal data (caller numbers, names) before it reaches a log."""
from __future__ import annotations

import re

# Seven or more digits in a row; Asterisk's channel sequence (a dash and 8 hex
# digits: "Local/12345@from-pstn-00000001;1") is left readable.
_DIGITS = re.compile(r"-[0-9a-f]{8}(?![0-9a-f])|\d{7,}")


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
    return _DIGITS.sub(lambda m: m.group(0) if m.group(0)[0] == "-" else mask_number(m.group(0)), text)
