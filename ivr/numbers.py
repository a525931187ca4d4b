"""Phone numbers: normalisation, and the CSV caller lists admins keep.

Numbers are kept in one national form so a list entry written as
``+86 138-0000-1234`` matches a caller presented as ``008613800001234``:

- mobiles: 11 digits, ``13800001234``;
- landlines: with the trunk 0 and area code, ``073122334455``;
- service numbers (110, 12345, 95588) and 400/800 numbers as dialled;
- local landlines without an area code stay as given unless an area code is
  passed in; numbers abroad become ``+<country><number>``.

Pure functions; reading a list file from disk is the one helper that does I/O.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Collection, Iterable, Mapping

from ivr.problems import LIST_LINE, IvrError, Problem, join

_SEPARATORS = re.compile(r"[\s\-().\u3000\u00a0/]")
_FULLWIDTH = str.maketrans("０１２３４５６７８９＋（）－", "0123456789+()-")
_MOBILE = re.compile(r"1[3-9]\d{9}")
_LANDLINE = re.compile(r"0[1-9]\d{8,10}")
_SERVICE = re.compile(r"1\d{2,4}|9\d{4}")
_FREEPHONE = re.compile(r"[48]00\d{7}")
_LOCAL = re.compile(r"[2-8]\d{6,7}")
_ANONYMOUS = frozenset({"", "anonymous", "unknown", "restricted", "private", "unavailable"})


class NumberError(IvrError):
    """A string that is not a phone number we can use."""

    error_id = "bad_number"


def is_anonymous(raw: str | None) -> bool:
    """True when a caller id carries no number (withheld or missing)."""
    return raw is None or raw.strip().lower() in _ANONYMOUS


def normalize_number(raw: str, *, area_code: str | None = None) -> str:
    """Normalise a phone number (see the module doc) or raise NumberError."""
    text = str(raw).strip().translate(_FULLWIDTH)
    compact = _SEPARATORS.sub("", text)
    if not compact:
        raise NumberError("empty number", raw=raw)
    if not re.fullmatch(r"\+?\d+", compact):
        raise NumberError(f"not a phone number: {raw!r}", raw=raw)
    national: str | None = None
    if compact.startswith("+"):
        digits = compact[1:]
        if digits.startswith("86"):
            national = _with_trunk(digits[2:])
        else:
            return _international(digits, raw)
    elif compact.startswith("0086"):
        national = _with_trunk(compact[4:])
    elif compact.startswith("00"):
        return _international(compact[2:], raw)
    elif compact.startswith("86") and len(compact) == 13 and _MOBILE.fullmatch(compact[2:]):
        national = compact[2:]
    else:
        national = compact
    if len(national) == 12 and national.startswith("0") and _MOBILE.fullmatch(national[1:]):
        national = national[1:]             # a mobile with the trunk 0 some exchanges add (013800001234)
    if _MOBILE.fullmatch(national) or _LANDLINE.fullmatch(national):
        return national
    if _SERVICE.fullmatch(national) or _FREEPHONE.fullmatch(national):
        return national
    if _LOCAL.fullmatch(national):
        return (area_code + national) if area_code else national
    if national.startswith("1") and len(national) != 11 and len(national) > 5:
        raise NumberError(f"mobile number with {len(national)} digits: {raw!r}", raw=raw)
    raise NumberError(f"not a valid phone number: {raw!r}", raw=raw)


def _with_trunk(rest: str) -> str:
    """After +86/0086: mobiles as they are, landlines get their trunk 0 back."""
    if rest.startswith("1") and len(rest) == 11:
        return rest
    if rest and not rest.startswith("0") and len(rest) >= 9:
        return "0" + rest
    return rest


def _international(digits: str, raw: str) -> str:
    if not 7 <= len(digits) <= 15:
        raise NumberError(f"international number with {len(digits)} digits: {raw!r}", raw=raw)
    return "+" + digits


def try_normalize(raw: str | None, *, area_code: str | None = None) -> str | None:
    """normalize_number, or None for withheld/invalid numbers."""
    if is_anonymous(raw):
        return None
    try:
        return normalize_number(raw, area_code=area_code)  # type: ignore[arg-type]
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
    def of(cls, list_id: str, entries: Iterable[ListEntry]) -> "CallerList":
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

        def cell(name: str) -> str:
            i = cols.get(name)
            return cells[i] if i is not None and i < len(cells) else ""

        raw_number = cell("number")
        if not raw_number:
            problems.append(Problem(f"{base}.line.{lineno}", LIST_LINE, f"line {lineno}: no number"))
            continue
        try:
            number = normalize_number(raw_number, area_code=area_code)
        except NumberError as exc:
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
