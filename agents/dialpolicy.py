"""The dialling policy (pure): every number the hotline dials out — callbacks,
transfers (12366, 110/119/120/122, departments), a supervisor's phone, seats'
external calls — is normalised to one canonical national form and checked
against an allow policy before anything reaches a dial string.

- Input: digits only, with one optional leading ``+``. Anything else (``&``,
  ``,``, ``/``, ``@``, letters, spaces, CR/LF, ``*``, ``#``) is refused, never
  cleaned up: a value that needs cleaning is not a number the caller meant.
- Canonical forms are ivr/numbers.py's (the one normaliser, ``parse_number``):
  mobiles ``1[3-9]`` + 9 digits (``+86``/``0086``/``86``/``0`` prefixes
  dropped); landlines ``0`` + area code + local number (a local number without
  area code gets the site's ``area_code``); toll-free ``400``/``800``; service
  numbers (``110``, ``12345``, ``12366``, ``95xxx``) as they are; international
  ``00`` + country code (refused unless listed). Its NumberError becomes a
  Refusal here.
- Refused unless listed in ``allow_prefixes``: international numbers,
  premium prefixes (``160``/``168`` voice information, ``1259x`` value-added
  services). Always refused: more than ``max_length`` characters.
- Limits (counted in Redis by ``agents/dial_limits.py``): per number per hour
  and for the whole hotline per hour; service numbers (110 and the like) are
  never limited.

    v = check(DialPolicy(area_code="0731"), "+8613800001234")
    v.ok, v.number, v.kind        # True, "13800001234", "mobile"
"""
from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ivr.numbers import NumberError, NumberKind, NumberProblem, parse_number


class Refusal(str, enum.Enum):
    EMPTY = "empty"
    NOT_DIGITS = "not_digits"
    TOO_LONG = "too_long"
    TOO_SHORT = "too_short"
    UNKNOWN_FORM = "unknown_form"
    INTERNATIONAL = "international"
    PREMIUM = "premium"
    DENIED = "denied"
    NUMBER_LIMIT = "number_limit"        # this number dialled too often this hour
    HOURLY_LIMIT = "hourly_limit"        # the hotline dialled out too often this hour

    def __str__(self) -> str:
        return self.value


# What the caller (or the operator's console) is told, zh-CN.
PROMPTS: Mapping[Refusal, str] = {
    Refusal.EMPTY: "未获取到号码，无法拨打。",
    Refusal.NOT_DIGITS: "您输入的号码格式不正确，无法拨打。",
    Refusal.TOO_LONG: "您输入的号码过长，无法拨打。",
    Refusal.TOO_SHORT: "您输入的号码过短，无法拨打。",
    Refusal.UNKNOWN_FORM: "您输入的号码不是有效的国内电话号码，无法拨打。",
    Refusal.INTERNATIONAL: "本热线不能拨打国际及港澳台号码。",
    Refusal.PREMIUM: "本热线不能拨打声讯及增值业务号码。",
    Refusal.DENIED: "该号码不允许拨打。",
    Refusal.NUMBER_LIMIT: "该号码一小时内的呼叫次数已达上限，请稍后再试。",
    Refusal.HOURLY_LIMIT: "当前外呼过于频繁，请稍后再试。",
}

DEFAULT_PREMIUM = ("160", "168", "1259")
_INPUT = re.compile(r"\+?[0-9]+")            # fullmatch: no trailing newline slips through
_AREA = re.compile(r"0(?:10|2[0-9]|[3-9][0-9]{2})")


