"""The knowledge base (知识库), pure: articles checked, text turned into search terms, the
candidates a search returns ranked, the passage to show highlighted. No I/O; the SQL is in
records/knowledge.py, the routes in web/routes_knowledge.py.

Search terms, two kinds, both kept in PostgreSQL full text (tsvector, no parser involved):
- words: jieba's search-mode segmentation (`cut_for_search`: 医疗保险 gives 医疗, 保险 and
  医疗保险), NFKC, lower case, stop words and one-character words dropped;
- sounds: toneless pinyin of each pair of neighbouring Chinese characters, accent-tolerant
  (zh/z, ch/c, sh/s, n/l, -ng/-n as config/tickets/places.yaml): a recogniser that writes
  社宝 for 社保 or 公积经 for 公积金 still hits, even where jieba cannot find the wrong word.

    terms = query_terms("我想问一下社宝卡怎么补办")
    # terms.words ('补办', ...), terms.sounds ('sebao', 'baoka', ...)
    ranked = rank(candidates, terms, top=3)         # candidates: rows with text and sound ranks
    highlight(article_answer, terms)                # [{"text": ..., "hit": bool}, ...]
"""
from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from tickets.model import TicketsError
from tickets.places import PinyinFuzz, char_syllables

FIELDS = ("question", "answer", "category", "department", "valid_from", "valid_until", "source", "keywords")
EXPORT_FIELDS = ("id", *FIELDS)
LIMITS = {"question": 300, "answer": 8000, "category": 60, "department": 100, "source": 300}
MAX_KEYWORDS, KEYWORD_LEN = 30, 40
MAX_QUERY_CHARS = 240            # the recent end of the transcript is what the caller is asking about
SHORT_SENTENCE = 12              # a last sentence shorter than this is read with the one before
RECENT_CHARS = 40                # and its last sentence or two most of all (weighted up in the search and rank)
MAX_WORDS, MAX_SOUNDS = 40, 120
RESOLUTION = "直接办结"           # a ticket answered on the call from an article
SOUND_WEIGHT = 0.6               # a sound hit counts less than the same word spelled right
RECENT_WEIGHT = 2.0              # ... and of its last sentence or two
COVERAGE_WEIGHT = 1.0            # the share of the query an article's question holds, against the database's rank

