"""Phone numbers: the one normaliser, and the CSV caller lists admins keep.

Numbers are kept in one national form so a list entry written as
``+86 138-0000-1234`` matches a caller presented as ``008613800001234``, and
so the dialling policy (agents/dialpolicy.py) dials what the lists compare:

- mobiles: 11 digits, ``13800001234`` (``+86``/``0086``/``86`` and a trunk 0 dropped);
- landlines: with the trunk 0 and area code, ``073122334455`` (``+86 731 ...``
  gets its trunk 0 back);
- service numbers (110, 12345, 12366, 95588) and 400/800 numbers as dialled;
- local landlines without an area code stay as given unless an area code is
  passed in; numbers abroad become ``+<country><number>`` (7 to 15 digits).

``parse_number`` gives the form and its kind (``NumberKind``) or a NumberError
whose ``problem`` (``NumberProblem``) says why; ``normalize_number`` the form.

Pure functions; reading a list file from disk is the one helper that does I/O.
"""
from __future__ import annotations

import csv
import enum
import io
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivr.problems import LIST_LINE, IvrError, Problem, join

_SEPARATORS = re.compile(r"[\s\-().\u3000\u00a0/]")
_FULLWIDTH = str.maketrans("０１２３４５６７８９＋（）－", "0123456789+()-")
_DIGITS = re.compile(r"\+?[0-9]+")           # ASCII digits only: other scripts' digits are not dialable
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
# 0, an area code (10 and 2x: 8-digit numbers; 3-digit codes: 7 or 8 digits), a local number not starting with 0
_LANDLINE = re.compile(r"0(?:10|2[0-9])[1-9][0-9]{7}|0[3-9][0-9]{2}[1-9][0-9]{6,7}")
_SERVICE = re.compile(r"1[0-9]{2}|1[0-2][0-9]{3}|9[56][0-9]{3,4}")   # 110, 12345, 12366, 95588, 96xxx
_FREEPHONE = re.compile(r"[48]00[0-9]{7}")
_LOCAL = re.compile(r"[2-9][0-9]{6,7}")
_ANONYMOUS = frozenset({"", "anonymous", "unknown", "restricted", "private", "unavailable"})


class NumberKind(enum.StrEnum):
    MOBILE = "mobile"
    LANDLINE = "landline"              # with the trunk 0 and area code
    LOCAL = "local"                    # a landline without area code (none was given to add)
    TOLL_FREE = "toll_free"            # 400/800
    SERVICE = "service"                # 110, 12345, 95588: as dialled
    INTERNATIONAL = "international"


class NumberProblem(enum.StrEnum):
    """Why a string is not a phone number (``NumberError.problem``)."""

    EMPTY = "empty"
    NOT_DIGITS = "not_digits"          # something other than digits, separators and one leading +
    TOO_SHORT = "too_short"
    UNKNOWN_FORM = "unknown_form"      # digits, but no number of any kind
    BAD_INTERNATIONAL = "bad_international"  # a number abroad with fewer than 7 or more than 15 digits


class NumberError(IvrError):
    """A string that is not a phone number we can use; ``problem`` says why."""

    error_id = "bad_number"

    def __init__(self, message: str, problem: NumberProblem, **details: Any) -> None:
        super().__init__(message, **details)
        self.problem = problem


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """A number in its one canonical form (see the module doc) and what kind of number it is."""

    number: str
    kind: NumberKind


def is_anonymous(raw: str | None) -> bool:
    """True when a caller id carries no number (withheld or missing)."""
    return raw is None or raw.strip().lower() in _ANONYMOUS


def normalize_number(raw: str, *, area_code: str | None = None) -> str:
    """Normalise a phone number (see the module doc) or raise NumberError."""
    return parse_number(raw, area_code=area_code).number


def parse_number(raw: str, *, area_code: str | None = None) -> PhoneNumber:
    """The canonical form and kind of a phone number, or NumberError (with its ``problem``).

    Separators (spaces, ``-``, ``()``, ``.``, ``/``) and full-width digits are accepted; a
    caller that needs strictly digits checks that itself (agents/dialpolicy.py)."""
    compact = _SEPARATORS.sub("", str(raw).strip().translate(_FULLWIDTH))
    if not compact:
        raise NumberError("empty number", NumberProblem.EMPTY, raw=raw)
    if not _DIGITS.fullmatch(compact):
        raise NumberError(f"not a phone number: {raw!r}", NumberProblem.NOT_DIGITS, raw=raw)
    if compact.startswith("+"):
        if compact.startswith("+86"):
            return _after_country_code(compact[3:], raw)
        return _international(compact[1:], raw)
    if compact.startswith("0086"):
        return _after_country_code(compact[4:], raw)
    if compact.startswith("00"):
        return _international(compact[2:], raw)
    if compact.startswith("86") and _MOBILE.fullmatch(compact[2:]):
        return PhoneNumber(compact[2:], NumberKind.MOBILE)
    return _national(compact, raw, area_code)


