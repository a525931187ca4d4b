"""Transcript text -> draft ticket. Pure: no I/O beyond reading the dictionaries once.

    draft = extract("喂 你好 我 是 鹿松区 建宁 街道 ... 我 姓 刘 电话 是 幺 三 九 ...")
    draft.to_contract()  # the DESIGN.md draft-ticket JSON

Every field carries a confidence and the words it came from; a field that
cannot be filled is None with confidence 0 and a reason. Input of any size or
language gives a draft, never an exception: over-long text is cut (and the
draft says so), empty or non-Chinese text gives an empty draft with reasons.
The caller's own number (caller id) is not known here: use
`DraftTicket.with_default_callback` when none was said.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tickets.contacts import Found
from tickets.dialogue import find_callback, find_name
from tickets.model import DraftTicket
from tickets.normalize import NormalizedText, normalize, readable_numbers, script_profile
from tickets.phrases import Hit
from tickets.places import PlaceMention
from tickets.rules import Rules, load_rules
from tickets.taxonomy import CategoryGuess
from tickets.turns import CALLER, Dialogue, split_turns
from tickets.turns import render as render_turns

DEFAULT = object()

_NormTurn = tuple[str, str, frozenset[int]]          # (speaker, normalized text, its word boundaries)

NEGATION_WINDOW = 3
CONTEXT_WINDOW = 18
NOW_WINDOW = 6
UNHARMED_WINDOW = 16
URGENT_HELP = 0.6


@dataclass(frozen=True)
class _Pick:
    value: str | None
    confidence: float
    evidence: tuple[str, ...] = ()


def extract(transcript: str | bytes | Sequence[Mapping[str, Any]] | None, rules: Rules | None = None,
            model: Any = DEFAULT) -> DraftTicket:
    """A draft ticket from one transcript: vosk-style spaced words, plain text, text with
    speaker labels (话务员：… / 来电人：…) or the live call's structured turns.

    `model` is a learned classifier (tickets/learned.py) or None for rules only;
    `DEFAULT` (the default) loads the cached default model when one is available.
    """
    rules = rules if rules is not None else load_rules()
    transcript = _as_text(transcript)
    limit = rules.limits.max_chars
    reasons: list[str] = []
    kept = transcript[:limit]
    if len(transcript) > limit:
        reasons.append(f"transcript cut to its first {limit} of {len(transcript)} characters")
    if not kept.strip():
        return DraftTicket.empty("", reasons + ["empty transcript"])
    ratio, script = script_profile(kept)
    if ratio < rules.limits.min_chinese_ratio:
        return DraftTicket.empty(kept, reasons + [f"not Chinese (mostly {script}): nothing extracted"])

    dialogue, turns, text, boundaries, everything = prepare(kept, rules)
    if not text:
        return DraftTicket.empty(kept, reasons + ["only filler words: nothing extracted"])

    found_places: dict[str, list[PlaceMention]] = {}

    def places_in(t: str) -> list[PlaceMention]:
        if t not in found_places:
            found_places[t] = rules.gazetteer.find(t)
        return found_places[t]

    mentions = _weighted_places(everything, places_in(everything))
    place = rules.gazetteer.resolve(everything, mentions)
    category = rules.taxonomy.classify(text, boundaries)
    emergency = _emergency(text, rules)
    urgency = _urgency(text, rules)
    asked = sum(dialogue.caller_text.count(q) for q in "？?")
    appeal = _appeal(text, rules, category, emergency, urgency, asked)
    if dialogue.labelled or len(turns) > 1:
        name = find_name(turns, rules.names, places_in)
        callback = find_callback([(sp, t) for sp, t, _ in turns], rules.callback)
    else:
        name = find_name(turns, rules.names, lambda _t: places_in(text))
        callback = find_callback([(CALLER, text)], rules.callback)
    suggestions: dict[str, list[dict[str, Any]]] = {}
    learned = _model(model)
    if learned is not None:
        appeal, category, urgency, emergency, suggestions = learned.combine(
            text, boundaries, appeal, category, urgency, emergency)
    moved = _emergency_category(category, emergency, rules)
    if moved is not category:
        category = moved
        if "category" in suggestions:
            suggestions["category"] = [{"value": list(moved.category or ()), "confidence": round(moved.confidence, 2)}] + \
                [s for s in suggestions["category"] if s["value"][:1] != list(moved.category or ())[:1]][:2]
    summary = _summary(_canonical_places(text, mentions, same_text=not dialogue.labelled), rules, appeal.value,
                       (name, callback) if not dialogue.labelled else ())
    title = _title(text, rules, place.district, category, appeal.value)
    if place.district is None:
        reasons.append("district: no place in 株洲 named" if not mentions else "district: only places without a district named")
    if not category.matched and category.category:
        reasons.append("category: no category word heard, fallback used")
    for field_name, found in (("caller_name", name), ("callback_number", callback)):
        if found.value is None and found.reason:
            reasons.append(f"{field_name}: {found.reason}")

    confidence = {
        "appeal_type": appeal.confidence,
        "category": category.confidence,
        "district": place.district_confidence,
        "district_code": place.district_confidence,
        "address": place.address_confidence,
        "caller_name": name.confidence,
        "callback_number": callback.confidence,
        "urgency": urgency.confidence,
        "emergency": emergency.confidence,
        "title": round(min(appeal.confidence, category.confidence or 0.3) + 0.1, 2),
        "summary": 0.7,
    }
    evidence = {
        "appeal_type": appeal.evidence,
        "category": category.evidence,
        "district": place.district_evidence,
        "district_code": place.district_evidence,
        "address": place.address_evidence,
        "caller_name": name.evidence if name.value else (),
        "callback_number": callback.evidence if callback.value else (),
        "urgency": urgency.evidence,
        "emergency": emergency.evidence,
    }
    for field_name, pick in (("district", place.district), ("callback_number", callback.value),
                             ("caller_name", name.value)):
        if pick is not None and field_name not in suggestions:
            suggestions[field_name] = [{"value": pick, "confidence": round(confidence[field_name], 2)}]
    for field_name, chosen in (("appeal_type", appeal), ("urgency", urgency), ("emergency", emergency)):
        if field_name not in suggestions and chosen.value is not None:
            suggestions[field_name] = [{"value": chosen.value, "confidence": round(chosen.confidence, 2)}]
    if "category" not in suggestions and category.category:
        suggestions["category"] = [{"value": list(category.category), "confidence": round(category.confidence, 2)}]
    alert = None
    if emergency.value:
        alert = {"emergency": emergency.value, "cues": list(emergency.evidence)[:3],
                 "confidence": round(emergency.confidence, 2)}
    return DraftTicket(
        appeal_type=appeal.value,
        category=category.category,
        district=place.district,
        district_code=place.district_code,
        address=place.address,
        caller_name=name.value,
        callback_number=callback.value,
        urgency=urgency.value,
        emergency=emergency.value,
        title=title,
        summary=summary,
        transcript=kept,
        confidence=confidence,
        evidence=evidence,
        reasons=tuple(reasons),
        suggestions={k: tuple(v) for k, v in suggestions.items()},
        alert=alert,
    )


def _as_text(transcript: object) -> str:
    if isinstance(transcript, (bytes, bytearray)):
        return bytes(transcript).decode("utf-8", errors="replace")
    if transcript is None:
        return ""
    if isinstance(transcript, (list, tuple)):
        return render_turns(transcript)
    return transcript if isinstance(transcript, str) else str(transcript)


def prepare(kept: str, rules: Rules) -> tuple[Dialogue, list[_NormTurn], str, frozenset[int], str]:
    """(dialogue, normalized turns, caller text, its word boundaries, all speakers' text)."""
    dialogue = split_turns(kept)
    limit = rules.limits.max_chars
    turns: list[_NormTurn] = []
    for turn in dialogue.turns:
        tn = normalize(turn.text, limit, rules.text.fillers, rules.segment, rules.text.stutters)
        if tn.text:
            turns.append((turn.speaker, _homophones(tn.text, rules), _boundaries(tn, rules)))
    said = [t for t in turns if t[0] == CALLER] or ([] if dialogue.labelled else turns)
    text, boundaries = _concat(said)
    everything = _concat(turns)[0] if dialogue.labelled else text
    return dialogue, turns, text, boundaries, everything


def _concat(turns: list[_NormTurn]) -> tuple[str, frozenset[int]]:
    """Normalized turns joined into one text, word boundaries shifted along."""
    if len(turns) == 1:
        return turns[0][1], turns[0][2]
    parts: list[str] = []
    bounds: set[int] = set()
    pos = 0
    for _, t, b in turns:
        parts.append(t)
        bounds.update(pos + x for x in b)
        pos += len(t)
    return "".join(parts), frozenset(bounds)


def _boundaries(norm: NormalizedText, rules: Rules) -> frozenset[int]:
    """Word boundaries: the recogniser's, plus jieba's (which knows the place names)."""
    if not norm.spaced:
        return norm.boundaries                  # already jieba's
    offsets, pos = set(norm.boundaries), 0
    for word in rules.segment(norm.text):
        offsets.add(pos)
        pos += len(word)
    offsets.add(pos)
    return frozenset(offsets)


def _live(hits: list[Hit], text: str, rules: Rules) -> list[Hit]:
    """Hits said as happening now: not right after a negation (没有着火, 不是打架), not in a
    past, hypothetical or reported context (上次着火, 万一着火, 新闻里说着火)."""
    out = []
    for h in hits:
        if _negated(text, h, rules):
            continue
        before = text[max(0, h.start - CONTEXT_WINDOW):h.end]
        if rules.context.search(before) and not _said_now(text, h, rules):
            continue
        if h.text in rules.needs_now and not rules.needs_now_words.search(text[max(0, h.start - 16):h.end + 8]):
            continue
        if rules.unharmed.search(text[h.end:h.end + UNHARMED_WINDOW]):
            continue
        out.append(h)
    return out


def _said_now(text: str, h: Hit, rules: Rules) -> bool:
    """A now-word next to the cue (现在, 刚刚 ...), not one that means "until now" (到现在).
    After the cue only the words that say it goes on count: 着火了现在还在烧 is now, but
    前两天着火了现在墙都是黑的 tells of the aftermath of a fire that is over."""
    before = rules.until_now.sub("", text[max(0, h.start - NOW_WINDOW):h.end])
    after = rules.until_now.sub("", text[h.start:h.end + NOW_WINDOW])
    return bool(rules.now.search(before)) or bool(rules.now_after.search(after))


# A negation followed by one of these is a verb's complement (出不来, 起不来, 坐不住), not a
# negation of the cue after it: 司机卡在里面出不来满脸是血 is bleeding.
COMPLEMENTS = frozenset("来去起动开出到住下上进回过")


def _negated(text: str, h: Hit, rules: Rules) -> bool:
    start = max(0, h.start - NEGATION_WINDOW)
    for m in rules.negation.finditer(text, start, h.start):
        nxt = m.end()
        if nxt < h.start and text[nxt] in COMPLEMENTS and m.group(0) in ("不", "没"):
            continue
        return True
    return False


def _homophones(text: str, rules: Rules) -> str:
    """Same-sounding misrecognitions written as meant (投素 -> 投诉); same length, offsets stay."""
    if rules.homophones is None:
        return text
    return rules.homophones.sub(lambda m: rules.homophone_map[m.group(0)], text)


RESIDENCE_FACTOR = 0.35


def _weighted_places(text: str, mentions: list[PlaceMention]) -> list[PlaceMention]:
    """Where the caller lives, works or was going counts less than where the problem is."""
    out = []
    for m in mentions:
        before = text[max(0, m.start - 6):m.start]
        after = text[m.end:m.end + 8]
        side = any(w in before for w in RESIDENCE_BEFORE) or any(after.startswith(w) or w in after for w in RESIDENCE_AFTER)
        out.append(dataclasses.replace(m, weight=m.weight * RESIDENCE_FACTOR) if side else m)
    return out


RESIDENCE_BEFORE = ("我住在", "我家住", "我家在", "我住", "家住", "我老家", "老家在", "老家是", "户口在", "我要去", "要去",
                    "去往", "开往", "准备去", "出差到", "路过")
RESIDENCE_AFTER = ("上班", "工作的", "打工", "出差", "上学", "读书", "旅游", "的路上", "那边上班", "住的", "人在外地")


def _model(model: Any) -> Any:
    if model is DEFAULT:
        from tickets.learned import default_model
        return default_model()
    return model


def _scores(hits: list[Hit]) -> tuple[dict[str, float], dict[str, list[str]]]:
    scores: dict[str, float] = {}
    words: dict[str, list[str]] = {}
    for hit in hits:
        for label, weight in hit.labels:
            scores[label] = scores.get(label, 0.0) + weight
            words.setdefault(label, []).append(hit.text)
    return scores, words


def _emergency(text: str, rules: Rules) -> _Pick:
    hits = [h for h in _live(rules.emergency.matcher.find(text), text, rules)
            if not rules.near_miss.search(text[max(0, h.start - NEGATION_WINDOW):h.start])]
    if hits and rules.settled.search(text):
        # a thank-you or a claim for damages tells of a danger that is over, unless said to be on now
        hits = [h for h in hits if _said_now(text, h, rules)]
    scores, words = _scores(hits)
    if not scores:
        return _Pick(None, 0.0)
    order = rules.emergency.order
    best = max(scores, key=lambda k: (scores[k], -order.index(k) if k in order else -99))
    confidence = min(0.9, 0.5 + 0.15 * len(words[best]))
    return _Pick(best, confidence, tuple(dict.fromkeys(words[best])))


def _emergency_category(category: CategoryGuess, emergency: _Pick, rules: Rules) -> CategoryGuess:
    """An emergency's ticket falls under the categories of its kind: a house fire told by its
    smoke is not air pollution, a swallowed battery not a public-order case."""
    allowed = rules.emergency.categories.get(emergency.value or "")
    if not allowed or (category.category and category.category[0] in allowed):
        return category
    return CategoryGuess((allowed[0],), max(0.5, emergency.confidence), ("emergency",), True)


def _urgency(text: str, rules: Rules) -> _Pick:
    ur = rules.urgency
    hits = _live(ur.matcher.find(text), text, rules)
    if rules.settled.search(text):
        # as for emergencies: a thank-you tells of a danger that is over unless said to be on now
        hits = [h for h in hits if "特急" not in {label for label, _ in h.labels} or _said_now(text, h, rules)]
    scores, words = _scores(hits)
    if "特急" in scores:
        return _Pick("特急", min(0.9, 0.6 + 0.1 * len(words["特急"])), tuple(dict.fromkeys(words["特急"])))
    for level, matcher, groups in ur.combos:
        hits = matcher.find(text)
        heard = {label for h in hits for label, _ in h.labels}
        if len(heard) == groups and groups:
            if level == "特急" or "紧急" not in scores:
                return _Pick(level, 0.7, tuple(dict.fromkeys(h.text for h in hits)))
    if "紧急" in scores:
        return _Pick("紧急", min(0.85, 0.55 + 0.1 * len(words["紧急"])), tuple(dict.fromkeys(words["紧急"])))
    return _Pick(ur.default, 0.6)


def _appeal(text: str, rules: Rules, category: CategoryGuess, emergency: _Pick, urgency: _Pick,
            asked: int = 0) -> _Pick:
    ar = rules.appeal
    scores, words = _scores(ar.matcher.find(text))
    if asked:                                   # typed text: the caller's question marks
        scores["咨询"] = scores.get("咨询", 0.0) + min(asked, 2) * 0.8
        words.setdefault("咨询", []).append("？")
    if emergency.value:
        scores["求助"] = scores.get("求助", 0.0) + 1.5
        words.setdefault("求助", []).extend(emergency.evidence[:1])
    elif urgency.value == "特急":
        scores["求助"] = scores.get("求助", 0.0) + 1.0
        words.setdefault("求助", []).extend(urgency.evidence[:1])
    elif urgency.value == "紧急" and urgency.evidence:
        # a whole building without water for days, an open manhole: the caller needs it fixed now
        scores["求助"] = scores.get("求助", 0.0) + URGENT_HELP
        words.setdefault("求助", []).extend(urgency.evidence[:1])
    if category.matched and category.category:
        for kind, weight in ar.category_bias.get(category.category[-1], {}).items():
            scores[kind] = scores.get(kind, 0.0) + weight
            words.setdefault(kind, []).append(category.category[-1])
    scores = {k: v for k, v in scores.items() if v > 0}
    if sum(scores.values()) < ar.min_score:
        specific = category.matched and category.category and category.category[0] not in ar.no_problem_categories
        problem = bool(specific) or bool(ar.problem.find(text))
        value = ar.default_with_problem if problem else ar.default_without_problem
        return _Pick(value, 0.35)
    best = max(scores, key=lambda k: (scores[k], -ar.order.index(k)))
    share = scores[best] / sum(scores.values())
    confidence = min(0.95, 0.3 + 0.5 * share + 0.1 * min(scores[best], 2.0))
    return _Pick(best, confidence, tuple(dict.fromkeys(words.get(best, ()))))


def _canonical_places(text: str, mentions: list[PlaceMention], same_text: bool = True) -> str:
    """Place names heard by pinyin only, written as they are spelled (鹿松区 -> 芦淞区).

    Same length replacements only, so offsets into the text stay valid. `mentions` may come
    from another text (all speakers'): then the words heard are replaced where they occur.
    """
    for m in mentions:
        if m.by_pinyin and len(m.place.name) == m.end - m.start:
            if same_text:
                text = text[:m.start] + m.place.name + text[m.end:]
            else:
                text = text.replace(m.heard, m.place.name)
    return text


def _summary(text: str, rules: Rules, appeal: str | None, leave_out: tuple[Found, ...]) -> str | None:
    """The transcript cleaned up: no greetings, fillers, name or number introductions."""
    spans = sorted(f.span for f in leave_out if f.span and f.value)
    parts, pos = [], 0
    for start, end in spans:
        if start >= pos:
            parts.append(text[pos:start])
            pos = end
    parts.append(text[pos:])
    core = "".join(p if not p or not parts or i == len(parts) - 1 else _strip_tail(p, rules.text.dangling)
                   for i, p in enumerate(parts))
    core = _strip_edges(core, rules.text.greetings, rules.text.closings)
    if not core:
        return None
    core = _clauses(readable_numbers(core), rules)
    lead = f"来电{appeal}：" if appeal and appeal != "其他" else "来电反映："
    room = rules.limits.summary_max - len(lead) - 1
    if len(core) > room:
        core = core[: room - 1] + "…"
    return f"{lead}{core}。"


def _strip_tail(part: str, dangling: tuple[str, ...]) -> str:
    stripped = True
    while stripped and part:
        stripped = False
        for word in dangling:
            if part.endswith(word):
                part, stripped = part[: -len(word)], True
    return part


def _clauses(core: str, rules: Rules) -> str:
    """Commas where a new clause starts (the recogniser gives no punctuation): before a
    clause-start word at least 6 characters after the last comma, not right after a word
    that needs what follows (太, 找, 把 ...). A scan, no segmentation: summaries are cheap."""
    starts = _clause_regex(rules.text.clause_starts)
    if starts is None:
        return core
    out: list[str] = []
    last = pos = 0
    binding = rules.text.binding
    for m in starts.finditer(core):
        p = m.start()
        if p - last >= 6 and not any(core.endswith(b, 0, p) for b in binding) and p > 0:
            out.append(core[pos:p])
            out.append("，")
            pos = last = p
    out.append(core[pos:])
    return "".join(out)


_CLAUSE_CACHE: dict[frozenset[str], re.Pattern[str] | None] = {}


def _clause_regex(words: frozenset[str]) -> re.Pattern[str] | None:
    if words not in _CLAUSE_CACHE:
        _CLAUSE_CACHE[words] = re.compile("|".join(map(re.escape, sorted(words, key=len, reverse=True)))) if words else None
    return _CLAUSE_CACHE[words]


def _strip_edges(core: str, greetings: tuple[str, ...], closings: tuple[str, ...]) -> str:
    changed = True
    while changed and core:
        changed = False
        for g in greetings:
            if core.startswith(g):
                core, changed = core[len(g):], True
        for c in closings:
            if core.endswith(c):
                core, changed = core[: -len(c)], True
    return core


def _title(
    text: str, rules: Rules, district: str | None, category: CategoryGuess, appeal: str | None,
) -> str | None:
    if not category.category and not appeal:
        return None
    first = None
    for obj in rules.title_objects:
        pos = text.find(obj)
        if pos >= 0 and (first is None or pos < first[0]):
            first = (pos, obj)
    obj = f"某{first[1]}" if first else ""
    if category.matched and category.category:
        topic = category.category[-1]
        suffix = appeal if appeal and appeal != "其他" and not topic.endswith(appeal) else ""
    else:
        topic, suffix = "来电", (appeal if appeal and appeal != "其他" else "")
    limit = rules.limits.title_max
    for parts in ((district or "", obj, topic, suffix), (district or "", topic, suffix), ("", topic, suffix)):
        title = "".join(parts)
        if len(title) <= limit:
            return title
    return title[:limit]
