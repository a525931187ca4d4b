"""The caller's name and callback number as said in the transcript.

Names: "我姓王" gives the family name 王; "我叫王建军" the full name; "叫我老王"
and "我是王女士" the family name. A name must start with a known family
name and may not be a place (我是石峰区的 is not a Mr 石). Numbers: 11-digit
mobiles and 0731 landlines from the digits the normalizer wrote in ASCII;
an eight-digit local number gets the area code.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from tickets.places import PlaceMention
from tickets.rules import CallbackRules, NameRules

_MOBILE = re.compile(r"1[3-9]\d{9}")
_NUMBER_RUN = re.compile(r"\d{7,}")
CUE_WINDOW = 12


@dataclass(frozen=True)
class Found:
    value: str | None
    confidence: float
    evidence: tuple[str, ...] = ()
    reason: str | None = None
    span: tuple[int, int] | None = None        # where in the text (cue included), to leave out of summaries


# -- caller name -----------------------------------------------------------------------------

def find_caller_name(
    text: str, boundaries: frozenset[int], rules: NameRules, places: list[PlaceMention],
) -> Found:
    for phrase in rules.anonymous:
        if phrase in text:
            return Found(None, 0.0, (phrase,), "caller asked to stay anonymous")
    place_spans = [(m.start, m.end) for m in places]

    def clear_of_places(start: int, end: int) -> bool:
        return not any(s < end and start < e for s, e in place_spans)

    best: Found | None = None
    for cue in rules.full_cues:
        for m in _occurrences(cue, text):
            name = _full_name(text, m.end(), boundaries, rules)
            if name and clear_of_places(m.end(), m.end() + len(name)):
                found = Found(name, 0.9 if len(name) > 1 else 0.75, (cue + name,), span=(m.start(), m.end() + len(name)))
                best = _better(best, found)
    for cue in rules.surname_cues:
        for m in _occurrences(cue, text):
            surname = _surname_at(text, m.end(), rules)
            if surname and clear_of_places(m.end(), m.end() + len(surname)):
                best = _better(best, Found(surname, 0.85, (cue + surname,), span=(m.start(), m.end() + len(surname))))
    for cue in rules.call_me_cues + ("我是",):
        for m in _occurrences(cue, text):
            pos = m.end()
            if text.startswith(("老", "小"), pos):
                pos += 1
            surname = _surname_at(text, pos, rules)
            if not surname:
                continue
            after = text[pos + len(surname):]
            titled = any(after.startswith(t) for t in rules.titles)
            if (titled or cue != "我是") and clear_of_places(pos, pos + len(surname)):
                best = _better(best, Found(surname, 0.8 if titled else 0.6, (text[m.start():pos + len(surname) + 2],),
                                           span=(m.start(), pos + len(surname))))
    return best or Found(None, 0.0, (), "no name given")


class _At:
    """Where a literal cue was found (the part of re.Match the finders use)."""
    __slots__ = ("_start", "_end")

    def __init__(self, start: int, end: int) -> None:
        self._start, self._end = start, end

    def start(self) -> int:
        return self._start

    def end(self) -> int:
        return self._end


def _occurrences(cue: str, text: str) -> list[_At]:
    """Non-overlapping occurrences of `cue` in `text` (str.find: most cues are absent)."""
    out: list[_At] = []
    if not cue:
        return out
    pos = text.find(cue)
    while pos >= 0:
        out.append(_At(pos, pos + len(cue)))
        pos = text.find(cue, pos + len(cue))
    return out


def _better(a: Found | None, b: Found) -> Found:
    if a is None:
        return b
    # A full name beats a bare family name; otherwise keep the more confident.
    if (b.value and a.value and len(b.value) > len(a.value) and b.value.startswith(a.value)) or b.confidence > a.confidence:
        return b
    return a


def _surname_at(text: str, pos: int, rules: NameRules) -> str | None:
    for compound in rules.compound_surnames:
        if text.startswith(compound, pos):
            return compound
    ch = text[pos:pos + 1]
    return ch if ch and ch in rules.surnames else None


def _full_name(text: str, pos: int, boundaries: frozenset[int], rules: NameRules) -> str | None:
    surname = _surname_at(text, pos, rules)
    if not surname:
        return None
    end = pos + len(surname)
    # The word the recogniser (or jieba) heard: 王建军 as one word.
    word_end = next((b for b in sorted(boundaries) if b > pos), None)
    if word_end is not None and word_end - pos >= 2 and word_end - pos <= 4 and pos in boundaries:
        candidate = text[pos:word_end]
        if any(candidate[len(surname):].startswith(t) for t in rules.titles):
            return surname                      # 沈先生 as one word: the family name and a title
        if not any(c in rules.stop_chars for c in candidate[len(surname):]):
            return candidate
    # Otherwise single characters after the family name, up to a three-character name.
    given = ""
    while len(surname) + len(given) < 3 and end < len(text):
        ch = text[end]
        if ch in rules.stop_chars or not ("\u4e00" <= ch <= "\u9fff"):
            break
        if boundaries and end not in boundaries:
            break
        nxt = next((b for b in sorted(boundaries) if b > end), end + 1) if boundaries else end + 1
        if nxt - end != 1:
            break                               # a longer word follows: the name has ended
        given += ch
        end += 1
    return surname + given


# -- callback number -------------------------------------------------------------------------

def find_callback_number(text: str, rules: CallbackRules) -> Found:
    candidates: list[Found] = []
    odd: list[str] = []
    for m in _NUMBER_RUN.finditer(text):
        digits = m.group(0)
        if digits in rules.ignore_numbers:
            continue
        number = _phone_in(digits, rules.area_code)
        before = text[max(0, m.start() - CUE_WINDOW):m.start()]
        cue = max((c for c in rules.cues if c in before), key=before.rfind, default=None)
        if number is None:
            odd.append(digits)
            continue
        confidence = 0.95 if cue else 0.75
        if len(digits) > len(number.replace("-", "")):        # extra digits around it
            confidence -= 0.2
        cue_start = m.start() - len(before) + before.rfind(cue) if cue else m.start()
        candidates.append(Found(number, confidence, ((cue or "") + digits,), span=(cue_start, m.end())))
    if candidates:
        return max(candidates, key=lambda f: (f.confidence, f.span[0] if f.span else 0))
    if odd:
        return Found(None, 0.0, tuple(odd), f"number heard is not a phone number ({len(odd[0])} digits)")
    return Found(None, 0.0, (), "no number said")


def _phone_in(digits: str, area_code: str) -> str | None:
    if digits.startswith(area_code) and len(digits) >= len(area_code) + 7:
        local = digits[len(area_code):len(area_code) + 8]
        if len(local) == 8:
            return f"{area_code}-{local}"
        return None
    mobile = _MOBILE.search(digits)
    if mobile and (len(digits) == 11 or mobile.start() == 0):
        return mobile.group(0)
    if len(digits) == 8 and digits[0] in "2345678":
        return f"{area_code}-{digits}"
    return None