def _after_country_code(rest: str, raw: str) -> PhoneNumber:
    """After +86/0086: a mobile, a 400/800 number, or a landline whose trunk 0 was left out
    (``+86 731 2868 0001``); service and local numbers have no international form."""
    if len(rest) < 3:
        raise NumberError(f"number too short: {raw!r}", NumberProblem.TOO_SHORT, raw=raw)
    if _MOBILE.fullmatch(rest):
        return PhoneNumber(rest, NumberKind.MOBILE)
    if _FREEPHONE.fullmatch(rest):
        return PhoneNumber(rest, NumberKind.TOLL_FREE)   # +86 400 123 4567: 400/800 numbers have no trunk 0
    got = _national(rest if rest.startswith("0") else "0" + rest, raw, None)   # a trunk 0 given anyway is kept
    if got.kind not in (NumberKind.MOBILE, NumberKind.LANDLINE):
        raise NumberError(f"not a valid phone number: {raw!r}", NumberProblem.UNKNOWN_FORM, raw=raw)
    return got


def _national(n: str, raw: str, area_code: str | None) -> PhoneNumber:
    if len(n) < 3:
        raise NumberError(f"number too short: {raw!r}", NumberProblem.TOO_SHORT, raw=raw)
    if _MOBILE.fullmatch(n):
        return PhoneNumber(n, NumberKind.MOBILE)
    if n.startswith("0") and _MOBILE.fullmatch(n[1:]):
        return PhoneNumber(n[1:], NumberKind.MOBILE)  # a mobile with the trunk 0 some exchanges add (013800001234)
    if _LANDLINE.fullmatch(n):
        return PhoneNumber(n, NumberKind.LANDLINE)
    if _FREEPHONE.fullmatch(n):
        return PhoneNumber(n, NumberKind.TOLL_FREE)
    if _SERVICE.fullmatch(n):
        return PhoneNumber(n, NumberKind.SERVICE)
    if _LOCAL.fullmatch(n):
        if area_code:
            return PhoneNumber(area_code + n, NumberKind.LANDLINE)
        return PhoneNumber(n, NumberKind.LOCAL)
    if n.startswith("1") and len(n) != 11 and len(n) > 5:
        raise NumberError(f"mobile number with {len(n)} digits: {raw!r}", NumberProblem.UNKNOWN_FORM, raw=raw)
    raise NumberError(f"not a valid phone number: {raw!r}", NumberProblem.UNKNOWN_FORM, raw=raw)


def _international(digits: str, raw: str) -> PhoneNumber:
    if not 7 <= len(digits) <= 15:
        raise NumberError(f"international number with {len(digits)} digits: {raw!r}",
                          NumberProblem.BAD_INTERNATIONAL, raw=raw)
    return PhoneNumber("+" + digits, NumberKind.INTERNATIONAL)


def try_normalize(raw: str | None, *, area_code: str | None = None) -> str | None:
    """normalize_number, or None for withheld/invalid numbers."""
    if raw is None or is_anonymous(raw):
        return None
    try:
        return normalize_number(raw, area_code=area_code)
    except NumberError:
        return None


