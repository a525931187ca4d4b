"""The extraction dictionaries, loaded from config/tickets into one frozen `Rules`.

`load_rules(path)` reads categories.yaml, places.yaml and rules.yaml from a
folder (default: the repository's config/tickets), compiles every phrase
list once and caches the result per folder and file modification times, so
an edited dictionary is picked up and an unchanged one is never re-read.
The jieba segmenter, with the place names and category keywords added to its
dictionary, is built once per process on first use, quietly.
"""
from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from tickets.model import APPEAL_TYPES, EMERGENCIES, URGENCIES, TicketsError
from tickets.phrases import PhraseMatcher, compact, parse_weighted
from tickets.places import Gazetteer
from tickets.taxonomy import Taxonomy

DEFAULT_CONFIG_DIR = Path(__file__).resolve().parent.parent / "config" / "tickets"
CONFIG_FILES = ("categories.yaml", "places.yaml", "rules.yaml")


class RulesError(TicketsError):
    """A dictionary file is missing or malformed."""

    def __init__(self, path: Path | str, message: str) -> None:
        super().__init__("tickets.rules_invalid", f"{path}: {message}", path=str(path))


@dataclass(frozen=True)
class Limits:
    max_chars: int = 8000
    title_max: int = 20
    summary_max: int = 200
    min_chinese_ratio: float = 0.3