@dataclass(frozen=True, slots=True)
class DialPolicy:
    area_code: str = "0731"                  # the site's own: local numbers are dialled with it
    allow_prefixes: tuple[str, ...] = ()     # canonical prefixes allowed although international/premium
    deny_prefixes: tuple[str, ...] = ()      # canonical prefixes always refused
    premium_prefixes: tuple[str, ...] = DEFAULT_PREMIUM
    max_length: int = 20                     # characters of the raw value
    per_number_per_hour: int = 10            # 0: no limit
    per_hour: int = 600                      # the whole hotline; 0: no limit

    def __post_init__(self) -> None:
        if not _AREA.fullmatch(self.area_code):
            raise ValueError(f"area_code: expected 0 and a Chinese area code (e.g. 0731), got {self.area_code!r}")
        for name in ("allow_prefixes", "deny_prefixes", "premium_prefixes"):
            for p in getattr(self, name):
                if not re.fullmatch(r"[0-9]{1,20}", p):
                    raise ValueError(f"{name}: expected digits, got {p!r}")

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any]) -> DialPolicy:
        def prefixes(key: str, default: Iterable[str] = ()) -> tuple[str, ...]:
            v = d.get(key, list(default))
            if not isinstance(v, (list, tuple)):
                raise ValueError(f"{key}: expected a list of digit prefixes, got {v!r}")
            return tuple(str(x) for x in v)
        return cls(area_code=str(d.get("area_code", "0731")), allow_prefixes=prefixes("allow_prefixes"),
                   deny_prefixes=prefixes("deny_prefixes"),
                   premium_prefixes=prefixes("premium_prefixes", DEFAULT_PREMIUM),
                   max_length=int(d.get("max_length", 20)),
                   per_number_per_hour=int(d.get("per_number_per_hour", 10)), per_hour=int(d.get("per_hour", 600)))


@dataclass(frozen=True, slots=True)
class Verdict:
    raw: str
    number: str | None = None       # canonical national form (only digits), None when refused before that
    kind: str = ""                  # mobile, landline, toll_free, service, international
    refusal: Refusal | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.refusal is None

    @property
    def limited(self) -> bool:
        """Counted against the per-number and per-hour limits (service numbers such as 110 never are)."""
        return self.ok and self.kind != "service"

    @property
    def prompt(self) -> str:
        """What the caller hears when the number is refused ("" when it is not)."""
        return PROMPTS[self.refusal] if self.refusal is not None else ""

    def refused(self, why: Refusal, **detail: Any) -> Verdict:
        return Verdict(self.raw, self.number, self.kind, why, dict(detail))


_REFUSALS: Mapping[NumberProblem, Refusal] = {
    NumberProblem.EMPTY: Refusal.EMPTY,
    NumberProblem.NOT_DIGITS: Refusal.NOT_DIGITS,
    NumberProblem.TOO_SHORT: Refusal.TOO_SHORT,
    NumberProblem.UNKNOWN_FORM: Refusal.UNKNOWN_FORM,
    NumberProblem.BAD_INTERNATIONAL: Refusal.INTERNATIONAL,   # refused as any number abroad is
}


def normalise(raw: str, area_code: str = "0731") -> tuple[str, str] | Refusal:
    """The canonical national form and kind of a dialled value, or why it is not a number.

    Digits only (one leading ``+``) are accepted; the forms are ivr/numbers.py's, with an
    international number written ``00`` + country code (a dial string holds only digits)."""
    if not raw:
        return Refusal.EMPTY
    if not _INPUT.fullmatch(raw):
        return Refusal.NOT_DIGITS
    try:
        got = parse_number(raw, area_code=area_code)
    except NumberError as exc:
        return _REFUSALS[exc.problem]
    if got.kind is NumberKind.INTERNATIONAL:
        return "00" + got.number.removeprefix("+"), got.kind.value
    return got.number, got.kind.value


def check(policy: DialPolicy, raw: Any) -> Verdict:
    """The policy's verdict on a value about to be dialled (limits not counted here)."""
    if raw is None:
        return Verdict("", refusal=Refusal.EMPTY)
    text = str(raw)
    v = Verdict(text)
    if text and not _INPUT.fullmatch(text):
        return v.refused(Refusal.NOT_DIGITS)
    if len(text) > policy.max_length:
        return v.refused(Refusal.TOO_LONG, length=len(text), max_length=policy.max_length)
    got = normalise(text, policy.area_code)
    if isinstance(got, Refusal):
        return v.refused(got)
    number, kind = got
    v = Verdict(text, number, kind)
    if any(number.startswith(p) for p in policy.deny_prefixes):
        return v.refused(Refusal.DENIED)
    allowed = any(number.startswith(p) for p in policy.allow_prefixes)
    if kind == "international" and not allowed:
        return v.refused(Refusal.INTERNATIONAL)
    if kind != "international" and not allowed and any(number.startswith(p) for p in policy.premium_prefixes):
        return v.refused(Refusal.PREMIUM)
    return v


def is_canonical(number: str) -> bool:
    """A value that can go into a dial string: only digits, at most 20 (checked again in the dialplan)."""
    return bool(re.fullmatch(r"[0-9]{1,20}", number or ""))
