"""Places in a transcript: districts, streets, towns, roads, landmarks -> district.

Names are matched by their characters first. Where the characters do not
match, a name is also matched by its pinyin with accent-tolerant keys
(鹿松区 ≈ 芦淞区, 河塘 ≈ 荷塘, 六口 ≈ 渌口): a long name by itself, a two-syllable
name only with a place word next to it (区, 县, 这边, 在 ...), and a suffix such
as 区/县/市/镇/街道 must be heard as such (李玲是 is not 醴陵市).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pypinyin import Style, pinyin

from tickets.phrases import trie_pattern

KIND_WEIGHT = {"district": 1.0, "street": 0.9, "town": 0.9, "landmark": 0.85, "road": 0.75, "zone": 0.0}
KIND_RANK = {"district": 0, "zone": 1, "town": 2, "street": 3, "road": 4, "landmark": 4}
SHORT_FORM_FACTOR = 0.9
PINYIN_FACTOR = 0.8
SUFFIXES = ("街道", "区", "县", "市", "镇", "乡", "路", "街")
STRIP_SUFFIXES = {"street": ("街道",), "town": ("镇", "乡")}
_INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h",
             "j", "q", "x", "r", "z", "c", "s", "y", "w")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_NAMED_SITE = re.compile(
    r"^(?:那边|这边|那里|这里|附近|旁边|的|一个|那个|这个|有个|有一个|一家|有家|有一家|某个|我们|我家)*"
    r"((?:(?![的里在])[\u4e00-\u9fffA-Za-z0-9]){2,8}(?:小区|花园|家园|公寓|大厦|新村|社区|村|市场|广场|大院|宿舍|酒店|宾馆))"
)
_GENERIC_SITE = re.compile(r"^(?:[整全这那一某每该各几本]|有个|有家)")
_HOUSE_NUMBER = re.compile(r"^(?:\d+|[一二三四五六七八九十百零]+)号")


@dataclass(frozen=True)
class Place:
    name: str                   # canonical name
    kind: str                   # district, street, town, road, landmark, zone
    district: str | None        # the district it lies in (None: several, or a zone)


@dataclass(frozen=True)
class PlaceMention:
    start: int
    end: int
    heard: str                  # the words as recognised
    place: Place
    weight: float
    by_pinyin: bool


@dataclass(frozen=True)
class PlaceGuess:
    district: str | None
    district_code: str | None
    district_confidence: float
    address: str | None
    address_confidence: float
    district_evidence: tuple[str, ...]
    address_evidence: tuple[str, ...]


@dataclass(frozen=True)
class PinyinFuzz:
    syllables: Mapping[str, str]
    initials: Mapping[str, str]
    finals: Mapping[str, str]

    def key(self, syllable: str) -> str:
        s = self.syllables.get(syllable, syllable)
        for initial in _INITIALS:
            if s.startswith(initial):
                head, final = initial, s[len(initial):]
                break
        else:
            head, final = "", s
        return self.initials.get(head, head) + self.finals.get(final, final)


@lru_cache(maxsize=16384)
def char_syllables(ch: str) -> tuple[str, ...]:
    """Toneless readings of one character (all of them for polyphones); () if not Chinese."""
    if not _CJK.match(ch):
        return ()
    readings = pinyin(ch, style=Style.NORMAL, heteronym=True, errors="ignore")
    return tuple(r.replace("ü", "v") for r in readings[0]) if readings else ()


class Gazetteer:
    """District codes and a place dictionary, compiled for matching. Read-only after construction."""

    def __init__(
        self,
        codes: Mapping[str, str],
        forms: Iterable[tuple[str, Place, float]],
        followers: Iterable[str],
        leaders: Iterable[str],
        fuzz: PinyinFuzz,
    ) -> None:
        self.codes = dict(codes)
        self._forms: dict[str, tuple[Place, float]] = {}
        for form, place, weight in forms:
            if form and (form not in self._forms or self._forms[form][1] < weight):
                self._forms[form] = (place, weight)
        self._regex = re.compile(trie_pattern(self._forms))
        self._followers = tuple(sorted(set(followers), key=len, reverse=True))
        self._leaders = tuple(sorted(set(leaders), key=len, reverse=True))
        self._fuzz = fuzz
        self._keys: Callable[[str], frozenset[str]] = lru_cache(maxsize=16384)(self._char_keys)
        index: dict[str, list[tuple[str, tuple[frozenset[str], ...], int]]] = {}
        for form in self._forms:
            if len(form) < 2 or not all(_CJK.match(c) for c in form):
                continue
            keys = tuple(self._keys(c) for c in form)
            if not all(keys):
                continue
            fixed = next((len(s) for s in SUFFIXES if form.endswith(s) and len(form) > len(s) + 1), 0)
            for k in keys[0]:
                index.setdefault(k, []).append((form, keys, fixed))
        for entries in index.values():
            entries.sort(key=lambda e: len(e[0]), reverse=True)
        self._index = index
        # by the first two syllables: most positions of a transcript start no place name at all
        index2: dict[tuple[str, str], list[tuple[str, tuple[frozenset[str], ...], int]]] = {}
        for entries in index.values():
            for entry in entries:
                for k1 in entry[1][0]:
                    for k2 in entry[1][1]:
                        bucket = index2.setdefault((k1, k2), [])
                        if entry not in bucket:
                            bucket.append(entry)
        for entries in index2.values():
            entries.sort(key=lambda e: len(e[0]), reverse=True)
        self._index2 = index2

    # -- construction from configuration -------------------------------------------------
    @classmethod
    def from_config(cls, data: Mapping[str, Any]) -> Gazetteer:
        codes: dict[str, str] = {}
        forms: list[tuple[str, Place, float]] = []
        for d in data.get("districts") or ():
            name, code = str(d["name"]), str(d["code"])
            codes[name] = code
            place = Place(name, "district", name)
            forms.append((name, place, 1.0))
            forms.extend((str(a), place, 0.95) for a in d.get("aliases") or ())
        if not codes:
            raise ValueError("places: no districts")
        for z in data.get("zones") or ():
            place = Place(str(z["name"]), "zone", None)
            forms.append((place.name, place, 0.0))
            forms.extend((str(a), place, 0.0) for a in z.get("aliases") or ())
        no_short = {str(s) for s in data.get("no_short_form") or ()}
        for district, kinds in (data.get("places") or {}).items():
            owner = None if district in (None, "shared") else str(district)
            if owner is not None and owner not in codes:
                raise ValueError(f"places.{district}: not a district listed under districts")
            for kind, names in (kinds or {}).items():
                if kind not in KIND_WEIGHT:
                    raise ValueError(f"places.{district}.{kind}: unknown kind (use {', '.join(KIND_WEIGHT)})")
                for raw in names or ():
                    name = str(raw)
                    place = Place(name, kind, owner)
                    weight = KIND_WEIGHT[kind] if owner else 0.0
                    forms.append((name, place, weight))
                    for suffix in STRIP_SUFFIXES.get(kind, ()):
                        short = name[: -len(suffix)]
                        if name.endswith(suffix) and len(short) >= 2 and short not in no_short:
                            forms.append((short, place, weight * SHORT_FORM_FACTOR))
        fuzzy = data.get("pinyin_fuzzy") or {}
        fuzz = PinyinFuzz(
            syllables=dict(fuzzy.get("syllables") or {}),
            initials=dict(fuzzy.get("initials") or {}),
            finals=dict(fuzzy.get("finals") or {}),
        )
        return cls(codes, forms, data.get("place_followers") or (), data.get("place_leaders") or (), fuzz)

    @property
    def words(self) -> tuple[str, ...]:
        """Every place form, for the word segmenter's dictionary."""
        return tuple(self._forms)

    def code_of(self, district: str | None) -> str | None:
        return self.codes.get(district) if district else None

    # -- matching -------------------------------------------------------------------------
    def _char_keys(self, ch: str) -> frozenset[str]:
        return frozenset(self._fuzz.key(s) for s in char_syllables(ch))

    def find(self, text: str) -> list[PlaceMention]:
        """Place mentions in text order: exact ones, then pinyin ones where nothing matched."""
        mentions: list[PlaceMention] = []
        covered = bytearray(len(text))
        for m in self._regex.finditer(text):
            place, weight = self._forms[m.group(0)]
            mentions.append(PlaceMention(m.start(), m.end(), m.group(0), place, weight, False))
            covered[m.start():m.end()] = b"\x01" * (m.end() - m.start())
        mentions.extend(self._find_by_pinyin(text, covered))
        mentions.sort(key=lambda x: x.start)
        return mentions

    def _find_by_pinyin(self, text: str, covered: bytearray) -> list[PlaceMention]:
        found: list[PlaceMention] = []
        n, i = len(text), 0
        while i < n - 1:
            if covered[i] or not _CJK.match(text[i]):
                i += 1
                continue
            match = self._pinyin_at(text, i, covered)
            if match is None:
                i += 1
                continue
            form, length = match
            place, weight = self._forms[form]
            found.append(PlaceMention(i, i + length, text[i:i + length], place, weight * PINYIN_FACTOR, True))
            i += length
        return found

    def _pinyin_at(self, text: str, i: int, covered: bytearray) -> tuple[str, int] | None:
        if i + 1 >= len(text):
            return None
        first, second = self._keys(text[i]), self._keys(text[i + 1])
        pairs = [(a, b) for a in first for b in second if (a, b) in self._index2]
        if not pairs:
            return None
        candidates = self._index2[pairs[0]] if len(pairs) == 1 else sorted(
            {e for p in pairs for e in self._index2[p]}, key=lambda e: (-len(e[0]), e[0]))
        for form, keys, fixed in candidates:
            length = len(form)
            if i + length > len(text) or any(covered[i:i + length]):
                continue
            heard = text[i:i + length]
            if heard == form or (fixed and heard[-fixed:] != form[-fixed:]):
                continue
            if not all(self._keys(heard[j]) & keys[j] for j in range(1, length)):
                continue
            if length - fixed < 2 or (length == 2 and not self._in_place_context(text, i, i + length)):
                continue
            return form, length
        return None

    def _in_place_context(self, text: str, start: int, end: int) -> bool:
        after, before = text[end:end + 3], text[max(0, start - 3):start]
        return any(after.startswith(f) for f in self._followers) or any(before.endswith(w) for w in self._leaders)

    # -- resolution -----------------------------------------------------------------------
    def resolve(self, text: str, mentions: list[PlaceMention]) -> PlaceGuess:
        """The district most of the mentions point to, and an address built around them."""
        scores: dict[str, dict[str, float]] = {}
        first_seen: dict[str, int] = {}
        for m in mentions:
            if m.place.district and m.weight > 0:
                per_place = scores.setdefault(m.place.district, {})
                per_place[m.place.name] = max(per_place.get(m.place.name, 0.0), m.weight)
                first_seen.setdefault(m.place.district, m.start)
        district: str | None = None
        confidence = 0.0
        evidence: tuple[str, ...] = ()
        if scores:
            totals = {d: sum(p.values()) for d, p in scores.items()}
            district = max(totals, key=lambda d: (totals[d], -first_seen[d]))
            best = max(scores[district].values())
            confidence = min(0.95, best * totals[district] / sum(totals.values()))
            evidence = tuple(dict.fromkeys(m.heard for m in mentions if m.place.district == district))
        address, address_conf, address_evidence = self._address(text, mentions, district)
        return PlaceGuess(district, self.code_of(district), confidence, address, address_conf,
                          evidence, address_evidence)

    def _address(
        self, text: str, mentions: list[PlaceMention], district: str | None,
    ) -> tuple[str | None, float, tuple[str, ...]]:
        usable = [m for m in mentions if m.place.district in (None, district)]
        chains: list[list[PlaceMention]] = []
        for m in usable:
            # 芦淞区建设中路, 荷塘区金山街道: each next name more precise and right after the last.
            last = chains[-1][-1] if chains else None
            if last and text[last.end:m.start] in ("", "的") and KIND_RANK[m.place.kind] > KIND_RANK[last.place.kind]:
                chains[-1].append(m)
            else:
                chains.append([m])
        chains = [c for c in chains if any(m.place.kind != "district" for m in c)]
        if not chains:
            return None, 0.0, ()
        chain = max(chains, key=lambda c: (max(KIND_RANK[m.place.kind] for m in c), len(c)))
        names = list(dict.fromkeys(m.place.name for m in chain))
        if district and not any(m.place.kind == "district" for m in chain):
            names.insert(0, district)
        address = "".join(names)
        tail = text[chain[-1].end:chain[-1].end + 16]
        number = _HOUSE_NUMBER.match(tail)
        if number:
            address += number.group(0)
        else:
            site = _NAMED_SITE.match(tail)
            if site and not _GENERIC_SITE.match(site.group(1)):
                address += site.group(1)
        confidence = min(0.9, max(m.weight for m in chain) or 0.6)
        return address, confidence, tuple(m.heard for m in chain)
