"""Weighted phrase matching over a joined (space-free) transcript.

A `PhraseMatcher` is compiled once from configuration entries and then only
read. Entries are `(phrase, label, weight)`. A phrase `A~B` matches A followed
by B within `gap` characters. Literal phrases are found with one regular
expression, longest first, so 拖欠工资 wins over 欠工资 at the same place.
Phrases listed as `ignore` consume their letters and count for nothing.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

GAP = 8


@dataclass(frozen=True)
class Hit:
    start: int
    end: int
    text: str                                  # the words heard
    labels: tuple[tuple[str, float], ...]      # (label, weight) pairs


def parse_weighted(item: Any) -> tuple[str, float]:
    """`"词: 2"` or `{"词": 2}` or `"词"` -> (phrase, weight)."""
    if isinstance(item, Mapping):
        if len(item) != 1:
            raise ValueError(f"a weighted phrase is one 'phrase: weight' pair, got {dict(item)!r}")
        ((phrase, weight),) = item.items()
        return str(phrase).strip(), float(weight)
    text = str(item).strip()
    if ": " in text:
        phrase, _, weight = text.rpartition(": ")
        return phrase.strip(), float(weight)
    return text, 1.0


def trie_pattern(words: Iterable[str]) -> str:
    """One regular expression for many literal words, as a trie: 拖欠(?:工资)? rather than
    拖欠工资|拖欠. At each place it matches the longest word that starts there (greedy optional
    groups), as a longest-first alternation would, but tries each letter once: the cost no
    longer grows with the number of words."""
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}                           # the end of a word

    def build(node: dict[str, Any]) -> str:
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return build(root)


def compact(phrase: str) -> str:
    """Phrases are matched against joined text: drop the spaces a config writer may put in."""
    return "".join(phrase.split())


class PhraseMatcher:
    """Finds configured phrases in text. Immutable after construction."""

    __slots__ = ("_literal", "_regex", "_gapped", "_ignored", "__weakref__")

    def __init__(
        self,
        entries: Iterable[tuple[str, str, float]],
        ignore: Iterable[str] = (),
        gap: int = GAP,
    ) -> None:
        literal: dict[str, list[tuple[str, float]]] = {}
        gapped: dict[str, list[tuple[str, float]]] = {}
        for phrase, label, weight in entries:
            phrase = compact(phrase)
            if not phrase:
                continue
            target = gapped if "~" in phrase else literal
            target.setdefault(phrase, []).append((label, float(weight)))
        ignored = frozenset(compact(p) for p in ignore if compact(p))
        for phrase in ignored:
            literal.setdefault(phrase, [])
        self._literal = {k: tuple(v) for k, v in literal.items()}
        self._ignored = ignored
        self._regex = re.compile(trie_pattern(self._literal)) if self._literal else None
        compiled = []
        for phrase, labels in gapped.items():
            words = [p for p in phrase.split("~") if p]
            pattern = f"[^\\s]{{0,{gap}}}?".join(map(re.escape, words))
            # the rarest-looking part (the longest) first: a substring test skips most texts cheaply
            compiled.append((tuple(sorted(words, key=len, reverse=True)), re.compile(pattern), tuple(labels)))
        self._gapped = tuple(compiled)

    @property
    def phrases(self) -> tuple[str, ...]:
        """The literal phrases (ignored ones included), for a segmenter's dictionary."""
        return tuple(self._literal)

    def __bool__(self) -> bool:
        return bool(self._regex or self._gapped)

    def find(self, text: str) -> list[Hit]:
        """All hits, in text order (ignored phrases left out)."""
        hits = list(self._iter_literal(text))
        for words, regex, labels in self._gapped:
            if words[0] not in text or (len(words) > 1 and words[1] not in text):
                continue
            for m in regex.finditer(text):
                hits.append(Hit(m.start(), m.end(), m.group(0), labels))
        hits.sort(key=lambda h: (h.start, -h.end))
        return hits

    def _iter_literal(self, text: str) -> Iterator[Hit]:
        if self._regex is None:
            return
        for m in self._regex.finditer(text):
            labels = self._literal[m.group(0)]
            if labels:
                yield Hit(m.start(), m.end(), m.group(0), labels)

    def first(self, text: str) -> Hit | None:
        hits = self.find(text)
        return hits[0] if hits else None