def normalize_did(raw: str | None, *, area_code: str | None = None) -> str:
    """A dialled number (DID) reduced to its digits in national form, for comparisons.

    ``+8612345``, ``008612345`` -> ``12345``; ``+867312233445`` -> ``07312233445``; with the trunk's
    area code (``0731``), ``073112345`` (12345 dialled with the area code) -> ``12345``.
    """
    if not raw:
        return ""
    text = str(raw).strip().translate(_FULLWIDTH)
    digits = re.sub(r"\D", "", text)
    intl = text.startswith("+86") or digits.startswith("0086")
    if text.startswith("+86"):
        digits = digits[2:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    if intl and len(digits) >= 9 and not digits.startswith(("0", "1")):
        digits = "0" + digits               # a landline DID in E.164: its trunk 0 back
    if area_code and digits.startswith(area_code) and _SERVICE.fullmatch(digits[len(area_code):]):
        digits = digits[len(area_code):]
    return digits


@dataclass(frozen=True, slots=True)
class EdgeCaller:
    """A caller as the network presented them, in the one form the tree, lists and links see."""

    number: str            # canonical (normalize_number), "" when withheld
    withheld: bool         # no number: no repeat-caller link, no callback by caller id
    raw_valid: bool = True  # False: a number was presented but is not one (kept as bare digits)


WITHHELD = EdgeCaller("", True)


def edge_caller(raw: str | None, *, area_code: str | None = None) -> EdgeCaller:
    """Normalise the caller id a trunk presented (``+86…``, ``0086…``, ``0731…``, ``013800001234``).

    Withheld or anonymous callers (no number, ``anonymous``, ``restricted``...) get WITHHELD. A value
    that is not a phone number keeps at most its digits (never letters or SIP syntax)."""
    if raw is not None:
        raw = str(raw).strip()
        m = re.fullmatch(r"(?:sips?:)?([^@;]*)(?:@.*)?", raw)     # a SIP URI user part, when one is given
        raw = m.group(1) if m else raw
    if is_anonymous(raw):
        return WITHHELD
    n = try_normalize(raw, area_code=area_code)
    if n is not None:
        return EdgeCaller(n, False)
    digits = re.sub(r"\D", "", str(raw).translate(_FULLWIDTH))[:20]
    return EdgeCaller(digits, not digits, False) if digits else WITHHELD


def caller_key(raw: str | None) -> str:
    """The form a caller number is compared in: normalised when possible, else bare digits."""
    if is_anonymous(raw):
        return ""
    n = try_normalize(raw)
    return n if n is not None else normalize_did(raw)


# ---------------------------------------------------------------- caller lists


@dataclass(frozen=True, slots=True)
class ListEntry:
    number: str  # normalised
    name: str = ""
    note: str = ""
    line: int = 0


@dataclass(frozen=True, slots=True)
class CallerList:
    id: str
    entries: tuple[ListEntry, ...] = ()
    numbers: frozenset[str] = field(default=frozenset())

    @classmethod
    def of(cls, list_id: str, entries: Iterable[ListEntry]) -> CallerList:
        ents = tuple(entries)
        return cls(list_id, ents, frozenset(e.number for e in ents))

    def __contains__(self, number: object) -> bool:
        return isinstance(number, str) and caller_key(number) in self.numbers


_HEADER_NAMES = {
    "number": "number", "phone": "number", "tel": "number", "mobile": "number",
    "号码": "number", "电话": "number", "电话号码": "number", "手机": "number", "手机号码": "number",
    "name": "name", "姓名": "name", "名字": "name",
    "note": "note", "notes": "note", "comment": "note", "备注": "note", "说明": "note",
}


def parse_caller_list(text: str, *, list_id: str, path: str | None = None,
                      area_code: str | None = None) -> tuple[CallerList, list[Problem]]:
    """Parse a CSV caller list: ``number[,name[,note]]``, an optional header row.

    Blank lines and lines starting with ``#`` are skipped. Every bad line is a
    problem at ``<path>.line.<n>``; the good lines still make the list.
    """
    base = path if path is not None else join("lists", list_id)
    problems: list[Problem] = []
    entries: list[ListEntry] = []
    seen: set[str] = set()
    columns: dict[str, int] | None = None
    if text.startswith("\ufeff"):
        text = text[1:]
    for lineno, raw_line in enumerate(text.splitlines(), start=1):
        stripped = raw_line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            row = next(csv.reader(io.StringIO(raw_line), skipinitialspace=True))
        except csv.Error as exc:
            problems.append(Problem(f"{base}.line.{lineno}", LIST_LINE, f"line {lineno}: {exc}"))
            continue
        cells = [c.strip() for c in row]
        if columns is None and not entries and _is_header(cells):
            columns = {_HEADER_NAMES[c.lower()]: i for i, c in enumerate(cells)
                       if c.lower() in _HEADER_NAMES}
            if "number" not in columns:
                problems.append(Problem(f"{base}.line.{lineno}", LIST_LINE,
                                        f"line {lineno}: header has no number column"))
                columns = {"number": 0}
            continue
        cols = columns or {"number": 0, "name": 1, "note": 2}

        def cell(name: str, cols: dict[str, int] = cols, cells: list[str] = cells) -> str:
            i = cols.get(name)
            return cells[i] if i is not None and i < len(cells) else ""

        raw_number = cell("number")
        if not raw_number:
            problems.append(Problem(f"{base}.line.{lineno}", LIST_LINE, f"line {lineno}: no number"))
            continue
        try:
            number = normalize_number(raw_number, area_code=area_code)
        except NumberError:
            # never the line's text: a list is a file, and its content must not come back in a message
            problems.append(Problem(f"{base}.line.{lineno}", LIST_LINE, f"line {lineno}: not a valid phone number"))
            continue
        if number in seen:
            continue
        seen.add(number)
        entries.append(ListEntry(number, cell("name"), cell("note"), lineno))
    return CallerList.of(list_id, entries), problems


def _is_header(cells: list[str]) -> bool:
    return bool(cells) and cells[0].lower() in _HEADER_NAMES and not re.search(r"\d", cells[0])


def decode_list_bytes(data: bytes) -> str:
    """Lists come from Excel as UTF-8 (with or without BOM) or GB18030."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def read_caller_list(file: Path, *, list_id: str, path: str | None = None,
                     area_code: str | None = None) -> tuple[CallerList, list[Problem]]:
    """Read and parse a list file (I/O: reads ``file``); OSError propagates."""
    return parse_caller_list(decode_list_bytes(Path(file).read_bytes()), list_id=list_id,
                             path=path, area_code=area_code)


def memberships(caller: str | None,
                lists: Mapping[str, CallerList | Collection[str]]) -> frozenset[str]:
    """The ids of the lists a caller's number is on (lists of normalised numbers)."""
    key = caller_key(caller)
    if not key:
        return frozenset()
    out = set()
    for list_id, members in lists.items():
        numbers = members.numbers if isinstance(members, CallerList) else members
        if key in numbers:
            out.add(list_id)
    return frozenset(out)