STOP_WORDS = frozenset("""
我 你 他 她 它 我们 你们 他们 的 了 吗 呢 吧 啊 呀 嗯 哦 哎 是 在 有 和 就 都 也 还 又 这 那 这个 那个 这样 那样
一下 一个 请问 问 问问 想 想问 我想 要 我要 知道 怎么 怎么样 什么 为什么 哪里 哪个 可以 能 能不能 需要 就是 然后 现在
您好 你好 谢谢 喂 好的 好 对 对的 不是 没有 没 会 去 来 说 给 让 把 被 从 到 对于 关于 一些 有点 还是 或者 如果
热线 一下子 那么 这么 麻烦 帮 帮我 帮忙 请 您 咨询 反映 情况 问题 事情 这边 那边 时候
""".split())
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")
_WORD = re.compile(r"^\w+$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
FUZZ = PinyinFuzz(syllables={"liu": "lu", "niu": "lu"}, initials={"zh": "z", "ch": "c", "sh": "s", "n": "l"},
                  finals={"ing": "in", "eng": "en", "ang": "an", "uang": "uan"})

Segment = Callable[[str], Iterable[str]]


class KnowledgeError(TicketsError):
    """An article or an import refused; `details["problems"]` lists {"field"|"line", "message"}."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        text = "; ".join(f"{p.get('line', p.get('field'))}: {p['message']}" for p in problems[:5])
        super().__init__("knowledge.invalid", text, problems=problems)


# -- articles ---------------------------------------------------------------------------------
def _day(value: Any, name: str, bad: Callable[[str, str], None]) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        bad(name, "must be a date YYYY-MM-DD")
        return None


def check_article(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The article's fields, cleaned and checked (raises KnowledgeError with every problem)."""
    problems: list[dict[str, Any]] = []

    def bad(field: str, message: str) -> None:
        problems.append({"field": field, "message": message})

    for name in sorted(set(doc) - set(EXPORT_FIELDS)):
        bad(str(name), "unknown field")
    out: dict[str, Any] = {}
    for name, limit in LIMITS.items():
        value = doc.get(name)
        if value is not None and not isinstance(value, str):
            bad(name, "must be text")
            value = None
        value = _CONTROL.sub("", value).strip() if value else None     # as written (NFKC only for the terms)
        if value and len(value) > limit:
            bad(name, f"at most {limit} characters")
        out[name] = value or None
    for name in ("question", "answer"):
        if not out[name]:
            bad(name, "required")
    out["valid_from"] = _day(doc.get("valid_from"), "valid_from", bad)
    out["valid_until"] = _day(doc.get("valid_until"), "valid_until", bad)
    if out["valid_from"] and out["valid_until"] and out["valid_until"] < out["valid_from"]:
        bad("valid_until", "before valid_from")
    keywords = doc.get("keywords") or []
    if isinstance(keywords, str):
        keywords = re.split(r"[,，;；、\s]+", keywords)
    if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
        bad("keywords", "must be a list of words")
        keywords = []
    kept: list[str] = []
    for k in (_CONTROL.sub("", k).strip() for k in keywords):
        if k and k not in kept:
            kept.append(k)
    if len(kept) > MAX_KEYWORDS or any(len(k) > KEYWORD_LEN for k in kept):
        bad("keywords", f"at most {MAX_KEYWORDS} keywords of {KEYWORD_LEN} characters")
    out["keywords"] = kept
    if problems:
        raise KnowledgeError(problems)
    return out


def current(article: Mapping[str, Any], today: date) -> bool:
    """In force today: never suggest an article before its start or after its end."""
    start, end = article.get("valid_from"), article.get("valid_until")
    return (start is None or start <= today) and (end is None or end >= today)


# -- terms ------------------------------------------------------------------------------------
def _default_segment(text: str) -> Iterable[str]:
    import jieba

    words: Iterable[str] = jieba.cut_for_search(text, HMM=True)
    return words


def words_of(text: str, segment: Segment | None = None) -> list[str]:
    """Search words of `text`, in order, each once."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    out: dict[str, None] = {}
    for w in (segment or _default_segment)(text):
        w = w.strip()
        if len(w) < 2 or w in STOP_WORDS or not _WORD.match(w) or w.isdigit() and len(w) < 3:
            continue
        out.setdefault(w, None)
    return list(out)


def syllable(ch: str) -> str:
    readings = char_syllables(ch)
    return FUZZ.key(readings[0]) if readings else ""


def sounds_of(text: str) -> list[str]:
    """Accent-tolerant pinyin of every two neighbouring Chinese characters, each once."""
    out: dict[str, None] = {}
    for run in _CJK_RUN.findall(unicodedata.normalize("NFKC", text or "")):
        keys = [syllable(ch) for ch in run]
        for a, b in zip(keys, keys[1:]):
            if a and b and len(a) + len(b) >= 3:          # not 嗯嗯 (n n)
                out.setdefault(a + b, None)
    return list(out)


@dataclass(frozen=True)
class Terms:
    words: tuple[str, ...]
    sounds: tuple[str, ...]
    text: str                       # the text they came from (the recent end of a transcript)
    recent_words: tuple[str, ...] = ()      # those of the last RECENT_CHARS: what the caller asks now
    recent_sounds: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.words and not self.sounds


def query_terms(transcript: str, segment: Segment | None = None, max_chars: int = MAX_QUERY_CHARS) -> Terms:
    """The terms of what the caller is saying now: the last `max_chars` characters."""
    text = _CONTROL.sub(" ", unicodedata.normalize("NFKC", transcript or "")).strip()[-max_chars:]
    words = words_of(text, segment)[-MAX_WORDS:]
    sounds = [s for s in sounds_of(text) if s not in _STOP_SOUNDS][-MAX_SOUNDS:]
    recent = last_sentences(text)
    return Terms(tuple(words), tuple(sounds), text, tuple(words_of(recent, segment)),
                 tuple(s for s in sounds_of(recent) if s not in _STOP_SOUNDS))


def last_sentences(text: str, limit: int = RECENT_CHARS) -> str:
    """The last sentence (turns: a recogniser's finals come without punctuation, the console joins them
    with spaces), and, while that is short (要怎么办呢), those before it, up to `limit` characters."""
    parts = [p for p in _SENTENCE_END.split(text) if p.strip()]
    out = ""
    for p in reversed(parts):
        if out and (len(out) >= SHORT_SENTENCE or len(out) + len(p) > limit):
            break
        out = p + " " + out
    return out.strip()


_SENTENCE_END = re.compile(r"[。！？!?；;\s]+")
_STOP_SOUNDS = frozenset(sounds_of("".join(w for w in STOP_WORDS if len(w) >= 2)) +
                         sounds_of("我想问一下你好您好请问就是那个这个怎么办谢谢好的嗯嗯啊啊对对"))


def index_terms(article: Mapping[str, Any], segment: Segment | None = None) -> dict[str, list[str]]:
    """What an article is found by: `head` words (question, keywords: weight A), `body` words
    (answer, category, department: weight B) and `sounds` (question and keywords)."""
    head_text = " ".join([article.get("question") or "", *(article.get("keywords") or [])])
    body_text = " ".join(article.get(n) or "" for n in ("answer", "category", "department"))
    head = words_of(head_text, segment) + [k.lower() for k in article.get("keywords") or [] if _WORD.match(k)]
    head = list(dict.fromkeys(head))
    body = [w for w in words_of(body_text, segment) if w not in head]
    return {"head": head, "body": body, "sounds": sounds_of(head_text)}


def tsquery(terms: Sequence[str]) -> str | None:
    """`'a' | 'b'` for PostgreSQL (the lexemes as they are: only word characters are kept)."""
    safe = [t for t in terms if _WORD.match(t)]
    return " | ".join(f"'{t}'" for t in safe) or None


def selective(terms: Sequence[str], freq: Mapping[str, int], articles: int, share: float = 0.05,
              floor: int = 50, keep: int = 3) -> tuple[str, ...]:
    """The terms that pick out few articles (in at most `share` of them, or `floor`), for the database's
    filter: a term in every article (a district, 办理) would make it rank them all. Ranking still uses
    every term. None selective: the `keep` rarest. A term no article has is left out (it finds nothing)."""
    limit = max(floor, int(share * articles))
    known = [t for t in dict.fromkeys(terms) if freq.get(t, 0) > 0]
    rare = tuple(t for t in known if freq[t] <= limit)
    return rare or tuple(sorted(known, key=lambda t: freq[t])[:keep])


# -- ranking ----------------------------------------------------------------------------------
def score(row: Mapping[str, Any], terms: Terms) -> float:
    """A candidate's score: the database's text rank plus its sound rank (weighted down), plus how
    much of the query the question and keywords hold - words and sound pairs, the later ones (what
    the caller says now) counting up to twice the earlier ones."""
    head = (row.get("question") or "") + " " + " ".join(row.get("keywords") or [])
    heard = set(sounds_of(head))
    return (float(row.get("word_rank") or 0.0) + SOUND_WEIGHT * float(row.get("sound_rank") or 0.0)
            + float(row.get("recent_rank") or 0.0)
            + COVERAGE_WEIGHT * _coverage(terms.words, lambda w: w in head)
            + COVERAGE_WEIGHT * SOUND_WEIGHT * _coverage(terms.sounds, heard.__contains__)
            + RECENT_WEIGHT * _coverage(terms.recent_words, lambda w: w in head)
            + RECENT_WEIGHT * SOUND_WEIGHT * _coverage(terms.recent_sounds, heard.__contains__))


def _coverage(items: Sequence[str], has: Callable[[str], bool]) -> float:
    if not items:
        return 0.0
    n = len(items)
    weights = [1.0 + i / max(1, n - 1) for i in range(n)]
    return sum(w for w, item in zip(weights, items) if has(item)) / sum(weights)


def rank(rows: Iterable[Mapping[str, Any]], terms: Terms, today: date, top: int = 3) -> list[dict[str, Any]]:
    """The best `top` current articles, best first (ties: the lower id, the older article)."""
    scored = [(score(r, terms), r) for r in rows if current(r, today)]
    scored.sort(key=lambda sr: (-sr[0], sr[1].get("id") or 0))
    out = []
    for s, r in scored[:top]:
        out.append({**r, "score": round(s, 4), "passage": passage(r, terms)})
    return out


# -- highlighting -----------------------------------------------------------------------------
def hits(text: str, terms: Terms) -> list[tuple[int, int]]:
    """The spans of `text` matching a query word, or sounding like a query sound pair, merged."""
    spans: list[tuple[int, int]] = []
    low = unicodedata.normalize("NFKC", text).lower()
    if len(low) != len(text):
        low = text.lower()
    for w in sorted(set(terms.words), key=len, reverse=True):
        start = low.find(w)
        while start >= 0:
            spans.append((start, start + len(w)))
            start = low.find(w, start + len(w))
    sounds = set(terms.sounds)
    if sounds:
        keys = [syllable(ch) if _CJK.match(ch) else "" for ch in text]
        for i in range(len(text) - 1):
            if keys[i] and keys[i + 1] and keys[i] + keys[i + 1] in sounds:
                spans.append((i, i + 2))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def highlight(text: str, terms: Terms, width: int = 120) -> list[dict[str, Any]]:
    """The `width` characters of `text` with the most matched characters, as segments
    [{"text", "hit"}] (the page shows them with textContent; "…" marks a cut)."""
    spans = hits(text, terms)
    start = 0
    if len(text) > width and spans:
        best = -1
        for a, _ in spans:
            lo = max(0, min(a - width // 4, len(text) - width))
            covered = sum(max(0, min(b, lo + width) - max(x, lo)) for x, b in spans)
            if covered > best:
                best, start = covered, lo
    end = min(len(text), start + width)
    out: list[dict[str, Any]] = []
    if start > 0:
        out.append({"text": "…", "hit": False})
    pos = start
    for a, b in spans:
        a, b = max(a, start), min(b, end)
        if a >= b:
            continue
        if a > pos:
            out.append({"text": text[pos:a], "hit": False})
        out.append({"text": text[a:b], "hit": True})
        pos = b
    if pos < end:
        out.append({"text": text[pos:end], "hit": False})
    if end < len(text):
        out.append({"text": "…", "hit": False})
    return out


def passage(row: Mapping[str, Any], terms: Terms) -> dict[str, Any]:
    """The question and the best passage of the answer, highlighted."""
    return {"question": highlight(row.get("question") or "", terms, width=300),
            "answer": highlight(row.get("answer") or "", terms)}


# -- import / export --------------------------------------------------------------------------
def _row_out(a: Mapping[str, Any]) -> dict[str, Any]:
    out = {name: a.get(name) for name in EXPORT_FIELDS}
    for name in ("valid_from", "valid_until"):
        value = out[name]
        if isinstance(value, date):
            out[name] = value.isoformat()
    out["keywords"] = list(out["keywords"] or [])
    return out


def export_json(articles: Iterable[Mapping[str, Any]]) -> str:
    return json.dumps([_row_out(a) for a in articles], ensure_ascii=False, indent=1)


def export_csv(articles: Iterable[Mapping[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(EXPORT_FIELDS)
    for a in articles:
        row = _row_out(a)
        w.writerow(["" if row[n] is None else ("、".join(row[n]) if n == "keywords" else row[n])
                    for n in EXPORT_FIELDS])
    return buf.getvalue()


def parse_import(text: str, fmt: str) -> list[dict[str, Any]]:
    """Articles from a JSON list or a CSV with a header row (the export's columns; `id` to update
    an existing article). Every row is checked; any problem refuses the whole import."""
    raw: list[Any]
    problems: list[dict[str, Any]] = []
    if fmt == "json":
        try:
            loaded = json.loads(text)
        except ValueError as exc:
            raise KnowledgeError([{"line": 1, "message": f"not JSON: {exc}"}]) from None
        raw = loaded if isinstance(loaded, list) else [loaded]
        first = 1
    elif fmt == "csv":
        try:
            reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
            unknown = [f for f in reader.fieldnames or [] if f not in EXPORT_FIELDS]
            if unknown:
                raise KnowledgeError([{"line": 1, "message": f"unknown column(s): {', '.join(unknown)}"}])
            raw = [{k: v for k, v in r.items() if k is not None and v not in (None, "")} for r in reader]
        except csv.Error as exc:
            raise KnowledgeError([{"line": reader.line_num, "message": f"not CSV: {exc}"}]) from None
        first = 2
    else:
        raise KnowledgeError([{"line": 0, "message": "format: json or csv"}])
    out = []
    for i, item in enumerate(raw):
        line = first + i
        if not isinstance(item, dict):
            problems.append({"line": line, "message": "not an object"})
            continue
        ident = item.get("id")
        fields = {k: v for k, v in item.items() if k != "id"}
        try:
            article = check_article(fields)
        except KnowledgeError as exc:
            problems.extend({"line": line, "field": p["field"], "message": p["message"]}
                            for p in exc.details["problems"])
            continue
        if ident not in (None, ""):
            try:
                article["id"] = int(ident)
                if not 0 < article["id"] < 2 ** 63:
                    raise ValueError(ident)
            except (TypeError, ValueError, OverflowError):
                problems.append({"line": line, "field": "id", "message": "must be a positive whole number"})
        out.append(article)
    if problems:
        raise KnowledgeError(problems)
    return out
