"""Appeal categories (two levels) from configuration, and keyword classification.

Every keyword hit adds its weight to its category; a second-level keyword
also counts for its first level. A hit that starts and ends on word
boundaries (as the recogniser or jieba split the text) counts fully, one
inside a longer word counts less. The first level with the highest score
wins (ties: the one mentioned first); a second level is named only when one
of its own keywords was heard clearly enough.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tickets.phrases import PhraseMatcher, parse_weighted

INSIDE_WORD_FACTOR = 0.6
LEVEL2_MIN_SCORE = 0.8
MAX_COUNT_PER_KEYWORD = 2
FALLBACK_CONFIDENCE = 0.2


@dataclass(frozen=True)
class CategoryGuess:
    category: tuple[str, ...] | None
    confidence: float
    evidence: tuple[str, ...]
    matched: bool               # False when the category is the fallback


class Taxonomy:
    """The configured category tree. Read-only after construction."""

    def __init__(
        self,
        level1: tuple[str, ...],
        children: Mapping[str, tuple[str, ...]],
        matcher: PhraseMatcher,
        fallback: str | None,
    ) -> None:
        self.level1 = level1
        self.children = dict(children)
        self.parent_of = {c: p for p, cs in self.children.items() for c in cs}
        self.fallback = fallback
        self._matcher = matcher

    @classmethod
    def from_config(cls, data: Mapping[str, Any]) -> Taxonomy:
        level1: list[str] = []
        children: dict[str, tuple[str, ...]] = {}
        entries: list[tuple[str, str, float]] = []
        for i, cat in enumerate(data.get("categories") or ()):
            name = str(cat.get("name") or "").strip()
            if not name:
                raise ValueError(f"categories[{i}]: a category needs a name")
            if name in level1:
                raise ValueError(f"categories[{i}]: duplicate category {name!r}")
            level1.append(name)
            scale = float(cat.get("weight", 1.0))
            entries.extend(_entries(cat.get("keywords"), name, f"categories[{i}]", scale))
            kids: list[str] = []
            for j, child in enumerate(cat.get("children") or ()):
                cname = str(child.get("name") or "").strip()
                if not cname:
                    raise ValueError(f"categories[{i}].children[{j}]: a category needs a name")
                kids.append(cname)
                entries.extend(_entries(child.get("keywords"), f"{name}/{cname}", f"categories[{i}].children[{j}]",
                                        scale * float(child.get("weight", 1.0))))
            children[name] = tuple(kids)
        if not level1:
            raise ValueError("categories: empty")
        fallback = data.get("fallback")
        if fallback is not None and fallback not in level1:
            raise ValueError(f"fallback: {fallback!r} is not a first-level category")
        matcher = PhraseMatcher(entries, ignore=[str(w) for w in data.get("ignore") or ()])
        return cls(tuple(level1), children, matcher, fallback)

    @property
    def words(self) -> tuple[str, ...]:
        """Category names and literal keywords, for the word segmenter's dictionary."""
        return self.level1 + tuple(self.parent_of) + self._matcher.phrases

    def classify(self, text: str, boundaries: frozenset[int]) -> CategoryGuess:
        level1: dict[str, float] = {}
        level2: dict[str, float] = {}
        first: dict[str, int] = {}
        evidence: dict[str, list[str]] = {}
        counts: dict[str, int] = {}
        for hit in self._matcher.find(text):
            counts[hit.text] = counts.get(hit.text, 0) + 1
            if counts[hit.text] > MAX_COUNT_PER_KEYWORD:
                continue
            aligned = hit.start in boundaries and hit.end in boundaries
            factor = 1.0 if aligned or not boundaries else INSIDE_WORD_FACTOR
            for label, weight in hit.labels:
                top, _, sub = label.partition("/")
                score = weight * factor
                level1[top] = level1.get(top, 0.0) + score
                first.setdefault(top, hit.start)
                evidence.setdefault(top, []).append(hit.text)
                if sub:
                    level2[label] = level2.get(label, 0.0) + score
                    evidence.setdefault(label, []).append(hit.text)
        if not level1:
            if self.fallback and text:
                return CategoryGuess((self.fallback,), FALLBACK_CONFIDENCE, (), False)
            return CategoryGuess(None, 0.0, (), False)
        top = max(level1, key=lambda k: (level1[k], -first[k]))
        total = sum(level1.values())
        confidence = min(0.95, (level1[top] / total) * min(1.0, 0.35 + level1[top] / 3))
        subs = {k: v for k, v in level2.items() if k.startswith(top + "/")}
        category: tuple[str, ...] = (top,)
        words = evidence[top]
        if subs:
            best = max(subs, key=lambda k: subs[k])
            if subs[best] >= LEVEL2_MIN_SCORE:
                category = (top, best.partition("/")[2])
                words = evidence[best] + [w for w in evidence[top] if w not in evidence[best]]
        return CategoryGuess(category, confidence, tuple(dict.fromkeys(words)), True)


def _entries(keywords: Any, label: str, path: str, scale: float = 1.0) -> list[tuple[str, str, float]]:
    out = []
    for k, item in enumerate(keywords or ()):
        try:
            phrase, weight = parse_weighted(item)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}.keywords[{k}]: {exc}") from None
        out.append((phrase, label, weight * scale))
    return out

UNCLASSIFIED = "未分类"          # a ticket with no category yet, in reports