@dataclass(frozen=True)
class AppealRules:
    matcher: PhraseMatcher
    order: tuple[str, ...]
    default_with_problem: str
    default_without_problem: str
    problem: PhraseMatcher
    min_score: float = 0.5
    no_problem_categories: frozenset[str] = frozenset()
    category_bias: Mapping[str, Mapping[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class UrgencyRules:
    default: str
    matcher: PhraseMatcher                                  # labels: 特急 / 紧急
    combos: tuple[tuple[str, PhraseMatcher, int], ...]      # (level, matcher labelled by group index, groups)


@dataclass(frozen=True)
class EmergencyRules:
    matcher: PhraseMatcher
    order: tuple[str, ...]
    # Per kind, the first-level categories a ticket of that emergency falls under; a guess
    # outside them is replaced by the first (a 119 house fire is not 环境保护 for its smoke).
    categories: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class NameRules:
    surname_cues: tuple[str, ...]
    full_cues: tuple[str, ...]
    call_me_cues: tuple[str, ...]
    titles: tuple[str, ...]
    anonymous: tuple[str, ...]
    stop_chars: frozenset[str]
    surnames: frozenset[str]
    compound_surnames: tuple[str, ...]


@dataclass(frozen=True)
class CallbackRules:
    cues: tuple[str, ...]
    area_code: str
    ignore_numbers: frozenset[str]


@dataclass(frozen=True)
class TextRules:
    fillers: frozenset[str]
    stutters: frozenset[str]
    greetings: tuple[str, ...]
    closings: tuple[str, ...]
    dangling: tuple[str, ...] = ()
    clause_starts: frozenset[str] = frozenset()
    binding: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Rules:
    config_dir: Path
    limits: Limits
    taxonomy: Taxonomy
    gazetteer: Gazetteer
    appeal: AppealRules
    urgency: UrgencyRules
    emergency: EmergencyRules
    names: NameRules
    callback: CallbackRules
    text: TextRules
    negation: re.Pattern[str]
    title_objects: tuple[str, ...]
    context: re.Pattern[str] = re.compile("(?!)")        # past / hypothetical / reported: cue does not count
    now: re.Pattern[str] = re.compile("(?!)")            # ... unless said to be happening now
    now_after: re.Pattern[str] = re.compile("(?!)")      # after the cue, only these say so (还在烧, not 现在墙是黑的)
    until_now: re.Pattern[str] = re.compile("(?!)")      # 到现在: "until now" is not a now-word
    needs_now: frozenset[str] = frozenset()
    needs_now_words: re.Pattern[str] = re.compile("(?!)")
    near_miss: re.Pattern[str] = re.compile("(?!)")      # 差点栽进去: the danger is there, nobody is hurt
    unharmed: re.Pattern[str] = re.compile("(?!)")       # 撞了车，好在人没事: said after a cue, nobody came to harm
    settled: re.Pattern[str] = re.compile("(?!)")        # a thank-you, a claim for damages: the danger told of is over
    homophones: re.Pattern[str] | None = None
    homophone_map: Mapping[str, str] = field(default_factory=dict)
    segmenter_words: tuple[str, ...] = field(repr=False, default=())

    def segment(self, text: str, hmm: bool = True) -> list[str]:
        """Words of `text` by jieba, with place names and keywords in its dictionary
        (`hmm=False`: dictionary words only, no guessing of unknown words; faster)."""
        return _segmenter(self.segmenter_words)(text, hmm)


# -- loading -------------------------------------------------------------------------------

def load_rules(config_dir: str | os.PathLike[str] | None = None) -> Rules:
    """The rules in `config_dir` (default config/tickets), cached until a file changes. The
    default folder's files are looked at again at most once a second (extraction asks for it
    once a draft); a folder named by the caller is looked at on every call."""
    now = time.monotonic()
    recent = _RECENT.get("") if config_dir is None else None
    if recent is not None and now - recent[0] < RECHECK_S:
        return recent[1]
    folder = Path(config_dir) if config_dir is not None else DEFAULT_CONFIG_DIR
    folder = folder.resolve()
    stamps = []
    for name in CONFIG_FILES:
        path = folder / name
        try:
            st = path.stat()
        except OSError as exc:
            raise RulesError(path, f"cannot read ({exc.strerror or exc})") from None
        stamps.append((st.st_mtime_ns, st.st_size))
    rules = _load_cached(folder, tuple(stamps))
    if config_dir is None:
        _RECENT[""] = (now, rules)
    return rules


RECHECK_S = 1.0
_RECENT: dict[str, tuple[float, Rules]] = {}


@lru_cache(maxsize=8)
def _load_cached(folder: Path, _stamps: tuple[tuple[int, int], ...]) -> Rules:
    docs = {name: _read_yaml(folder / name) for name in CONFIG_FILES}
    try:
        taxonomy = Taxonomy.from_config(docs["categories.yaml"])
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise RulesError(folder / "categories.yaml", str(exc)) from None
    try:
        gazetteer = Gazetteer.from_config(docs["places.yaml"])
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise RulesError(folder / "places.yaml", str(exc)) from None
    try:
        return _build(folder, docs["rules.yaml"], taxonomy, gazetteer)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise RulesError(folder / "rules.yaml", str(exc)) from None


def _read_yaml(path: Path) -> Mapping[str, Any]:
    try:
        with path.open(encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise RulesError(path, f"cannot read ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise RulesError(path, f"not valid YAML: {exc}") from None
    if not isinstance(data, Mapping):
        raise RulesError(path, "expected a mapping at the top level")
    return data


def _labelled(mapping: Mapping[str, Any] | None, allowed: Iterable[str], path: str) -> list[tuple[str, str, float]]:
    allowed = set(allowed)
    entries = []
    for label, items in (mapping or {}).items():
        label = str(label)
        if label not in allowed:
            raise ValueError(f"{path}.{label}: unknown (expected one of {', '.join(sorted(allowed))})")
        for item in items or ():
            phrase, weight = parse_weighted(item)
            entries.append((phrase, label, weight))
    return entries


def _words(items: Iterable[Any] | None) -> tuple[str, ...]:
    return tuple(compact(str(w)) for w in items or () if compact(str(w)))


def _build(folder: Path, doc: Mapping[str, Any], taxonomy: Taxonomy, gazetteer: Gazetteer) -> Rules:
    lim = doc.get("limits") or {}
    limits = Limits(
        max_chars=int(lim.get("max_chars", Limits.max_chars)),
        title_max=int(lim.get("title_max", Limits.title_max)),
        summary_max=int(lim.get("summary_max", Limits.summary_max)),
        min_chinese_ratio=float(lim.get("min_chinese_ratio", Limits.min_chinese_ratio)),
    )
    if limits.max_chars < 100:
        raise ValueError("limits.max_chars: at least 100")

    at = doc.get("appeal_types") or {}
    order = tuple(str(x) for x in at.get("order") or APPEAL_TYPES)
    appeal = AppealRules(
        matcher=PhraseMatcher(_labelled(at.get("cues"), APPEAL_TYPES, "appeal_types.cues")),
        order=order + tuple(t for t in APPEAL_TYPES if t not in order),
        default_with_problem=str(at.get("default_with_problem", "投诉")),
        default_without_problem=str(at.get("default_without_problem", "其他")),
        problem=PhraseMatcher((w, "problem", 1.0) for w in _words(at.get("problem_words"))),
        min_score=float(at.get("min_score", 0.5)),
        no_problem_categories=frozenset(str(c) for c in at.get("no_problem_categories") or ()),
        category_bias={str(c): {str(t): float(w) for t, w in (b or {}).items()}
                       for c, b in (at.get("category_bias") or {}).items()},
    )
    for cat, bias in appeal.category_bias.items():
        if cat not in taxonomy.level1 and cat not in taxonomy.parent_of:
            raise ValueError(f"appeal_types.category_bias.{cat}: not a category")
        for kind in bias:
            if kind not in APPEAL_TYPES:
                raise ValueError(f"appeal_types.category_bias.{cat}.{kind}: not an appeal type")
    for value in (appeal.default_with_problem, appeal.default_without_problem):
        if value not in APPEAL_TYPES:
            raise ValueError(f"appeal_types: default {value!r} is not an appeal type")

    ur = doc.get("urgency") or {}
    cues = {level: ur.get(level) for level in ("特急", "紧急") if ur.get(level)}
    combos = []
    for i, combo in enumerate(ur.get("combos") or ()):
        level = str(combo.get("level"))
        if level not in URGENCIES:
            raise ValueError(f"urgency.combos[{i}].level: {level!r} is not an urgency")
        groups = combo.get("all_of") or ()
        entries = [(w, str(g), 1.0) for g, group in enumerate(groups) for w in _words(group)]
        combos.append((level, PhraseMatcher(entries), len(groups)))
    urgency = UrgencyRules(
        default=str(ur.get("default", "一般")),
        matcher=PhraseMatcher(_labelled(cues, ("特急", "紧急"), "urgency"), ignore=_words(doc.get("not_urgent"))),
        combos=tuple(combos),
    )

    em = doc.get("emergency") or {}
    emergency = EmergencyRules(
        matcher=PhraseMatcher(_labelled({str(k): v for k, v in (em.get("cues") or {}).items()},
                                        EMERGENCIES, "emergency.cues"), ignore=_words(doc.get("not_urgent"))),
        order=tuple(str(x) for x in em.get("order") or EMERGENCIES),
        categories={str(k): _words(v) for k, v in (em.get("categories") or {}).items() if str(k) in EMERGENCIES and v},
    )

    cn = doc.get("caller_name") or {}
    names = NameRules(
        surname_cues=_words(cn.get("surname_cues")),
        full_cues=_words(cn.get("full_cues")),
        call_me_cues=_words(cn.get("call_me_cues")),
        titles=_words(cn.get("titles")),
        anonymous=_words(cn.get("anonymous")),
        stop_chars=frozenset(str(cn.get("stop_chars") or "")),
        surnames=frozenset(str(cn.get("surnames") or "")),
        compound_surnames=_words(cn.get("compound_surnames")),
    )
    if not names.surnames:
        raise ValueError("caller_name.surnames: empty")

    cb = doc.get("callback") or {}
    callback = CallbackRules(
        cues=_words(cb.get("cues")),
        area_code=str(cb.get("area_code", "0731")),
        ignore_numbers=frozenset(str(x) for x in cb.get("ignore_numbers") or ()),
    )

    tx = doc.get("text") or {}
    text = TextRules(
        fillers=frozenset(_words(tx.get("fillers"))),
        stutters=frozenset(_words(tx.get("stutters"))),
        greetings=tuple(sorted(_words(tx.get("greetings")), key=len, reverse=True)),
        closings=tuple(sorted(_words(tx.get("closings")), key=len, reverse=True)),
        dangling=tuple(sorted(_words(tx.get("dangling")), key=len, reverse=True)),
        clause_starts=frozenset(_words(tx.get("clause_starts"))),
        binding=frozenset(_words(tx.get("binding"))),
    )
    negations = _words(doc.get("negations"))
    negation = re.compile("|".join(map(re.escape, sorted(negations, key=len, reverse=True))) or "(?!)")
    title_objects = _words((doc.get("title") or {}).get("objects"))
    ctx = doc.get("context") or {}
    context = _alternation(_words([*(ctx.get("past") or ()), *(ctx.get("hypothetical") or ()),
                                   *(ctx.get("reported") or ())]))
    now = _alternation(_words(ctx.get("now")))
    now_after = _alternation(_words(ctx.get("now_after") if "now_after" in ctx else ctx.get("now")))
    until_now = _alternation(_words(ctx.get("until_now")))
    needs_now = frozenset(_words(ctx.get("needs_now")))
    needs_now_words = _alternation(_words(ctx.get("needs_now_words")))
    near_miss = _alternation(_words(ctx.get("near_miss")))
    unharmed = _alternation(_words(ctx.get("unharmed")))
    settled = _alternation(_words(ctx.get("settled")))
    homophone_map = {compact(str(k)): compact(str(v)) for k, v in (doc.get("homophones") or {}).items()}
    for k, v in homophone_map.items():
        if len(k) != len(v):
            raise ValueError(f"homophones.{k}: must be replaced by a word of the same length")
    homophones = re.compile("|".join(map(re.escape, sorted(homophone_map, key=len, reverse=True)))) if homophone_map else None

    segmenter_words = tuple(sorted(set(gazetteer.words) | set(taxonomy.words)))
    return Rules(
        config_dir=folder, limits=limits, taxonomy=taxonomy, gazetteer=gazetteer, appeal=appeal,
        urgency=urgency, emergency=emergency, names=names, callback=callback, text=text,
        negation=negation, title_objects=title_objects, segmenter_words=segmenter_words,
        context=context, now=now, now_after=now_after, until_now=until_now, needs_now=needs_now, needs_now_words=needs_now_words, near_miss=near_miss,
        unharmed=unharmed, settled=settled, homophones=homophones, homophone_map=homophone_map,
    )


def _alternation(words: Iterable[str]) -> re.Pattern[str]:
    return re.compile("|".join(map(re.escape, sorted(set(words), key=len, reverse=True))) or "(?!)")


# -- jieba, once per process ---------------------------------------------------------------

_SEGMENTER_LOCK = threading.Lock()


@lru_cache(maxsize=4)
def _segmenter(words: tuple[str, ...]) -> Callable[[str, bool], list[str]]:
    """A jieba tokenizer of its own (the global one is left alone), initialised quietly."""
    import jieba

    with _SEGMENTER_LOCK:
        tokenizer = jieba.Tokenizer()
        logger = jieba.default_logger
        level = logger.level
        logger.setLevel(logging.WARNING)        # jieba logs its dictionary loading to stderr
        try:
            tokenizer.initialize()
            for word in words:
                if len(word) >= 2:
                    tokenizer.add_word(word, freq=2000)
        finally:
            logger.setLevel(level)

    @lru_cache(maxsize=8192)
    def cached(text: str, hmm: bool) -> tuple[str, ...]:
        return tuple(tokenizer.lcut(text, HMM=hmm))

    def segment(text: str, hmm: bool = True) -> list[str]:
        # a live call re-extracts its draft after every sentence: its earlier turns come from the cache
        return list(cached(text, hmm)) if len(text) <= 2000 else list(tokenizer.lcut(text, HMM=hmm))

    return segment
